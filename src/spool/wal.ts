/**
 * The write-ahead spool: every datapoint the bridge acknowledges is first appended here, and the
 * delivery loop reads it back from here. It is the queue, so a TSDB outage, a restart or a crash
 * loses nothing acknowledged, and memory stays flat however long the outage: points wait on disk.
 *
 * Layout: numbered segment files (`*.seg`) of framed records (one encoded datapoint each) and a
 * `cursor.pos` file naming the first record not yet delivered. A frame is
 * `<length: 8 hex><crc32: 8 hex><record>\n`: the newline lets the reader find the next record
 * after a bad one, the length and checksum tell a torn or corrupt record from a whole one (as
 * etcd's and Prometheus' WALs do), and the text stays readable with `cat`. Appends are
 * group-committed: every append that arrives while a write+fsync is in flight joins the next one,
 * so under load the cost is one fsync per few milliseconds, not one per push.
 *
 * Guarantees:
 *  - `append` resolves only after its records are written (and, with durability `fsync`,
 *    fdatasync'ed). A crash loses only appends that had not resolved, which were never
 *    acknowledged.
 *  - A failed or short write (ENOSPC, EDQUOT, EIO) rejects its appends with SpoolDiskError and
 *    cuts the segment back to its last durable size before anything else is appended, so a torn
 *    record never joins the next one. Below the free-space reserve (`reserveBytes`, checked with
 *    statfs) appends are refused before the disk is full; either way the refusal lasts only while
 *    the cause does.
 *  - Delivery is at least once: the cursor is persisted after the TSDB accepted a batch, at most
 *    `cursorSyncMs` apart, so a crash may re-send up to that much. OpenTSDB treats a re-sent
 *    identical point as a no-op.
 *  - A torn record at the end of the last segment (crash mid-write) is cut off on open and
 *    reported in `repairedOnOpen`.
 *  - Delivery never stalls on a record: appends refuse records over MAX_RECORD_BYTES, and a
 *    record the reader still cannot take (a frame whose length or checksum does not match, no
 *    newline within READ_CHUNK bytes, a closed segment ending mid-record: disk corruption, a
 *    foreign file) is copied to `set-aside/`, reported once through `onSetAside`, and stepped over.
 *  - A spool written by v0.1 (newline-terminated records in `*.wal`, cursor in `cursor`) is
 *    converted on open: its undelivered records are framed into a new segment, then the old
 *    files are removed (see #convertLegacy).
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
  statfs,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CodedError } from '../shared/errors.ts';

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
  /**
   * Free bytes to keep on the spool's filesystem, given its size: appends are refused with
   * SpoolDiskError('low disk space') below it. Without it only a failed write refuses.
   */
  reserveBytes?: (filesystemBytes: number) => number;
}

/** A record the reader could not take, kept in `file` for a person to look at. */
export interface SetAsideRecord {
  segment: number;
  offset: number;
  bytes: number;
  file: string;
  reason: 'too long' | 'unterminated' | 'corrupt';
}

/** What open() cut off the last segment: a record torn by a crash mid-write, never acknowledged. */
export interface TornTail {
  segment: number;
  bytes: number;
}

/** What open() converted from a v0.1 spool (see #convertLegacy). */
export interface LegacyConversion {
  records: number;
  segments: number;
}

/**
 * Longest record an append takes. A datapoint is ~150 bytes and its tags are bounded
 * (opentsdb/validate.ts); the bound is what keeps every record within one read.
 */
export const MAX_RECORD_BYTES = 64 << 10;

export class SpoolRecordError extends CodedError<'CPB_ERR_SPOOL_RECORD'> {
  /** Index of the first bad record in the append. */
  readonly index: number;
  constructor(index: number, reason: string) {
    super('CPB_ERR_SPOOL_RECORD', `record ${index} ${reason}`);
    this.index = index;
  }
}

