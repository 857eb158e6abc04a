/**
 * The write-ahead spool: every datapoint the bridge acknowledges is first appended here, and the
 * delivery loop reads it back from here. It is the queue, so a TSDB outage, a restart or a crash
 * loses nothing acknowledged, and memory stays flat however long the outage: points wait on disk.
 *
 * Layout: numbered segment files of newline-terminated records (one encoded datapoint each) and
 * a `cursor` file naming the first record not yet delivered. Appends are group-committed: every
 * append that arrives while a write+fsync is in flight joins the next one, so under load the
 * cost is one fsync per few milliseconds, not one per push.
 *
 * Guarantees:
 *  - `append` resolves only after its records are written (and, with durability `fsync`,
 *    fdatasync'ed). A crash loses only appends that had not resolved, which were never
 *    acknowledged.
 *  - Delivery is at least once: the cursor is persisted after the TSDB accepted a batch, at most
 *    `cursorSyncMs` apart, so a crash may re-send up to that much. OpenTSDB treats a re-sent
 *    identical point as a no-op.
 *  - A torn record at the end of the last segment (crash mid-write) is cut off on open.
 *  - Delivery never stalls on a record: appends refuse records over MAX_RECORD_BYTES, and a
 *    record the reader still cannot take (no newline within READ_CHUNK bytes, or a closed
 *    segment ending mid-record: disk corruption, a foreign file) is copied to `set-aside/`,
 *    reported once through `onSetAside`, and stepped over.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

export type Durability = 'fsync' | 'buffered';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  durability: Durability;
  /** A segment is closed and a new one started past this size. */
  segmentBytes?: number;
  /** Least time between two cursor writes. */
  cursorSyncMs?: number;
  /** Called once per record the reader stepped over (see the header). Must not throw. */
  onSetAside?: (record: SetAsideRecord) => void;
}

/** A record the reader could not take, kept in `file` for a person to look at. */
export interface SetAsideRecord {
  segment: number;
  offset: number;
  bytes: number;
  file: string;
  reason: 'too long' | 'unterminated';
}

/**
 * Longest record an append takes. A datapoint is ~150 bytes and its tags are bounded
 * (opentsdb/validate.ts); the bound is what keeps every record within one read.
 */
export const MAX_RECORD_BYTES = 64 << 10;

export class SpoolRecordError extends Error {
  readonly code = 'CPB_ERR_SPOOL_RECORD';
  /** Index of the first bad record in the append. */
  readonly index: number;
  constructor(index: number, reason: string) {
    super(`record ${index} ${reason}`);
    this.name = 'SpoolRecordError';
    this.index = index;
  }
}

export class SpoolFullError extends Error {
  readonly code = 'CPB_ERR_SPOOL_FULL';
  constructor(maxBytes: number) {
    super(`spool is full (${maxBytes} bytes); the TSDB is not keeping up or is down`);
    this.name = 'SpoolFullError';
  }
}

export class SpoolClosedError extends Error {
  readonly code = 'CPB_ERR_SPOOL_CLOSED';
  constructor() {
    super('spool is closed');
    this.name = 'SpoolClosedError';
  }
}

/** Records read from the spool; `ack` marks them delivered. */
export interface SpoolBatch {
  records: string[];
  /** Records set aside by this read (see the header): an empty batch with some is progress to ack. */
  skipped: number;
  /** Position just after the last record. */
  readonly end: Position;
}

interface Position {
  segment: number;
  offset: number;
}

