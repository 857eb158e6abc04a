/**
 * Writes batches as telnet-style `put` lines over one persistent TCP connection (tcp://host:port),
 * the protocol NS1's bridge used. Points become lines in put-payload.ts, validated first.
 *
 * Limits of the protocol, which no client can lift:
 * - No acknowledgement. OpenTSDB is silent on success and sends error lines asynchronously, with
 *   nothing to tie them to the line they are about; VictoriaMetrics never answers at all. A batch
 *   therefore counts as written once the kernel took the bytes (the socket write callback). Bytes
 *   in flight when the peer dies are lost without an error; if the peer closed the connection
 *   cleanly we notice (FIN) and reconnect before the next batch, but a batch written in the same
 *   instant can still be lost. Use the HTTP writer when that matters.
 * - Every point is validated client-side against OpenTSDB's rules, and lines of 1024 bytes or
 *   more are rejected without being sent: a longer line makes OpenTSDB close the connection.
 * - Timestamps are seconds: VictoriaMetrics reads telnet timestamps as seconds only.
 * - OpenTSDB decodes telnet bytes as ISO-8859-1, so non-ASCII names arrive mangled there
 *   (VictoriaMetrics reads UTF-8). Use HTTP for Unicode names.
 *
 * The socket is opened on the first batch, not at construction: VictoriaMetrics reads the first
 * byte of each new connection in its accept loop, so an idle fresh connection stalls the others.
 * After a failed connect, attempts are spaced by exponential backoff with equal jitter
 * (shared/backoff.ts); a write during the wait fails fast with a RetryableWriteError carrying
 * `retryAfterMs`.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { type Backoff, backoffDelayMs } from '../shared/backoff.ts';
import { codeOf } from '../shared/errors.ts';
import type { EncodedDatapoint } from './datapoint.ts';
import { parseTcpEndpoint } from './endpoint.ts';
import { RetryableWriteError } from './errors.ts';
import { buildPutPayload } from './put-payload.ts';
import { type RejectionKind, RejectionLog } from './rejection.ts';
import { DEFAULT_MAX_TAGS } from './validate.ts';
import type { TsdbWriter, WriteResult } from './writer.ts';

export interface TelnetWriterSettings {
  /** `tsd.storage.max_tags` of the server. Default 8. */
  maxTags?: number;
  connectTimeoutMs?: number;
  /** Give up on a write whose bytes the kernel has not taken within this time. Default 10 s. */
  writeTimeoutMs?: number;
  /** Close the connection after this long without a batch. Default 60 s. */
  idleTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt, with jitter. Default 100 ms. */
  reconnectBaseMs?: number;
  /** Longest reconnect delay. Default 30 s. */
  reconnectMaxMs?: number;
}

export interface TelnetWriterOptions extends TelnetWriterSettings {
  endpoint: string;
  logger: Logger;
}

export interface TelnetWriterStats {
  connects: number;
  connectFailures: number;
  batches: number;
  pointsWritten: number;
  pointsRejected: number;
  bytesSent: number;
  /** Error lines the server sent back (OpenTSDB only; uncorrelated to points). */
  serverErrorLines: number;
}

const UNKNOWN_METRIC_NAME = "'metrics': '";

