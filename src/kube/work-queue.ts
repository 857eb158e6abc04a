/**
 * A controller work queue of string keys (`namespace/name`), with client-go's semantics:
 *
 * - `dirty`: keys waiting to be processed. Adding a dirty key again does nothing, so a burst of
 *   events collapses into one reconcile.
 * - `processing`: keys handed out by get() and not yet done(). A key added while processing is only
 *   marked dirty and goes back on the queue at done(), so one key is never reconciled twice at once,
 *   and the change that arrived mid-reconcile is not lost.
 * - delayed adds keep the earliest deadline per key; rate-limited adds wait max(per-key exponential
 *   backoff, global token bucket), like client-go's DefaultControllerRateLimiter.
 *
 * After shutdown(), get() returns undefined at once (queued keys are dropped: a controller that
 * stops, e.g. on losing leadership, must not keep reconciling) and adds are ignored.
 */
import { type Backoff, backoffDelayMs } from '../shared/backoff.ts';

export interface RateLimiter {
  /** Delay before the key may be retried; counts one more failure for it. */
  when(key: string): number;
  /** Resets the key's failure count (call on success). */
  forget(key: string): void;
  /** Failures counted since the last forget. */
  retries(key: string): number;
}

/** Per-key exponential backoff: base × 2^(earlier failures), capped; the first failure waits base. */
export class ItemExponentialRateLimiter implements RateLimiter {
  readonly #backoff: Backoff;
  readonly #failures = new Map<string, number>();

  constructor(baseMs = 100, maxMs = 5 * 60_000) {
    // Exact steps, like client-go's: the global token bucket beside it is what bounds a retry storm.
    this.#backoff = { baseMs, maxMs, jitter: 'none' };
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return backoffDelayMs(failures + 1, this.#backoff);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

/**
 * A global token bucket (`qps` tokens a second, at most `burst` saved up) shared by all keys, so a
 * mass failure (API server down, every key failing) cannot turn into a retry storm. Like
 * golang.org/x/time/rate's Reserve: a call always gets a slot, possibly in the future.
 */
export class BucketRateLimiter implements RateLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(qps = 10, burst = 100, now: () => number = () => performance.now()) {
    this.#qps = qps;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  when(_key: string): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#qps) / 1000);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }

  forget(_key: string): void {}

  retries(_key: string): number {
    return 0;
  }
}

/** The largest delay of several limiters; failures are counted by each. */
export class MaxOfRateLimiter implements RateLimiter {
  readonly #limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.#limiters = limiters;
  }

  when(key: string): number {
    let delay = 0;
    for (const limiter of this.#limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  forget(key: string): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  retries(key: string): number {
    let retries = 0;
    for (const limiter of this.#limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }
}

/** 100 ms × 2^n per key (cap 5 min), and 10 retries/s with a burst of 100 overall. */
export function defaultControllerRateLimiter(): RateLimiter {
  return new MaxOfRateLimiter(
    new ItemExponentialRateLimiter(100, 5 * 60_000),
    new BucketRateLimiter(10, 100),
  );
}

export interface WorkQueueOptions {
  rateLimiter?: RateLimiter;
}

export class WorkQueue {
  readonly #rateLimiter: RateLimiter;
  /** FIFO of keys ready to hand out; `#head` avoids O(n) shifts. */
  #queue: string[] = [];
  #head = 0;
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter();
  }

  /** Keys ready to be handed out (not counting delayed or processing ones). */
  get len(): number {
    return this.#queue.length - this.#head;
  }

  /** Keys waiting for an addAfter/addRateLimited deadline. */
  get delayedLen(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // re-queued by done()
    this.#push(key);
  }

  /** Adds the key after `delayMs`; if it is already waiting, the earlier deadline wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const at = performance.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, timer });
  }

  /** Adds the key after its rate-limited backoff (a failed reconcile). */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Resets the key's backoff (a successful reconcile). Does not remove a pending add. */
  forget(key: string): void {
    this.#rateLimiter.forget(key);
  }

  /** Failures counted for the key since its last forget (for metrics and logs). */
  retries(key: string): number {
    return this.#rateLimiter.retries(key);
  }

  /** The next key; waits while the queue is empty; undefined once shut down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    if (this.len > 0) return Promise.resolve(this.#take());
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it is queued again now. */
  done(key: string): void {
    // A key that was not handed out is already queued if dirty: pushing it would duplicate it.
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
  }

  /** Stops handing out keys: waiting get() calls resolve undefined; delayed adds are dropped. */
  shutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue = [];
    this.#head = 0;
    this.#dirty.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      // Hand over directly: the key never sits in the FIFO, but the bookkeeping is the same.
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  #take(): string {
    const key = this.#queue[this.#head] as string;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }
}

/** What a reconcile returns: `requeueAfterMs` asks for a poll (e.g. waiting on a rollout). */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface WorkerErrorInfo {
  /** Failures of this key so far, this one included. */
  retries: number;
}

/**
 * Runs `concurrency` workers until the queue shuts down; resolves once every in-flight handler
 * has finished (so `queue.shutdown(); await workers` is a graceful stop).
 *
 * Outcomes, after controller-runtime: success → forget (+ addAfter on requeueAfterMs); throw →
 * addRateLimited. (A spec no retry can fix is not thrown: the reconciler reports it as a
 * condition and returns.) `onError` must not throw (if it does, the
 * throw is swallowed: a logging bug must not stop a worker).
 */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  handler: (key: string) => Promise<ReconcileResult> | Promise<void>,
  onError: (key: string, err: unknown, info: WorkerErrorInfo) => void,
): Promise<void> {
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        // A handler with nothing to ask for may return nothing.
        const result = (await handler(key)) as ReconcileResult | undefined;
        queue.forget(key);
        const after = result?.requeueAfterMs;
        if (after !== undefined && after > 0) queue.addAfter(key, after);
      } catch (err) {
        queue.addRateLimited(key);
        try {
          onError(key, err, { retries: queue.retries(key) });
        } catch {
          // See above.
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}
