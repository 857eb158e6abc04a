/**
 * Appends batches to a local file (file:///path): the successor of NS1's `-f` mode, for
 * running without a TSDB or for keeping a replayable copy.
 *
 * Formats:
 * - `put` (default): the exact telnet lines the telnet writer sends (seconds, validated, lines
 *   of 1024+ bytes rejected), so `nc tsdb 4242 < file` replays the file into OpenTSDB or
 *   VictoriaMetrics as is.
 * - `json`: one /api/put JSON element per line, as encoded (milliseconds kept). This is the
 *   closest to what NS1's file fallback wrote (one JSON record per datapoint); wrap lines in
 *   `[...]` to replay through /api/put.
 *
 * One write per batch (O_APPEND), then fdatasync: a batch that returned is on disk. The file is
 * opened once and reopened when it was rotated or removed (its inode no longer matches the
 * path's, checked with one stat per batch, which costs microseconds).
 */
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { codeOf } from '../shared/errors.ts';
import type { EncodedDatapoint } from './datapoint.ts';
import { parseFileEndpoint } from './endpoint.ts';
import { RetryableWriteError, TsdbConfigError } from './errors.ts';
import { buildPutPayload } from './put-payload.ts';
import { RejectionLog } from './rejection.ts';
import { DEFAULT_MAX_TAGS } from './validate.ts';
import type { RejectedDatapoint, TsdbWriter, WriteResult } from './writer.ts';

export type FileFormat = 'put' | 'json';

export interface FileWriterSettings {
  /** Default 'put'. */
  format?: FileFormat;
  /** fdatasync after every batch. Default true; turn off only where losing the last batches on a crash is fine. */
  fsync?: boolean;
  /** Mode of a newly created file. Default 0o640. */
  fileMode?: number;
  /** `tsd.storage.max_tags` the put lines are validated against. Default 8. */
  maxTags?: number;
}

export interface FileWriterOptions extends FileWriterSettings {
  endpoint: string;
  logger: Logger;
}

export interface FileWriterStats {
  batches: number;
  pointsWritten: number;
  pointsRejected: number;
  bytesWritten: number;
  reopens: number;
}

export class FileWriter implements TsdbWriter {
  readonly endpoint: string;
  readonly path: string;
  readonly #logger: Logger;
  readonly #rejections: RejectionLog;
  readonly #format: FileFormat;
  readonly #fsync: boolean;
  readonly #mode: number;
  readonly #maxTags: number;
  #handle: FileHandle | undefined;
  #ino = 0;
  #dev = 0;
  #closed = false;
  // Batches are appended one after another, in call order, each followed by its own fsync.
  #tail: Promise<unknown> = Promise.resolve();
  readonly #stats: FileWriterStats = {
    batches: 0,
    pointsWritten: 0,
    pointsRejected: 0,
    bytesWritten: 0,
    reopens: 0,
  };

  constructor(options: FileWriterOptions) {
    this.path = parseFileEndpoint(options.endpoint);
    this.endpoint = `file://${this.path}`;
    this.#logger = options.logger;
    this.#rejections = new RejectionLog(options.logger, this.endpoint);
    this.#format = options.format ?? 'put';
    if (this.#format !== 'put' && this.#format !== 'json') {
      throw new TsdbConfigError(`file format must be 'put' or 'json', got ${String(this.#format)}`);
    }
    this.#fsync = options.fsync ?? true;
    this.#mode = options.fileMode ?? 0o640;
    this.#maxTags = options.maxTags ?? DEFAULT_MAX_TAGS;
  }

  get stats(): Readonly<FileWriterStats> {
    return { ...this.#stats };
  }

  write(batch: readonly EncodedDatapoint[], signal?: AbortSignal): Promise<WriteResult> {
    if (this.#closed) {
      return Promise.reject(
        new RetryableWriteError('CPB_ERR_TSDB_WRITER_CLOSED', `writer for ${this.endpoint} is closed`, {
          endpoint: this.endpoint,
        }),
      );
    }
    const run = this.#tail.then(() => this.#append(batch, signal));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  async #append(batch: readonly EncodedDatapoint[], signal: AbortSignal | undefined): Promise<WriteResult> {
    if (signal?.aborted === true) {
      throw new RetryableWriteError('CPB_ERR_TSDB_ABORTED', `write to ${this.endpoint} aborted`, {
        endpoint: this.endpoint,
        cause: signal.reason,
      });
    }
    let text: string;
    let count: number;
    let rejected: RejectedDatapoint[];
    if (this.#format === 'put') {
      const payload = buildPutPayload(batch, this.#maxTags, this.#rejections);
      ({ text, count, rejected } = payload);
    } else {
      text = batch.length === 0 ? '' : `${batch.join('\n')}\n`;
      count = batch.length;
      rejected = [];
    }
    this.#stats.pointsRejected += rejected.length;
    if (count === 0) return { written: 0, rejected };

    const bytes = Buffer.from(text, 'utf8');
    let handle: FileHandle | undefined;
    let sizeBefore = -1;
    try {
      handle = await this.#currentHandle();
      sizeBefore = (await handle.stat()).size;
      let offset = 0;
      while (offset < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
        offset += bytesWritten;
      }
      if (this.#fsync) await handle.datasync();
    } catch (err) {
      await this.#abandon(handle, sizeBefore);
      throw new RetryableWriteError(
        'CPB_ERR_TSDB_FILE_IO',
        `${this.endpoint}: ${codeOf(err) ?? String(err)}`,
        {
          endpoint: this.endpoint,
          cause: err,
        },
      );
    }
    this.#stats.batches++;
    this.#stats.pointsWritten += count;
    this.#stats.bytesWritten += bytes.length;
    return { written: count, rejected };
  }

  /** The open handle, reopened when the path now names another file or none (rotation). */
  async #currentHandle(): Promise<FileHandle> {
    const handle = this.#handle;
    if (handle !== undefined) {
      const onDisk = await stat(this.path).catch(() => undefined);
      if (onDisk !== undefined && onDisk.ino === this.#ino && onDisk.dev === this.#dev) return handle;
      this.#handle = undefined;
      this.#stats.reopens++;
      this.#logger.info({ endpoint: this.endpoint }, 'output file was rotated or removed; reopening');
      await handle.close().catch(() => undefined);
    }
    await mkdir(dirname(this.path), { recursive: true });
    const opened = await open(this.path, 'a', this.#mode);
    const st = await opened.stat();
    this.#ino = st.ino;
    this.#dev = st.dev;
    this.#handle = opened;
    return opened;
  }

  /**
   * After a failed append: cut off a partial batch (so the retry does not leave half a line in
   * the file) and drop the handle so the next batch reopens the file.
   */
  async #abandon(handle: FileHandle | undefined, sizeBefore: number): Promise<void> {
    if (handle === undefined) return;
    if (sizeBefore >= 0) await handle.truncate(sizeBefore).catch(() => undefined);
    if (this.#handle === handle) this.#handle = undefined;
    await handle.close().catch(() => undefined);
  }
}
