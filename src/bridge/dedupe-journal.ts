/**
 * The de-duplication window on disk, so a Catchpoint re-delivery that reaches a restarted bridge
 * is still recognised (see dedupe.ts). Every stored key is appended as a fixed 32-byte entry
 * (testId, nodeId, timestamp, stored-at wall clock: four float64, exact up to 2^53) to a file
 * named by when it was started; on open the entries still inside the window are read back.
 *
 * Entries are written without fsync, in a batch at most FLUSH_MS after the push was stored, and
 * at close: a crash of the process loses nothing the OS has, and losing a key costs at worst one
 * duplicate write, never a datapoint. Disk is bounded like the memory: a file is closed after a
 * quarter of the window or of maxEntries, and whole files are deleted once every entry in them is
 * past the window or the newer files hold maxEntries without them.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface DedupeEntry {
  testId: number;
  nodeId: number;
  timestampMs: number;
  /** Wall-clock ms when the push was stored. */
  storedAt: number;
}

const ENTRY_BYTES = 32;
const SUFFIX = '.keys';
const FLUSH_MS = 50;

interface JournalFile {
  name: string;
  entries: number;
  startedAt: number;
  /** storedAt of its newest entry. */
  newestAt: number;
}

export interface DedupeJournalOptions {
  dir: string;
  windowMs: number;
  maxEntries: number;
  /** Errors writing the journal (full disk, …): de-duplication then degrades, pushes go on. */
  onError?: (err: unknown) => void;
}

export class DedupeJournal {
  readonly #dir: string;
  #windowMs: number;
  readonly #maxEntries: number;
  readonly #onError: (err: unknown) => void;
  readonly #files: JournalFile[] = [];
  #active: { file: JournalFile; handle: FileHandle } | undefined;
  #buffer = Buffer.allocUnsafe(64 * ENTRY_BYTES);
  #buffered = 0;
  #newestBuffered = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(options: DedupeJournalOptions) {
    this.#dir = options.dir;
    this.#windowMs = options.windowMs;
    this.#maxEntries = Math.max(1, Math.floor(options.maxEntries));
    this.#onError = options.onError ?? (() => {});
  }

  /** Opens the journal in `dir` and returns it with the entries still inside the window, oldest first. */
  static async open(
    options: DedupeJournalOptions,
    now = Date.now(),
  ): Promise<{ journal: DedupeJournal; entries: DedupeEntry[] }> {
    const journal = new DedupeJournal(options);
    const entries = await journal.#load(now);
    return { journal, entries };
  }

  set windowMs(ms: number) {
    this.#windowMs = ms;
  }

  /** Records a stored key; written within FLUSH_MS. */
  record(testId: number, nodeId: number, timestampMs: number, storedAt = Date.now()): void {
    if (this.#closed) return;
    if (this.#buffered + ENTRY_BYTES > this.#buffer.length) {
      const bigger = Buffer.allocUnsafe(this.#buffer.length * 2);
      this.#buffer.copy(bigger, 0, 0, this.#buffered);
      this.#buffer = bigger;
    }
    const at = this.#buffered;
    this.#buffer.writeDoubleLE(testId, at);
    this.#buffer.writeDoubleLE(nodeId, at + 8);
    this.#buffer.writeDoubleLE(timestampMs, at + 16);
    this.#buffer.writeDoubleLE(storedAt, at + 24);
    this.#buffered += ENTRY_BYTES;
    this.#newestBuffered = Math.max(this.#newestBuffered, storedAt);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** Writes what is buffered (one write at a time, in order). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#write()).catch((err) => this.#onError(err));
    return this.#writing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    this.#closed = true;
    await this.#active?.handle.close();
    this.#active = undefined;
  }

  async #write(): Promise<void> {
    if (this.#buffered === 0) return;
    const data = Buffer.from(this.#buffer.subarray(0, this.#buffered));
    const count = this.#buffered / ENTRY_BYTES;
    const newest = this.#newestBuffered;
    this.#buffered = 0;
    const active = await this.#activeFile(newest);
    await active.handle.write(data);
    active.file.entries += count;
    active.file.newestAt = Math.max(active.file.newestAt, newest);
  }

  /** The file to append to: a new one when there is none or the current one is full. */
  async #activeFile(now: number): Promise<{ file: JournalFile; handle: FileHandle }> {
    const current = this.#active;
    if (
      current !== undefined &&
      current.file.entries < this.#maxEntries / 4 &&
      now - current.file.startedAt < this.#windowMs / 4
    ) {
      return current;
    }
    await current?.handle.close();
    this.#active = undefined;
    await this.#prune(now);
    // Named by start time; a suffix keeps two files started in the same millisecond apart.
    let startedAt = now;
    while (this.#files.some((f) => f.startedAt === startedAt)) startedAt++;
    const file: JournalFile = {
      name: `${String(startedAt).padStart(15, '0')}${SUFFIX}`,
      entries: 0,
      startedAt,
      newestAt: 0,
    };
    await mkdir(this.#dir, { recursive: true });
    const handle = await open(join(this.#dir, file.name), 'a');
    this.#files.push(file);
    this.#active = { file, handle };
    return this.#active;
  }

  /** Deletes whole files that are past the window, or beyond maxEntries counting from the newest. */
  async #prune(now: number): Promise<void> {
    let newer = 0;
    const keep: JournalFile[] = [];
    for (const file of [...this.#files].reverse()) {
      const expired = file.newestAt + this.#windowMs <= now;
      if (expired || newer >= this.#maxEntries) await rm(join(this.#dir, file.name), { force: true });
      else keep.unshift(file);
      newer += file.entries;
    }
    this.#files.splice(0, this.#files.length, ...keep);
  }

  async #load(now: number): Promise<DedupeEntry[]> {
    let names: string[];
    try {
      names = (await readdir(this.#dir)).filter((n) => n.endsWith(SUFFIX)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const entries: DedupeEntry[] = [];
    for (const name of names) {
      const path = join(this.#dir, name);
      const data = await readFile(path);
      // A file from a crash may end in part of an entry: only whole entries count.
      const whole = Math.floor(data.length / ENTRY_BYTES);
      const file: JournalFile = { name, entries: whole, startedAt: Number.parseInt(name, 10), newestAt: 0 };
      for (let i = 0; i < whole; i++) {
        const at = i * ENTRY_BYTES;
        const storedAt = data.readDoubleLE(at + 24);
        file.newestAt = Math.max(file.newestAt, storedAt);
        if (storedAt + this.#windowMs <= now) continue;
        entries.push({
          testId: data.readDoubleLE(at),
          nodeId: data.readDoubleLE(at + 8),
          timestampMs: data.readDoubleLE(at + 16),
          storedAt,
        });
      }
      this.#files.push(file);
    }
    await this.#prune(now);
    // Newest maxEntries only, as the memory keeps.
    return entries.length > this.#maxEntries ? entries.slice(entries.length - this.#maxEntries) : entries;
  }
}
