// Polling with a deadline: how every "wait until ready" in the control plane is written.
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown from a poll attempt when waiting longer cannot help; it ends the poll at once. */
export class PermanentError extends Error {}

export interface PollOptions {
  /** What is awaited, for the timeout message ("kube-apiserver /readyz"). */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

/**
 * Calls `attempt` until it returns something other than undefined. Errors from `attempt` count as
 * "not yet" (connection refused while a server starts is normal) and the last one is reported on
 * timeout; a PermanentError (e.g. "the process died") ends the wait at once.
 */
export async function pollUntil<T>(options: PollOptions, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastProblem = 'no attempt finished';
  for (;;) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
      lastProblem = 'condition not met';
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      lastProblem = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}: ${lastProblem}`);
    }
    await sleep(options.intervalMs);
  }
}