export class SpoolFullError extends CodedError<'CPB_ERR_SPOOL_FULL'> {
  constructor(maxBytes: number) {
    super('CPB_ERR_SPOOL_FULL', `spool is full (${maxBytes} bytes); the TSDB is not keeping up or is down`);
  }
}

export type SpoolDiskReason = 'no space' | 'quota exceeded' | 'io error' | 'short write' | 'low disk space';

/**
 * The spool's disk cannot take an append (full, over quota, failing, or below the reserve).
 * Nothing of the refused append is kept; the pusher retries later (503).
 */
export class SpoolDiskError extends CodedError<'CPB_ERR_SPOOL_DISK'> {
  readonly reason: SpoolDiskReason;
  /** The system error code (ENOSPC, EDQUOT, EIO, …) when there was one. */
  readonly errno: string | undefined;
  constructor(reason: SpoolDiskReason, errno?: string) {
    super(
      'CPB_ERR_SPOOL_DISK',
      `spool disk: ${reason}${errno === undefined ? '' : ` (${errno})`}; appends are refused until it clears`,
    );
    this.reason = reason;
    this.errno = errno;
  }
}

export class SpoolClosedError extends CodedError<'CPB_ERR_SPOOL_CLOSED'> {
  constructor() {
    super('CPB_ERR_SPOOL_CLOSED', 'spool is closed');
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

const SEGMENT_SUFFIX = '.seg';
const CURSOR_FILE = 'cursor.pos';
/** v0.1's layout: newline-terminated records, no frame. */
const LEGACY_SEGMENT_SUFFIX = '.wal';
const LEGACY_CURSOR_FILE = 'cursor';
const CONVERSION_FILE = 'convert.tmp';
const SET_ASIDE_DIR = 'set-aside';
/** `<length: 8 hex><crc32: 8 hex>` before each record. */
export const FRAME_HEADER_BYTES = 16;
/** Least time between two statfs calls while appends come in; writes in between are subtracted. */
const STATFS_INTERVAL_MS = 250;
/** Largest read; also the longest record the reader can take. */
const READ_CHUNK = 1 << 20;
/** Bytes of one set-aside record kept for inspection. */
const SET_ASIDE_KEEP = READ_CHUNK;
/** Bytes read per wanted record: encoded datapoints are ~150 bytes, so one read usually does. */
const READ_BYTES_PER_RECORD = 256;
const MIN_READ = 64 << 10;

function segmentName(n: number, suffix = SEGMENT_SUFFIX): string {
  return `${String(n).padStart(12, '0')}${suffix}`;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** One record framed for a segment (see the header). */
export function frameRecord(record: string, bytes = Buffer.byteLength(record)): string {
  return `${hex8(bytes)}${hex8(crc32(record))}${record}\n`;
}

/** Value of 8 lowercase hex digits at `at`, or -1 when they are not that. */
function readHex8(buf: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < at + 8; i++) {
    const c = buf[i]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/** The record framed in `buf[start, newline)`, or undefined when its frame does not hold. */
export function unframeRecord(buf: Buffer, start: number, newline: number): string | undefined {
  const bytes = newline - start - FRAME_HEADER_BYTES;
  if (bytes <= 0 || readHex8(buf, start) !== bytes) return undefined;
  const record = buf.subarray(start + FRAME_HEADER_BYTES, newline);
  if (readHex8(buf, start + 8) !== crc32(record)) return undefined;
  return record.toString('utf8');
}

/** The refusal an append's failed write becomes. */
function diskError(err: unknown): SpoolDiskError | undefined {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno !== 'string' || !errno.startsWith('E')) return undefined;
  const reason: SpoolDiskReason =
    errno === 'ENOSPC' ? 'no space' : errno === 'EDQUOT' ? 'quota exceeded' : 'io error';
  return new SpoolDiskError(reason, errno);
}

export class WriteAheadSpool {
  readonly #dir: string;
  #maxBytes: number;
  #durability: Durability;
  readonly #segmentBytes: number;
  readonly #cursorSyncMs: number;
  readonly #onSetAside: (record: SetAsideRecord) => void;
  readonly #reserveBytes: ((filesystemBytes: number) => number) | undefined;

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
  /** A write failed and the active segment may hold part of it: cut back before the next write. */
  #tornActive = false;
  /** Free space on the spool's filesystem, as of the last statfs less what was written since. */
  #disk: { freeBytes: number; reserveBytes: number; checkedAt: number } | undefined;
  #statfsInFlight = false;

  /** The torn record open() cut off the last segment, if any. */
  repairedOnOpen: TornTail | undefined;
  /** What open() converted from a v0.1 spool, if there was one. */
  converted: LegacyConversion | undefined;

  private constructor(options: SpoolOptions) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#durability = options.durability;
    this.#segmentBytes = options.segmentBytes ?? 16 << 20;
    this.#cursorSyncMs = options.cursorSyncMs ?? 1000;
    this.#onSetAside = options.onSetAside ?? (() => {});
    this.#reserveBytes = options.reserveBytes;
  }

  static async open(options: SpoolOptions): Promise<WriteAheadSpool> {
    const spool = new WriteAheadSpool(options);
    await spool.#recover();
    await spool.#checkDisk();
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

  /** Whether `bytes` more would fit: under the limit, and above the disk reserve. */
  hasRoomFor(bytes: number): boolean {
    return this.bytes + bytes <= this.#maxBytes && !this.#belowReserve(bytes);
  }

  /**
   * Appends records (each one line without '\n'); resolves when they are durable per the
   * configured durability. Refuses, writing nothing of them: SpoolFullError over the limit,
   * SpoolDiskError below the disk reserve or when the write fails, SpoolRecordError when a record
   * is empty, holds a newline or is over MAX_RECORD_BYTES.
   */
  append(records: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.reject(new SpoolClosedError());
    if (records.length === 0) return Promise.resolve();
    const bad = checkRecords(records);
    if (bad !== undefined) return Promise.reject(bad);
    let data = '';
    for (const r of records) data += frameRecord(r);
    const bytes = Buffer.byteLength(data);
    if (this.bytes + bytes > this.#maxBytes) return Promise.reject(new SpoolFullError(this.#maxBytes));
    if (this.#belowReserve(bytes)) return Promise.reject(new SpoolDiskError('low disk space'));
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
        if (this.#disk !== undefined) this.#disk.checkedAt = 0; // space came back: read it anew
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
    await this.#convertLegacy();
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
        this.repairedOnOpen = { segment, bytes: size - keep };
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Converts a v0.1 spool in place: the records after its cursor, framed, become one new segment
   * after any already there; then its cursor and its segments are removed, in that order. A
   * crash part-way leaves the v0.1 files, and the next open converts them again: records may be
   * sent twice (OpenTSDB keeps one of identical points), never lost. A v0.1 segment is at most
   * about segmentBytes, so each is read whole.
   */
  async #convertLegacy(): Promise<void> {
    const legacy = (await readdir(this.#dir)).filter((n) => n.endsWith(LEGACY_SEGMENT_SUFFIX)).sort();
    if (legacy.length === 0) return;
    const numbers = legacy.map((n) => Number.parseInt(n, 10));
    let from = { segment: numbers[0]!, offset: 0 };
    try {
      const [segment, offset] = (await readFile(join(this.#dir, LEGACY_CURSOR_FILE), 'utf8'))
        .trim()
        .split(':')
        .map(Number) as [number, number];
      if (Number.isInteger(segment) && Number.isInteger(offset) && numbers.includes(segment))
        from = { segment, offset };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const existing = (await readdir(this.#dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const target = existing.length === 0 ? 0 : Number.parseInt(existing.at(-1)!, 10) + 1;
    const tmp = join(this.#dir, CONVERSION_FILE);
    const out = await open(tmp, 'w');
    let records = 0;
    try {
      for (const [i, segment] of numbers.entries()) {
        if (segment < from.segment) continue;
        const data = await readFile(join(this.#dir, legacy[i]!));
        // The last segment's bytes after its last newline are a torn record: never acknowledged.
        const end = i === numbers.length - 1 ? data.lastIndexOf(0x0a) + 1 : data.length;
        let framed = '';
        for (let start = segment === from.segment ? from.offset : 0; start < end; ) {
          let nl = data.indexOf(0x0a, start);
          if (nl < 0 || nl > end) nl = end;
          const record = data.toString('utf8', start, nl);
          if (Buffer.byteLength(record) > MAX_RECORD_BYTES) {
            await this.#keepAside(segment, start, data.subarray(start, nl), 'too long');
          } else if (record !== '') {
            framed += frameRecord(record);
            records++;
          }
          start = nl + 1;
          if (framed.length >= 1 << 20) {
            await out.write(framed);
            framed = '';
          }
        }
        await out.write(framed);
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    if (records > 0) await rename(tmp, join(this.#dir, segmentName(target)));
    else await rm(tmp, { force: true });
    await syncDir(this.#dir);
    await rm(join(this.#dir, LEGACY_CURSOR_FILE), { force: true });
    for (const name of legacy) await rm(join(this.#dir, name), { force: true });
    this.converted = { records, segments: legacy.length };
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

  /**
   * Persists the cursor. Never throws: a cursor that could not be written (a full disk) only
   * means records re-sent after a restart, which delivery's at-least-once already allows; the
   * next ack tries again.
   */
  async #writeCursor(): Promise<void> {
    if (!this.#cursorDirty) return;
    this.#cursorDirty = false;
    this.#cursorWrittenAt = Date.now();
    const tmp = join(this.#dir, `${CURSOR_FILE}.tmp`);
    try {
      await writeFile(tmp, `${this.#cursor.segment}:${this.#cursor.offset}\n`);
      await rename(tmp, join(this.#dir, CURSOR_FILE));
    } catch {
      this.#cursorDirty = true;
    }
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
          await this.#write(batch.length === 1 ? batch[0]!.data : batch.map((p) => p.data).join(''), bytes);
          this.#pendingBytes -= bytes;
          this.#recordsQueued += records;
          if (this.#disk !== undefined) this.#disk.freeBytes -= bytes;
          for (const p of batch) p.resolve();
          for (const wake of this.#waiters.splice(0)) wake();
        } catch (err) {
          this.#pendingBytes -= bytes;
          const refusal = diskError(err) ?? err;
          for (const p of batch) p.reject(refusal);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Writes `data` (`bytes` long) at the end of the active segment. After a failed or short write
   * the segment is cut back to its durable size first, so what follows never joins a torn record;
   * while that cut fails, every write is refused.
   */
  async #write(data: string, bytes: number): Promise<void> {
    const durable = this.#segments.get(this.#activeSegment) ?? 0;
    if (this.#tornActive) {
      await this.#active.truncate(durable);
      this.#tornActive = false;
    }
    if (durable >= this.#segmentBytes) await this.#rotate();
    try {
      const { bytesWritten } = await this.#active.write(data);
      if (bytesWritten !== bytes) throw new SpoolDiskError('short write');
      if (this.#durability === 'fsync') await this.#active.datasync();
    } catch (err) {
      this.#tornActive = true;
      // Cut back now (the disk may have room for a truncate even when not for a write); if
      // this fails too, the next write tries again before writing.
      await this.#active
        .truncate(this.#segments.get(this.#activeSegment) ?? 0)
        .then(() => {
          this.#tornActive = false;
        })
        .catch(() => {});
      throw err;
    }
    this.#segments.set(this.#activeSegment, (this.#segments.get(this.#activeSegment) ?? 0) + bytes);
  }

  async #rotate(): Promise<void> {
    // Open the next before closing this one: a failed open leaves the spool writing where it was.
    const next = await open(join(this.#dir, segmentName(this.#activeSegment + 1)), 'a');
    await this.#active.close();
    this.#activeSegment += 1;
    this.#active = next;
    this.#segments.set(this.#activeSegment, 0);
  }

  /** Whether `bytes` more would take the filesystem below the reserve (refreshing it now and then). */
  #belowReserve(bytes: number): boolean {
    if (this.#disk === undefined) return false;
    if (Date.now() - this.#disk.checkedAt >= STATFS_INTERVAL_MS) void this.#checkDisk();
    return this.#disk.freeBytes - this.#pendingBytes - bytes < this.#disk.reserveBytes;
  }

  async #checkDisk(): Promise<void> {
    if (this.#reserveBytes === undefined || this.#statfsInFlight) return;
    this.#statfsInFlight = true;
    try {
      const fs = await statfs(this.#dir);
      this.#disk = {
        freeBytes: fs.bavail * fs.bsize,
        reserveBytes: this.#reserveBytes(fs.blocks * fs.bsize),
        checkedAt: Date.now(),
      };
    } catch {
      // Keep the last reading; a failing disk shows in the writes themselves.
      if (this.#disk !== undefined) this.#disk.checkedAt = Date.now();
    } finally {
      this.#statfsInFlight = false;
    }
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
      let corruptEnd = -1;
      while (records.length < maxRecords) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0) break;
        if (nl > start) {
          const record = unframeRecord(buf, start, nl);
          if (record === undefined) {
            corruptEnd = nl;
            break;
          }
          records.push(record);
        }
        start = nl + 1;
      }
      if (corruptEnd >= 0) {
        // A whole line whose frame does not hold: set it aside, go on after its newline.
        const at = { segment: pos.segment, offset: pos.offset + start };
        await this.#keepAside(at.segment, at.offset, buf.subarray(start, corruptEnd), 'corrupt');
        pos = { segment: pos.segment, offset: pos.offset + corruptEnd + 1 };
        skipped++;
        continue;
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
   * Sets aside the record at `pos` (whose first bytes are `head`, with no newline in them) and
   * returns the position after it: after its newline, or the segment's end when a closed segment
   * ends without one.
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
    const kept = Buffer.allocUnsafe(Math.min(end - pos.offset, SET_ASIDE_KEEP));
    const { bytesRead } = await handle.read(kept, 0, kept.length, pos.offset);
    await this.#keepAside(
      pos.segment,
      pos.offset,
      kept.subarray(0, bytesRead),
      terminated ? 'too long' : 'unterminated',
      end - pos.offset,
    );
    return { segment: pos.segment, offset: terminated ? end + 1 : end };
  }

  /**
   * Copies a record the reader steps over (its first SET_ASIDE_KEEP bytes, `head`) to
   * set-aside/ and reports it, once per position. The copy is best effort: on a full disk the
   * record is still reported and stepped over, so delivery goes on.
   */
  async #keepAside(
    segment: number,
    offset: number,
    head: Buffer,
    reason: SetAsideRecord['reason'],
    bytes = head.length,
  ): Promise<void> {
    const key = `${segment}:${offset}`;
    if (this.#setAsideSeen.has(key)) return;
    this.#setAsideSeen.add(key);
    let file = join(this.#dir, SET_ASIDE_DIR, `${segmentName(segment)}.${offset}`);
    try {
      await mkdir(join(this.#dir, SET_ASIDE_DIR), { recursive: true });
      await writeFile(file, head.subarray(0, SET_ASIDE_KEEP));
    } catch {
      file = '';
    }
    this.#onSetAside({ segment, offset, bytes, file, reason });
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

/** Makes a rename in `dir` durable (Linux: fsync on the directory). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