export class TelnetWriter implements TsdbWriter {
  readonly endpoint: string;
  readonly #host: string;
  readonly #port: number;
  readonly #logger: Logger;
  readonly #rejections: RejectionLog;
  readonly #maxTags: number;
  readonly #connectTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #reconnect: Backoff;
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #consecutiveFailures = 0;
  #nextAttemptAt = 0;
  #closed = false;
  #pendingText = '';
  readonly #stats: TelnetWriterStats = {
    connects: 0,
    connectFailures: 0,
    batches: 0,
    pointsWritten: 0,
    pointsRejected: 0,
    bytesSent: 0,
    serverErrorLines: 0,
  };

  constructor(options: TelnetWriterOptions) {
    const { host, port, name } = parseTcpEndpoint(options.endpoint);
    this.#host = host;
    this.#port = port;
    this.endpoint = name;
    this.#logger = options.logger;
    this.#rejections = new RejectionLog(options.logger, this.endpoint);
    this.#maxTags = options.maxTags ?? DEFAULT_MAX_TAGS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 10_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#reconnect = { baseMs: options.reconnectBaseMs ?? 100, maxMs: options.reconnectMaxMs ?? 30_000 };
  }

  get stats(): Readonly<TelnetWriterStats> {
    return { ...this.#stats };
  }

  get rejectionCounts(): Readonly<Record<RejectionKind, number>> {
    return { ...this.#rejections.counts };
  }

  async write(batch: readonly EncodedDatapoint[], signal?: AbortSignal): Promise<WriteResult> {
    this.#checkUsable(signal);
    const payload = buildPutPayload(batch, this.#maxTags, this.#rejections);
    this.#stats.pointsRejected += payload.rejected.length;
    if (payload.count === 0) return { written: 0, rejected: payload.rejected };
    const socket = await this.#connected();
    // Checked again after the (unabortable) connect: nothing has been sent yet.
    this.#checkUsable(signal);
    await this.#send(socket, payload.text);
    this.#stats.batches++;
    this.#stats.pointsWritten += payload.count;
    return { written: payload.count, rejected: payload.rejected };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.#socket ?? (await this.#connecting?.catch(() => undefined));
    this.#socket = undefined;
    if (socket === undefined || socket.destroyed) return;
    // end() flushes what the kernel has not sent yet, then FIN; wait for it, but not forever.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, this.#writeTimeoutMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  #checkUsable(signal: AbortSignal | undefined): void {
    if (this.#closed) {
      throw new RetryableWriteError('CPB_ERR_TSDB_WRITER_CLOSED', `writer for ${this.endpoint} is closed`, {
        endpoint: this.endpoint,
      });
    }
    if (signal?.aborted === true) {
      throw new RetryableWriteError('CPB_ERR_TSDB_ABORTED', `write to ${this.endpoint} aborted`, {
        endpoint: this.endpoint,
        cause: signal.reason,
      });
    }
  }

  async #connected(): Promise<Socket> {
    const current = this.#socket;
    if (current !== undefined && !current.destroyed && current.writable) return current;
    if (this.#connecting !== undefined) return this.#connecting;
    const wait = this.#nextAttemptAt - Date.now();
    if (wait > 0) {
      throw new RetryableWriteError(
        'CPB_ERR_TSDB_UNAVAILABLE',
        `${this.endpoint}: reconnect backoff, next attempt in ${wait} ms`,
        { endpoint: this.endpoint, retryAfterMs: wait },
      );
    }
    this.#connecting = this.#open();
    try {
      return await this.#connecting;
    } finally {
      this.#connecting = undefined;
    }
  }

  /**
   * Dials once. Not abortable: a connect is bounded by connectTimeoutMs and may be shared by
   * concurrent writes, so one caller's AbortSignal must not fail the others.
   */
  #open(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
      const fail = (err: unknown, code: string | undefined): void => {
        cleanup();
        socket.destroy();
        this.#stats.connectFailures++;
        this.#consecutiveFailures++;
        const delay = backoffDelayMs(this.#consecutiveFailures, this.#reconnect);
        this.#nextAttemptAt = Date.now() + delay;
        if (this.#consecutiveFailures === 1) {
          this.#logger.warn(
            { endpoint: this.endpoint, code },
            'cannot connect to the TSDB telnet port; retrying with backoff',
          );
        }
        reject(
          new RetryableWriteError(
            'CPB_ERR_TSDB_UNAVAILABLE',
            `${this.endpoint}: ${code ?? 'connect failed'}`,
            {
              endpoint: this.endpoint,
              cause: err,
              retryAfterMs: delay,
            },
          ),
        );
      };
      const onError = (err: Error): void => fail(err, codeOf(err));
      const onTimeout = (): void => fail(new Error('connect timeout'), 'CONNECT_TIMEOUT');
      const onConnect = (): void => {
        cleanup();
        if (this.#consecutiveFailures > 0) {
          this.#logger.info({ endpoint: this.endpoint }, 'connected to the TSDB telnet port again');
        }
        this.#consecutiveFailures = 0;
        this.#nextAttemptAt = 0;
        this.#stats.connects++;
        this.#adopt(socket);
        resolve(socket);
      };
      const cleanup = (): void => {
        socket.off('error', onError);
        socket.off('timeout', onTimeout);
        socket.off('connect', onConnect);
        socket.setTimeout(0);
      };
      socket.once('error', onError);
      socket.once('connect', onConnect);
      socket.once('timeout', onTimeout);
      socket.setTimeout(this.#connectTimeoutMs);
    });
  }

  /** Wires a fresh connection: reads error lines, notices the peer closing, closes when idle. */
  #adopt(socket: Socket): void {
    this.#socket = socket;
    this.#pendingText = '';
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(this.#idleTimeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onServerText(chunk));
    socket.on('timeout', () => socket.end());
    socket.on('error', (err) => {
      this.#logger.debug({ endpoint: this.endpoint, code: codeOf(err) }, 'telnet connection error');
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
    });
    // allowHalfOpen is false, so the peer's FIN ends our side too and 'close' follows.
    socket.on('end', () => {
      if (this.#socket === socket) this.#socket = undefined;
    });
  }

  #onServerText(chunk: string): void {
    let text = this.#pendingText + chunk;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      const line = text.slice(0, nl).trimEnd();
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
      if (line.length === 0) continue;
      this.#stats.serverErrorLines++;
      // "put: unknown metric: No such name for 'metrics': 'x'": name the metric for the hint.
      const at = line.indexOf(UNKNOWN_METRIC_NAME);
      const metric =
        at === -1 ? undefined : line.slice(at + UNKNOWN_METRIC_NAME.length, line.lastIndexOf("'"));
      this.#rejections.report(line.startsWith('put: ') ? line.slice(5) : line, metric);
    }
    // A server that never sends a newline must not grow this forever.
    this.#pendingText = text.length > 4096 ? '' : text;
  }

  #send(socket: Socket, text: string): Promise<void> {
    const bytes = Buffer.from(text, 'utf8');
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy(new Error('write timeout'));
      }, this.#writeTimeoutMs);
      socket.write(bytes, (err) => {
        clearTimeout(timer);
        if (err == null) {
          this.#stats.bytesSent += bytes.length;
          socket.setTimeout(this.#idleTimeoutMs);
          resolve();
          return;
        }
        if (this.#socket === socket) this.#socket = undefined;
        socket.destroy();
        reject(
          new RetryableWriteError(
            'CPB_ERR_TSDB_UNAVAILABLE',
            `${this.endpoint}: ${codeOf(err) ?? err.message}`,
            {
              endpoint: this.endpoint,
              cause: err,
            },
          ),
        );
      });
    });
  }
}
