/**
 * The one place a retry delay is computed. Every loop that waits after a failure (the TSDB
 * delivery loop, the telnet reconnect, the Catchpoint REST retries and directory refresh, the
 * informer's watch restarts, the work queue's per-key requeue) asks this function, so they all
 * grow, cap and spread out the same way and a change to the policy is made once.
 */

export interface Backoff {
  /** The delay after the first failure. */
  readonly baseMs: number;
  /** No delay is longer. */
  readonly maxMs: number;
  /**
   * `equal` (the default): half of the step fixed, half random, so retries spread out across a
   * fleet but delays still grow and never fire back to back. `none`: the exact step, for callers
   * that add their own spreading (client-go's per-item limiter behind a shared token bucket).
   */
  readonly jitter?: 'equal' | 'none';
  /** For tests. Default Math.random. */
  readonly random?: () => number;
}

/**
 * The delay before attempt `failures + 1`, given `failures` consecutive failures so far (1 after
 * the first): base × 2^(failures-1), capped at maxMs, then jittered. A server's own wish
 * (`retryAfterMs`, from Retry-After) is honoured as given (a caller that wants it capped caps it
 * first): it can lengthen the wait, never shorten it.
 */
export function backoffDelayMs(failures: number, policy: Backoff, retryAfterMs = 0): number {
  // Capping the exponent keeps 2^n finite for a key that fails forever.
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 52));
  const delay =
    policy.jitter === 'none' ? step : Math.round(step / 2 + (policy.random ?? Math.random)() * (step / 2));
  return Math.max(delay, retryAfterMs);
}

/**
 * `ms` spread uniformly over [ms × from, ms × to], so a fleet started together does not poll in
 * step: the informer's relist (0.9–1.1), the node directory's refresh (0.9–1.1), a leader
 * candidate's retry (1–1.2, client-go's wait.Jitter).
 */
export function spreadMs(ms: number, from: number, to: number, random: () => number = Math.random): number {
  return ms * (from + (to - from) * random());
}
