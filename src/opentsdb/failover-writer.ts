/**
 * Several endpoints for the same data: each batch goes to the endpoint that last took one; when
 * it throws a retryable error the next endpoint in the list gets the batch, and so on around the
 * list once. The one that succeeds becomes the current endpoint (no automatic fail-back: moving
 * between endpoints is what an outage costs, so it happens only on failure).
 *
 * Points a failing endpoint stored before it failed (earlier requests of a split HTTP batch)
 * are written again to the next one: at-least-once, never lost.
 */
import type { Logger } from 'pino';
import type { EncodedDatapoint } from './datapoint.ts';
import { isRetryableWriteError, RetryableWriteError, TsdbConfigError } from './errors.ts';
import type { TsdbWriter, WriteResult } from './writer.ts';

export class FailoverWriter implements TsdbWriter {
  readonly endpoint: string;
  readonly #writers: readonly TsdbWriter[];
  readonly #logger: Logger;
  #current = 0;

  constructor(writers: readonly TsdbWriter[], logger: Logger) {
    if (writers.length === 0) throw new TsdbConfigError('a failover writer needs at least one endpoint');
    this.#writers = writers;
    this.#logger = logger;
    this.endpoint = writers.map((w) => w.endpoint).join(',');
  }

  /** The endpoint batches currently go to. */
  get currentEndpoint(): string {
    return (this.#writers[this.#current] as TsdbWriter).endpoint;
  }

  async write(batch: readonly EncodedDatapoint[], signal?: AbortSignal): Promise<WriteResult> {
    const n = this.#writers.length;
    const start = this.#current;
    const errors: unknown[] = [];
    for (let k = 0; k < n; k++) {
      const index = (start + k) % n;
      const writer = this.#writers[index] as TsdbWriter;
      try {
        const result = await writer.write(batch, signal);
        if (index !== this.#current) {
          this.#logger.warn(
            { from: this.currentEndpoint, to: writer.endpoint },
            'TSDB failover: writing to another endpoint',
          );
          this.#current = index;
        }
        return result;
      } catch (err) {
        // A configuration error or the caller giving up is not a reason to try elsewhere.
        if (!isRetryableWriteError(err) || err.code === 'CPB_ERR_TSDB_ABORTED' || signal?.aborted === true)
          throw err;
        errors.push(err);
      }
    }
    if (n === 1) throw errors[0];
    const retryAfter = errors.reduce<number | undefined>((min, e) => {
      const r = (e as RetryableWriteError).retryAfterMs;
      return r === undefined ? min : min === undefined ? r : Math.min(min, r);
    }, undefined);
    throw new RetryableWriteError('CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED', `all ${n} TSDB endpoints failed`, {
      cause: new AggregateError(errors, 'per-endpoint errors'),
      endpoint: this.endpoint,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.close()));
  }
}
