/**
 * Writes batches to OpenTSDB's HTTP API (POST {base}/api/put?details) and to servers that speak
 * it (VictoriaMetrics, InfluxDB 1.x): cuts each batch into requests, sends them over a keep-alive
 * pool, and splits a request the server refused whole. The contract it keeps (the one the strict
 * test server, test/harness/strict-opentsdb.ts, enforces), in short:
 *
 * - Bodies are Buffers, so undici sends Content-Length and never `Transfer-Encoding: chunked`
 *   or `Expect: 100-continue`, either of which stock OpenTSDB refuses as "chunked".
 * - Each request stays within `maxBodyBytes` wire bytes (after gzip when enabled): stock OpenTSDB
 *   refuses bodies over 8192 bytes whole. A batch becomes as many requests as it needs.
 * - `?details` makes a 400 list exactly the points that failed; only those are rejected, the rest
 *   are stored. A request refused whole (no details, HTML "Chunked request not supported.", 413)
 *   is split in halves until the culprit is a single point, which is then rejected.
 * - 5xx, 429, timeouts, connection and TLS errors throw RetryableWriteError: the caller resends
 *   the whole batch later. Requests of that batch that had succeeded are sent again; OpenTSDB stores
 *   byte-identical points idempotently, so this duplicates nothing but traffic.
 *
 * Beside it: the request path and Authorization header come from the URL in endpoint.ts, what an
 * answer means from put-response.ts, the request cuts from body-plan.ts, and what is logged
 * about the endpoint's health from health-log.ts.
 */
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Logger } from 'pino';
import { buildConnector, Pool } from 'undici';
import { codeOf } from '../shared/errors.ts';
import { jsonArrayBody, lineSizes, packNext } from './body-plan.ts';
import type { EncodedDatapoint } from './datapoint.ts';
import { type HttpEndpointSettings, parseHttpEndpoint } from './endpoint.ts';
import { RetryableWriteError, TsdbConfigError } from './errors.ts';
import { HealthLog } from './health-log.ts';
import { interpretPutResponse, matchErrorsToLines, type PutPointError } from './put-response.ts';
import { classifyRejection, isRetryableRejection, type RejectionKind, RejectionLog } from './rejection.ts';
import { classifyTlsCode, describeTlsFailure, type TlsFailureInfo, tlsFailureOf } from './tls-failure.ts';
import type { RejectedDatapoint, TsdbWriter, WriteResult } from './writer.ts';

const gzipAsync = promisify(gzipCallback);

/**
 * zlib level of the request bodies. Level 1: on 500 of the bridge's datapoints it takes 150 µs
 * against 410 µs at level 6, for ~5.5 KB on the wire instead of 3.7 KB: still one request per
 * 500 points under 8000 bytes, so the request count is the same and level 6 only spent CPU.
 */
export const GZIP_LEVEL = 1;
/** Requests of one batch in flight at once. */
const REQUEST_CONCURRENCY = 2;
/** Sockets per endpoint. */
const CONNECTIONS = 4;
/** Idle keep-alive sockets are closed after this (or sooner, at the server's Keep-Alive hint). */
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

export interface HttpWriterSettings extends HttpEndpointSettings {
  /** gzip request bodies (`Content-Encoding: gzip`). Default true: it is what fits hundreds of points under 8 KiB. */
  gzip?: boolean;
  /** Wire bytes per request, after compression. Default 8000 (stock OpenTSDB refuses > 8192). */
  maxBodyBytes?: number;
  /** Points per request. Default 500. */
  maxPointsPerRequest?: number;
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * From request sent to response headers. Default 30 s: OpenTSDB answers only after every point
   * is queued, and assigning UIDs to new names is slow. undici keeps these timers at ~1 s resolution.
   */
  headersTimeoutMs?: number;
  /** Between body chunks of the response. Default 30 s. */
  bodyTimeoutMs?: number;
  /** TLS options for https endpoints: CA bundle (replaces the public roots), client certificate, server name. */
  tls?: HttpTlsSettings;
}

