/**
 * The life cycle the informer and the leader elector share: one background loop, started once,
 * stopped for good. And the wait inside such a loop, cut short by stop().
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeError } from './errors.ts';

export class StoppableLoop {
  readonly #what: string;
  readonly #run: (signal: AbortSignal) => Promise<void>;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;

  /** `what` names the owner in the error start() throws after stop(): `leader elector`. */
  constructor(what: string, run: (signal: AbortSignal) => Promise<void>) {
    this.#what = what;
    this.#run = run;
  }

  /** Starts the loop; idempotent. Throws STOPPED after stop(): a loop cannot be restarted. */
  start(): void {
    if (this.#stopped) throw new KubeError('CPB_ERR_KUBE_STOPPED', `${this.#what} was stopped`);
    if (this.#loop !== undefined) return;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
  }

  /** Aborts the loop's signal at once (before returning) and resolves once the loop has exited. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    return this.#loop ?? Promise.resolve();
  }
}

/** Waits, resolving early (never rejecting) when the signal aborts. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted.
  }
}
