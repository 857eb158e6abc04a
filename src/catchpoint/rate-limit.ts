/**
 * Catchpoint's 429s: Retry-After read off an answer, and the bounded retry loop the REST clients
 * put around each request when Catchpoint answers 429 (v2 allows 7 requests/s and 20/min per
 * consumer by default, notes §11.1, so paging a large account can hit the limit in the middle of
 * a listing). The wait without a Retry-After is shared/backoff.ts's, as for every other retry.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { backoffDelayMs } from '../shared/backoff.ts';
import { hasCode } from '../shared/errors.ts';
import type { CatchpointApiError } from './errors.ts';

/** Retry-After as delta-seconds or an HTTP date → ms from now; undefined when absent/invalid. */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text.length === 0) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface RateLimitRetryOptions {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited out here: the error goes up to the caller. */
  maxRetryAfterMs: number;
  random: () => number;
}

export const DEFAULT_RATE_LIMIT_RETRY: RateLimitRetryOptions = {
  maxAttempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 65_000,
  random: Math.random,
};

/**
 * Runs `attempt` and retries it while it fails with CPB_ERR_CATCHPOINT_RATE_LIMITED, waiting
 * Retry-After when Catchpoint sent one, else the backoff. Other errors go up at once. When the
 * attempts run out, the last 429 error goes up (its retryAfterMs tells the caller how long to
 * stay away). Aborting `signal` ends the wait with the signal's reason.
 */
export async function retryRateLimited<T>(
  attempt: () => Promise<T>,
  options: RateLimitRetryOptions,
  signal?: AbortSignal,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!hasCode(err, 'CPB_ERR_CATCHPOINT_RATE_LIMITED')) throw err;
      if (n + 1 >= options.maxAttempts) throw err;
      // Retry-After, when sent, is the wait (even a short one); it is not merged into the backoff.
      const delay =
        (err as CatchpointApiError).retryAfterMs ??
        backoffDelayMs(n + 1, {
          baseMs: options.baseDelayMs,
          maxMs: options.maxDelayMs,
          random: options.random,
        });
      if (delay > options.maxRetryAfterMs) throw err;
      await sleepTimer(delay, undefined, signal === undefined ? undefined : { signal });
    }
  }
}