export interface HttpTlsSettings {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
}

export interface HttpWriterOptions extends HttpWriterSettings {
  endpoint: string;
  logger: Logger;
}

export interface HttpWriterStats {
  requests: number;
  /** Bytes on the wire (compressed when gzip is on). */
  bytesSent: number;
  /** JSON bytes before compression. */
  rawBytes: number;
  pointsWritten: number;
  pointsRejected: number;
  /** Requests split in halves after a whole-request refusal or an unmatched error report. */
  splits: number;
  /** write() calls that threw a retryable error. */
  failedWrites: number;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new TsdbConfigError(`${name} must be a positive number, got ${v}`);
  return v;
}

interface PostResult {
  status: number;
  text: string;
}

interface Outcome {
  written: number;
  rejected: RejectedDatapoint[];
}

function metricOf(line: string): string | undefined {
  try {
    const m = (JSON.parse(line) as { metric?: unknown }).metric;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

export class HttpWriter implements TsdbWriter {
  readonly endpoint: string;
  readonly #pool: Pool;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #logger: Logger;
  readonly #rejections: RejectionLog;
  readonly #health: HealthLog;
  readonly #gzip: boolean;
  readonly #maxBodyBytes: number;
  readonly #maxPoints: number;
  // Observed raw/compressed ratio: sizes gzip request candidates so that most fit first time.
  #ratio = 5;
  #closed = false;
  /** The last TLS alert a connected socket got, with when (see #connector). */
  #socketTlsError: { info: TlsFailureInfo; at: number } | undefined;
  readonly #stats: HttpWriterStats = {
    requests: 0,
    bytesSent: 0,
    rawBytes: 0,
    pointsWritten: 0,
    pointsRejected: 0,
    splits: 0,
    failedWrites: 0,
  };

  constructor(options: HttpWriterOptions) {
    const parsed = parseHttpEndpoint(options.endpoint, options);
    this.endpoint = parsed.redacted;
    this.#path = parsed.path;
    this.#logger = options.logger;
    this.#rejections = new RejectionLog(options.logger, parsed.redacted);
    this.#health = new HealthLog(options.logger, parsed.redacted);
    this.#gzip = options.gzip ?? true;
    this.#maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 8000);
    this.#maxPoints = positive('maxPointsPerRequest', options.maxPointsPerRequest, 500);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#gzip) headers['content-encoding'] = 'gzip';
    if (parsed.authorization !== undefined) headers.authorization = parsed.authorization;
    this.#headers = headers;
    const tls = options.tls;
    // Absent fields stay absent: tls.connect treats an undefined option as not given.
    const connect = { timeout: positive('connectTimeoutMs', options.connectTimeoutMs, 5_000), ...tls };
    this.#pool = new Pool(parsed.origin, {
      connections: CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: positive('headersTimeoutMs', options.headersTimeoutMs, 30_000),
      bodyTimeout: positive('bodyTimeoutMs', options.bodyTimeoutMs, 30_000),
      connect: parsed.origin.startsWith('https:') ? this.#connector(connect) : connect,
    });
  }

  /**
   * undici's connector, plus a listener for TLS alerts after the handshake. A TLS 1.3 server
   * checks the client certificate after the client considers the handshake done, so its refusal
   * (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED) reaches the socket while undici only reports
   * "other side closed"; #post looks here to say what really happened.
   */
  #connector(options: buildConnector.BuildOptions): buildConnector.connector {
    const connect = buildConnector(options);
    return (opts, callback) =>
      connect(opts, (...args) => {
        if (args[0] === null) {
          args[1].on('error', (e: Error & { code?: string }) => {
            const failure = e.code === undefined ? undefined : classifyTlsCode(e.code);
            if (failure !== undefined)
              this.#socketTlsError = {
                info: describeTlsFailure(failure, e.code as string, e),
                at: Date.now(),
              };
          });
        }
        callback(...args);
      });
  }

  /** A snapshot of the counters. */
  get stats(): Readonly<HttpWriterStats> {
    return { ...this.#stats };
  }

  /**
   * Refused points by kind since start (see rejection.ts), for logs and debugging. A batch that
   * later throws is counted again when resent: feed metrics from WriteResult.rejected instead.
   */
  get rejectionCounts(): Readonly<Record<RejectionKind, number>> {
    return { ...this.#rejections.counts };
  }

  async write(batch: readonly EncodedDatapoint[], signal?: AbortSignal): Promise<WriteResult> {
    if (this.#closed) {
      throw new RetryableWriteError('CPB_ERR_TSDB_WRITER_CLOSED', `writer for ${this.endpoint} is closed`, {
        endpoint: this.endpoint,
      });
    }
    const outcome: Outcome = { written: 0, rejected: [] };
    if (batch.length === 0) return outcome;
    const sizes = lineSizes(batch);
    // Requests are cut one at a time, so that the gzip ratio learnt from the first ones already
    // sizes the next ones of the same batch.
    let cursor = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && cursor < batch.length) {
        const start = cursor;
        const end = packNext(sizes, start, this.#rawBudget(), this.#maxPoints);
        cursor = end;
        try {
          await this.#send(batch, start, end, outcome, signal);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const workers: Promise<void>[] = [];
    for (let w = REQUEST_CONCURRENCY; w > 0; w--) workers.push(worker());
    await Promise.all(workers);

    if (failure !== undefined) {
      this.#stats.failedWrites++;
      this.#health.failing(failure);
      throw failure;
    }
    this.#health.accepting();
    this.#stats.pointsWritten += outcome.written;
    this.#stats.pointsRejected += outcome.rejected.length;
    return outcome;
  }

  /** Uncompressed bytes to put in the next request: the wire budget times the learnt gzip ratio. */
  #rawBudget(): number {
    if (!this.#gzip) return this.#maxBodyBytes;
    return Math.max(this.#maxBodyBytes, Math.floor(this.#maxBodyBytes * this.#ratio * 0.85));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }

  async #send(
    lines: readonly string[],
    start: number,
    end: number,
    outcome: Outcome,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const count = end - start;
    const raw = jsonArrayBody(lines, start, end);
    let body = raw;
    if (this.#gzip) {
      body = await gzipAsync(raw, { level: GZIP_LEVEL });
      // Moving average, bounded: one odd batch must not make the next candidates huge. Learnt
      // from bodies of at least half the raw budget only: a batch's small remainder compresses
      // worse, and counting it shrank the budget until every batch was cut in two (500 points →
      // ~484 + ~16 at level 1: twice the requests).
      if (raw.length * 2 >= this.#rawBudget()) {
        this.#ratio = Math.min(32, Math.max(1, this.#ratio * 0.7 + (raw.length / body.length) * 0.3));
      }
    }
    if (body.length > this.#maxBodyBytes) {
      if (count === 1) {
        this.#reject(
          lines,
          start,
          `point larger than maxBodyBytes (${body.length} > ${this.#maxBodyBytes} bytes)`,
          outcome,
        );
        return;
      }
      await this.#split(lines, start, end, outcome, signal, false);
      return;
    }

    const { status, text } = await this.#post(body, raw.length, signal);
    const verdict = interpretPutResponse(status, text);
    switch (verdict.kind) {
      case 'ok':
        outcome.written += count;
        return;
      case 'retry':
        this.#health.status(status, verdict.reason);
        throw new RetryableWriteError(verdict.code, `${this.endpoint}: ${verdict.reason}`, {
          endpoint: this.endpoint,
          status,
          ...(verdict.tlsFailure === undefined ? {} : { tlsFailure: verdict.tlsFailure }),
        });
      case 'refused':
        if (count === 1) {
          this.#reject(lines, start, verdict.reason, outcome);
          return;
        }
        this.#logger.debug(
          { endpoint: this.endpoint, status, reason: verdict.reason, points: count },
          'request refused whole; splitting it',
        );
        await this.#split(lines, start, end, outcome, signal, true);
        return;
      case 'partial':
        await this.#partial(lines, start, end, verdict.errors, verdict.failed, outcome, signal);
        return;
    }
  }

  async #post(body: Buffer, rawBytes: number, signal: AbortSignal | undefined): Promise<PostResult> {
    const started = performance.now();
    this.#stats.requests++;
    this.#stats.bytesSent += body.length;
    this.#stats.rawBytes += rawBytes;
    try {
      const res = await this.#pool.request({
        path: this.#path,
        method: 'POST',
        headers: this.#headers,
        body,
        signal,
      });
      let text = '';
      if (res.statusCode === 204) await res.body.dump();
      else text = await res.body.text();
      return { status: res.statusCode, text };
    } catch (err) {
      const duration = performance.now() - started;
      if (signal?.aborted === true) {
        throw new RetryableWriteError('CPB_ERR_TSDB_ABORTED', `write to ${this.endpoint} aborted`, {
          endpoint: this.endpoint,
          cause: signal.reason,
        });
      }
      const code = codeOf(err);
      const recent = this.#socketTlsError;
      const tls =
        tlsFailureOf(err) ??
        (code === 'UND_ERR_SOCKET' && recent !== undefined && recent.at >= Date.now() - duration - 1000
          ? recent.info
          : undefined);
      if (tls !== undefined) {
        throw new RetryableWriteError('CPB_ERR_TSDB_TLS', `${this.endpoint}: TLS: ${tls.description}`, {
          endpoint: this.endpoint,
          cause: err,
          tlsFailure: tls.failure,
        });
      }
      throw new RetryableWriteError(
        'CPB_ERR_TSDB_UNAVAILABLE',
        `${this.endpoint}: ${code ?? (err instanceof Error ? err.message : String(err))}`,
        { endpoint: this.endpoint, cause: err },
      );
    }
  }

  async #split(
    lines: readonly string[],
    start: number,
    end: number,
    outcome: Outcome,
    signal: AbortSignal | undefined,
    count: boolean,
  ): Promise<void> {
    if (count) this.#stats.splits++;
    const mid = start + ((end - start) >>> 1);
    await this.#send(lines, start, mid, outcome, signal);
    await this.#send(lines, mid, end, outcome, signal);
  }

  async #partial(
    lines: readonly string[],
    start: number,
    end: number,
    errors: readonly PutPointError[],
    failed: number,
    outcome: Outcome,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (const e of errors) {
      if (isRetryableRejection(classifyRejection(e.error))) {
        throw new RetryableWriteError('CPB_ERR_TSDB_STORAGE', `${this.endpoint}: ${e.error}`, {
          endpoint: this.endpoint,
        });
      }
    }
    const count = end - start;
    const indexes = failed > errors.length ? undefined : matchErrorsToLines(lines, start, end, errors);
    if (indexes === undefined) {
      // We cannot tell which lines failed. Split until each request's report can be matched
      // (a single point always can); the stored ones are rewritten, which OpenTSDB tolerates.
      if (count === 1) {
        this.#reject(lines, start, errors[0]?.error ?? 'refused', outcome);
        return;
      }
      await this.#split(lines, start, end, outcome, signal, true);
      return;
    }
    for (let k = 0; k < indexes.length; k++) {
      this.#reject(lines, indexes[k] as number, (errors[k] as PutPointError).error, outcome);
    }
    outcome.written += count - indexes.length;
  }

  #reject(lines: readonly string[], index: number, error: string, outcome: Outcome): void {
    const line = lines[index] as string;
    outcome.rejected.push({ line, error });
    this.#rejections.report(error, metricOf(line));
  }
}
