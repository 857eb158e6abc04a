/**
 * The delivery loop: spool → TSDB writer, one batch at a time, in order. A batch is acknowledged
 * in the spool only after the writer settled it (written, or refused for good by the TSDB);
 * any other failure retries the same batch with jittered exponential backoff, forever — the
 * spool, not memory, absorbs the outage, and its limit turns into 503s at the push endpoint.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { TsdbWriter } from '../opentsdb/writer.ts';
import { type Backoff, backoffDelayMs } from '../shared/backoff.ts';
import { safeUrl } from '../shared/logger.ts';
import type { WriteAheadSpool } from '../spool/wal.ts';
import { type BridgeMetrics, rejectionReason } from './metrics.ts';

/** Requests' worth of points one delivery batch may take from a backlog. */
export const READ_AHEAD_REQUESTS = 4;

/**
 * After the n-th failed write of a batch, a wait between 250·2^(n-1) ms and twice that (equal
 * jitter over a step that starts at 500 ms), between 2.5 and 5 s once the step reaches the cap.
 * Short enough that delivery resumes within seconds of the TSDB coming back; a request every few
 * seconds during an outage costs nothing.
 */
const RETRY_BACKOFF: Backoff = { baseMs: 500, maxMs: 5_000 };

export interface DeliveryOptions {
  /** Points per TSDB request (tsdb.batchMaxPoints); a batch takes up to READ_AHEAD_REQUESTS × this. */
  maxPoints: number;
  maxDelayMs: number;
}

export class Delivery {
  readonly #spool: WriteAheadSpool;
  readonly #metrics: BridgeMetrics;
  readonly #logger: Logger;
  #writer: TsdbWriter;
  #options: DeliveryOptions;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #lastFailureLog = 0;
  #draining = false;

  constructor(
    spool: WriteAheadSpool,
    writer: TsdbWriter,
    options: DeliveryOptions,
    metrics: BridgeMetrics,
    logger: Logger,
  ) {
    this.#spool = spool;
    this.#writer = writer;
    this.#options = options;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  /** Swaps writer and batching between batches (live reload); returns the old writer to close. */
  reconfigure(writer: TsdbWriter, options: DeliveryOptions): TsdbWriter {
    const old = this.#writer;
    this.#writer = writer;
    this.#options = options;
    return old;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops after delivering what the spool holds, or at the deadline, whichever is first; what is
   * left stays in the spool for the next start.
   */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.#draining = true;
    const deadline = setTimeout(() => this.#abort.abort(), drainTimeoutMs);
    const idle = setInterval(() => {
      if (this.#spool.bytes === 0) this.#abort.abort();
    }, 20);
    try {
      await this.#loop;
    } finally {
      clearTimeout(deadline);
      clearInterval(idle);
      await this.#writer.close();
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Waits for one request's worth (or maxDelay), but takes up to READ_AHEAD_REQUESTS' worth
      // when a backlog is there: the writer then keeps its requests in flight back to back
      // instead of the loop paying read → compress → POST → acknowledge per request.
      const batch = await this.#spool.read(
        this.#options.maxPoints * READ_AHEAD_REQUESTS,
        this.#draining ? 0 : this.#options.maxDelayMs,
        signal,
        this.#options.maxPoints,
      );
      if (batch.records.length === 0) {
        // Only set-aside records read (see spool/wal.ts): move past them.
        if (batch.skipped > 0) await this.#spool.ack(batch);
        continue;
      }
      try {
        if (!(await this.#deliver(batch.records, signal))) {
          // Stopped: the batch stays in the spool for the next start.
          this.#spool.rewind();
          return;
        }
        await this.#spool.ack(batch);
      } catch (err) {
        // The spool could not acknowledge the batch: it stays there for the next start.
        this.#spool.rewind();
        if (!signal.aborted) this.#logger.error({ err }, 'delivery loop stopped unexpectedly');
        return;
      }
    }
  }

  /**
   * Writes one batch, retrying every failure after a backoff (RETRY_BACKOFF), forever: true once
   * it is written (even if the stop came meanwhile: the TSDB has it, so it is acknowledged and
   * neither handed off nor sent again), false when `signal` stopped it first.
   */
  async #deliver(records: string[], signal: AbortSignal): Promise<boolean> {
    for (let failures = 1; !signal.aborted; failures++) {
      try {
        await this.#writeOnce(records);
        return true;
      } catch (err) {
        this.#metrics.datapointsRetried.inc(records.length);
        this.#logFailure(err instanceof Error ? err : new Error(String(err)), failures);
      }
      try {
        await sleep(backoffDelayMs(failures, RETRY_BACKOFF), undefined, { signal });
      } catch {
        return false; // aborted while waiting
      }
    }
    return false;
  }

  async #writeOnce(records: string[]): Promise<void> {
    const started = performance.now();
    const writer = this.#writer;
    try {
      const result = await writer.write(records, this.#abort.signal);
      this.#metrics.tsdbRequestDuration.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
      this.#metrics.datapointsWritten.inc(result.written);
      for (const r of result.rejected)
        this.#metrics.datapointsRejected.inc({ reason: rejectionReason(r.error) });
      this.#metrics.tsdbHealth.succeeded();
    } catch (err) {
      this.#metrics.tsdbRequestDuration.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
      // A stop or a writer swapped by a config change is not the TSDB failing.
      const code = (err as { code?: string }).code;
      if (code !== 'CPB_ERR_TSDB_ABORTED' && code !== 'CPB_ERR_TSDB_WRITER_CLOSED')
        this.#metrics.tsdbHealth.failed(err, writer.endpoint);
      throw err;
    }
  }

  /** One line per 10 s at most: an outage must not flood the log. */
  #logFailure(error: Error, attempt: number): void {
    const now = Date.now();
    if (now - this.#lastFailureLog < 10_000) return;
    this.#lastFailureLog = now;
    const code = (error as { code?: string }).code;
    this.#logger.warn(
      {
        code,
        endpoint: safeUrl(this.#writer.endpoint),
        attempt,
        spoolBytes: this.#spool.bytes,
        error: error.message,
      },
      'TSDB write failed; retrying with backoff, points stay in the spool',
    );
  }
}