interface PendingAppend {
  data: string;
  bytes: number;
  records: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const SEGMENT_SUFFIX = '.wal';
const CURSOR_FILE = 'cursor';
const SET_ASIDE_DIR = 'set-aside';
/** Largest read; also the longest record the reader can take. */
const READ_CHUNK = 1 << 20;
/** Bytes of one set-aside record kept for inspection. */
const SET_ASIDE_KEEP = READ_CHUNK;
/** Bytes read per wanted record: encoded datapoints are ~150 bytes, so one read usually does. */
const READ_BYTES_PER_RECORD = 256;
const MIN_READ = 64 << 10;

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}${SEGMENT_SUFFIX}`;
}

export class WriteAheadSpool {
  readonly #dir: string;
  #maxBytes: number;
  #durability: Durability;
  readonly #segmentBytes: number;
  readonly #cursorSyncMs: number;
  readonly #onSetAside: (record: SetAsideRecord) => void;

  /** Segment number → size in bytes of what is durably written. */
  readonly #segments = new Map<number, number>();
  #active!: FileHandle;
  #activeSegment = 0;
  #pending: PendingAppend[] = [];
  #pendingBytes = 0;
  #flushing = false;
  #closed = false;

  /** Next record to hand to the reader (it may be ahead of the cursor: read, not yet acked). */
  #readPos: Position = { segment: 0, offset: 0 };
  /** First record not yet acknowledged by the TSDB. */
  #cursor: Position = { segment: 0, offset: 0 };
  #cursorDirty = false;
  #cursorWrittenAt = 0;
  #cursorTimer: NodeJS.Timeout | undefined;
  #recordsQueued = 0;
  #waiters: Array<() => void> = [];
  /** The segment the reader is in, kept open between reads. */
  #reader: { segment: number; handle: FileHandle } | undefined;
  /** `segment:offset` of records already set aside: a re-read after rewind() reports none twice. */
  readonly #setAsideSeen = new Set<string>();

  private constructor(options: SpoolOptions) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#durability = options.durability;
    this.#segmentBytes = options.segmentBytes ?? 16 << 20;
    this.#cursorSyncMs = options.cursorSyncMs ?? 1000;
    this.#onSetAside = options.onSetAside ?? (() => {});
  }

  static async open(options: SpoolOptions): Promise<WriteAheadSpool> {
    const spool = new WriteAheadSpool(options);
    await spool.#recover();
    return spool;
  }

  /** Bytes on disk not yet delivered. */
  get bytes(): number {
    let total = 0;
    for (const [segment, size] of this.#segments) {
      if (segment === this.#cursor.segment) total += size - this.#cursor.offset;
      else if (segment > this.#cursor.segment) total += size;
    }
    return total + this.#pendingBytes;
  }

  /** Records appended but not yet delivered (exact since start; estimated from bytes after a restart). */
  get records(): number {
    return this.#recordsQueued;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Applies a new limit and durability (live config reload). A lower limit refuses new appends
   * until delivery brings the spool under it; nothing already spooled is dropped.
   */
  reconfigure(options: { maxBytes: number; durability: Durability }): void {
    this.#maxBytes = options.maxBytes;
    this.#durability = options.durability;
  }

  /** Whether `bytes` more would fit. */
  hasRoomFor(bytes: number): boolean {
    return this.bytes + bytes <= this.#maxBytes;
  }

  /**
   * Appends records (each one line without '\n'); resolves when they are durable per the
   * configured durability. Throws SpoolFullError, without writing anything, when over the limit,
   * and SpoolRecordError when a record is empty, holds a newline or is over MAX_RECORD_BYTES.
   */
  append(records: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.reject(new SpoolClosedError());
    if (records.length === 0) return Promise.resolve();
    const bad = checkRecords(records);
    if (bad !== undefined) return Promise.reject(bad);
    const data = `${records.join('\n')}\n`;
    const bytes = Buffer.byteLength(data);
    if (!this.hasRoomFor(bytes)) return Promise.reject(new SpoolFullError(this.#maxBytes));
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ data, bytes, records: records.length, resolve, reject });
      this.#pendingBytes += bytes;
      if (!this.#flushing) void this.#flush();
    });
  }

  /**
   * Waits until at least one record is readable (or `signal` aborts), then returns up to
   * `maxRecords`. After a first record is available it waits up to `maxDelayMs` for
   * `fillRecords` (default `maxRecords`) to be there. Returns an empty batch when aborted.
   */
  async read(
    maxRecords: number,
    maxDelayMs: number,
    signal?: AbortSignal,
    fillRecords = maxRecords,
  ): Promise<SpoolBatch> {
    if (!this.#readable()) {
      await this.#waitForData(signal, undefined);
      if (!this.#readable()) return { records: [], skipped: 0, end: { ...this.#readPos } };
    }
    const fillBytes = Math.min(fillRecords, maxRecords) * 64;
    if (maxDelayMs > 0 && this.#readableBytesEstimate() < fillBytes) {
      await this.#waitForData(signal, maxDelayMs, fillBytes);
    }
    return this.#readRecords(maxRecords);
  }

  /** Marks everything up to `batch.end` delivered; deletes fully delivered segments. */
  async ack(batch: SpoolBatch): Promise<void> {
    this.#cursor = { ...batch.end };
    this.#recordsQueued = Math.max(0, this.#recordsQueued - batch.records.length);
    this.#cursorDirty = true;
    for (const segment of [...this.#segments.keys()]) {
      if (segment < this.#cursor.segment) {
        this.#segments.delete(segment);
        await rm(join(this.#dir, segmentName(segment)), { force: true });
      }
    }
    const now = Date.now();
    if (now - this.#cursorWrittenAt >= this.#cursorSyncMs) await this.#writeCursor();
    else if (this.#cursorTimer === undefined) {
      this.#cursorTimer = setTimeout(() => {
        this.#cursorTimer = undefined;
        void this.#writeCursor();
      }, this.#cursorSyncMs);
      this.#cursorTimer.unref();
    }
  }

  /** Re-reads from the last acknowledged position (after a failed delivery, nothing is skipped). */
  rewind(): void {
    this.#readPos = { ...this.#cursor };
  }

  /** Waits for pending appends, persists the cursor, closes files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing || this.#pending.length > 0) {
      await new Promise((r) => setTimeout(r, 1));
      if (!this.#flushing && this.#pending.length > 0) await this.#flush();
    }
    if (this.#cursorTimer !== undefined) clearTimeout(this.#cursorTimer);
    await this.#writeCursor();
    await this.#active.close();
    await this.#closeReader();
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #recover(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const names = (await readdir(this.#dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    for (const name of names) {
      const segment = Number.parseInt(name, 10);
      const { size } = await stat(join(this.#dir, name));
      this.#segments.set(segment, size);
    }
    const last = Math.max(0, ...this.#segments.keys());
    if (this.#segments.has(last)) await this.#cutTornTail(last);
    this.#cursor = await this.#readCursor(names.length > 0 ? Number.parseInt(names[0]!, 10) : 0);
    this.#readPos = { ...this.#cursor };
    this.#activeSegment = last + (this.#segments.has(last) ? 1 : 0);
    this.#active = await open(join(this.#dir, segmentName(this.#activeSegment)), 'a');
    this.#segments.set(this.#activeSegment, 0);
    this.#cursorWrittenAt = Date.now();
    // Exact count after a restart would need a full scan; an estimate is enough for a gauge.
    this.#recordsQueued = Math.round(this.bytes / 150);
  }

  /** Cuts a partial last record (written when the process died mid-append, never acknowledged). */
  async #cutTornTail(segment: number): Promise<void> {
    const path = join(this.#dir, segmentName(segment));
    const size = this.#segments.get(segment) ?? 0;
    if (size === 0) return;
    const fd = openSync(path, 'r');
    try {
      const window = Math.min(size, READ_CHUNK);
      const buf = Buffer.alloc(window);
      readSync(fd, buf, 0, window, size - window);
      const lastNewline = buf.lastIndexOf(0x0a);
      const keep = lastNewline < 0 ? size - window : size - window + lastNewline + 1;
      if (keep < size) {
        await truncate(path, keep);
        this.#segments.set(segment, keep);
      }
    } finally {
      closeSync(fd);
    }
  }

  async #readCursor(firstSegment: number): Promise<Position> {
    try {
      const text = await readFile(join(this.#dir, CURSOR_FILE), 'utf8');
      const [segment, offset] = text.trim().split(':').map(Number) as [number, number];
      if (Number.isInteger(segment) && Number.isInteger(offset) && this.#segments.has(segment)) {
        return { segment, offset: Math.min(offset, this.#segments.get(segment) ?? 0) };
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { segment: firstSegment, offset: 0 };
  }

  async #writeCursor(): Promise<void> {
    if (!this.#cursorDirty) return;
    this.#cursorDirty = false;
    this.#cursorWrittenAt = Date.now();
    const tmp = join(this.#dir, `${CURSOR_FILE}.tmp`);
    await writeFile(tmp, `${this.#cursor.segment}:${this.#cursor.offset}\n`);
    await rename(tmp, join(this.#dir, CURSOR_FILE));
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        let bytes = 0;
        let records = 0;
        for (const p of batch) {
          bytes += p.bytes;
          records += p.records;
        }
        try {
          if ((this.#segments.get(this.#activeSegment) ?? 0) >= this.#segmentBytes) await this.#rotate();
          await this.#active.write(batch.length === 1 ? batch[0]!.data : batch.map((p) => p.data).join(''));
          if (this.#durability === 'fsync') await this.#active.datasync();
          this.#pendingBytes -= bytes;
          this.#segments.set(this.#activeSegment, (this.#segments.get(this.#activeSegment) ?? 0) + bytes);
          this.#recordsQueued += records;
          for (const p of batch) p.resolve();
          for (const wake of this.#waiters.splice(0)) wake();
        } catch (err) {
          this.#pendingBytes -= bytes;
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #rotate(): Promise<void> {
    await this.#active.close();
    this.#activeSegment += 1;
    this.#active = await open(join(this.#dir, segmentName(this.#activeSegment)), 'a');
    this.#segments.set(this.#activeSegment, 0);
  }

  #readable(): boolean {
    return this.#readableBytesEstimate() > 0;
  }

  #readableBytesEstimate(): number {
    let total = 0;
    for (const [segment, size] of this.#segments) {
      if (segment === this.#readPos.segment) total += size - this.#readPos.offset;
      else if (segment > this.#readPos.segment) total += size;
    }
    return total;
  }

  #waitForData(signal: AbortSignal | undefined, timeoutMs: number | undefined, wantBytes = 1): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (this.#closed || signal?.aborted || this.#readableBytesEstimate() >= wantBytes) done();
        else this.#waiters.push(check);
      };
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      check();
    });
  }

  async #readRecords(maxRecords: number): Promise<SpoolBatch> {
    const records: string[] = [];
    let skipped = 0;
    let pos = { ...this.#readPos };
    // Sized for the batch: reading a whole 1 MiB chunk per batch of a few hundred records
    // copied ~10× what was used.
    let chunk = Math.min(READ_CHUNK, Math.max(MIN_READ, maxRecords * READ_BYTES_PER_RECORD));
    while (records.length < maxRecords) {
      const size = this.#segments.get(pos.segment);
      if (size === undefined) {
        // Segments are numbered consecutively; a gap means we are past the end.
        if (pos.segment >= this.#activeSegment) break;
        pos = { segment: pos.segment + 1, offset: 0 };
        continue;
      }
      if (pos.offset >= size) {
        if (pos.segment >= this.#activeSegment) break;
        pos = { segment: pos.segment + 1, offset: 0 };
        continue;
      }
      const want = Math.min(chunk, size - pos.offset);
      const handle = await this.#readerFor(pos.segment);
      let buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, pos.offset);
      buf = buf.subarray(0, bytesRead);
      let start = 0;
      while (records.length < maxRecords) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0) break;
        if (nl > start) records.push(buf.toString('utf8', start, nl));
        start = nl + 1;
      }
      if (start === 0) {
        // No whole record in the chunk: read more at once, up to READ_CHUNK.
        if (chunk < READ_CHUNK && want < size - pos.offset) {
          chunk = READ_CHUNK;
          continue;
        }
        // Not a record the reader can take: step over it rather than stall delivery on it.
        pos = await this.#setAside(pos, size, buf);
        skipped++;
        continue;
      }
      pos = { segment: pos.segment, offset: pos.offset + start };
    }
    this.#readPos = pos;
    if (this.#closed) await this.#closeReader(); // a read racing close() must not leak its handle
    return { records, skipped, end: { ...pos } };
  }

  /**
   * Copies the record at `pos` (whose first bytes are `head`, with no newline in them) to
   * set-aside/, reports it, and returns the position after it: after its newline, or the
   * segment's end when a closed segment ends without one.
   */
  async #setAside(pos: Position, size: number, head: Buffer): Promise<Position> {
    const handle = await this.#readerFor(pos.segment);
    let end = size;
    let terminated = false;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (let at = pos.offset + head.length; at < size; ) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(READ_CHUNK, size - at), at);
      if (bytesRead === 0) break;
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      if (nl >= 0) {
        end = at + nl;
        terminated = true;
        break;
      }
      at += bytesRead;
    }
    const next = { segment: pos.segment, offset: terminated ? end + 1 : end };
    const key = `${pos.segment}:${pos.offset}`;
    if (this.#setAsideSeen.has(key)) return next;
    this.#setAsideSeen.add(key);
    const bytes = end - pos.offset;
    const file = join(this.#dir, SET_ASIDE_DIR, `${segmentName(pos.segment)}.${pos.offset}`);
    await mkdir(join(this.#dir, SET_ASIDE_DIR), { recursive: true });
    const kept = Buffer.allocUnsafe(Math.min(bytes, SET_ASIDE_KEEP));
    const { bytesRead } = await handle.read(kept, 0, kept.length, pos.offset);
    await writeFile(file, kept.subarray(0, bytesRead));
    this.#onSetAside({
      segment: pos.segment,
      offset: pos.offset,
      bytes,
      file,
      reason: terminated ? 'too long' : 'unterminated',
    });
    return next;
  }

  /** A read handle on `segment`, reusing the last one while the reader stays in that segment. */
  async #readerFor(segment: number): Promise<FileHandle> {
    if (this.#reader?.segment === segment) return this.#reader.handle;
    await this.#closeReader();
    const handle = await open(join(this.#dir, segmentName(segment)), 'r');
    this.#reader = { segment, handle };
    return handle;
  }

  async #closeReader(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    await reader?.handle.close();
  }
}

/** The first record an append must refuse, as an error, or undefined when all are fine. */
function checkRecords(records: readonly string[]): SpoolRecordError | undefined {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    // A UTF-16 length over the limit/3 may still fit in UTF-8; only then is the byte count needed.
    if (r.length > MAX_RECORD_BYTES / 3 && Buffer.byteLength(r) > MAX_RECORD_BYTES) {
      return new SpoolRecordError(
        i,
        `is ${Buffer.byteLength(r)} bytes, over the limit of ${MAX_RECORD_BYTES}`,
      );
    }
    if (r === '') return new SpoolRecordError(i, 'is empty');
    if (r.includes('\n')) return new SpoolRecordError(i, 'holds a newline');
  }
  return undefined;
}
