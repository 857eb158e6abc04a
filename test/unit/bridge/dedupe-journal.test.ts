import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Deduper } from '../../../src/bridge/dedupe.ts';
import { DedupeJournal } from '../../../src/bridge/dedupe-journal.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cpb-dedupe-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const HOUR = 3600_000;
const T0 = 1_700_000_000_000;

/** A Deduper wired to a journal in `dir`, as the Bridge wires them, at wall-clock `now`. */
async function open(dir: string, now: number, windowMs = 2 * HOUR, maxEntries = 1000) {
  const { journal, entries } = await DedupeJournal.open({ dir, windowMs, maxEntries }, now);
  const deduper = new Deduper(windowMs, maxEntries, (t, n, ts) => journal.record(t, n, ts, now));
  deduper.restore(entries, now);
  return { journal, deduper, restored: entries.length };
}

async function store(d: Deduper, testId: number, nodeId: number, ts: number, now: number) {
  const r = await d.check(testId, nodeId, ts, now);
  if (r.kind === 'new') r.settle(true);
  return r.kind;
}

describe('dedupe journal', () => {
  it('keys stored before a restart are duplicates after it, until their window ends', async () => {
    const dir = await tempDir();
    let { journal, deduper } = await open(dir, T0);
    const big = Number.MAX_SAFE_INTEGER;
    assert.equal(await store(deduper, 1, 2, T0 - 5000, T0), 'new');
    assert.equal(await store(deduper, big, big - 1, 4_102_444_800_000, T0), 'new');
    const failed = await deduper.check(3, 3, 3, T0);
    if (failed.kind === 'new') failed.settle(false); // never stored: must not be remembered
    await journal.close();

    ({ journal, deduper } = await open(dir, T0 + HOUR));
    assert.equal(await store(deduper, 1, 2, T0 - 5000, T0 + HOUR), 'duplicate');
    assert.equal(await store(deduper, big, big - 1, 4_102_444_800_000, T0 + HOUR), 'duplicate');
    assert.equal(await store(deduper, big, big - 1, 4_102_444_800_001, T0 + HOUR), 'new', 'exact keys');
    assert.equal(await store(deduper, 3, 3, 3, T0 + HOUR), 'new', 'a push that was never stored');
    await journal.close();

    // Two hours after the first keys were stored they are gone; the ones stored at T0+1h stay.
    const later = await open(dir, T0 + 2 * HOUR + 1);
    assert.equal(later.restored, 2);
    assert.equal(await store(later.deduper, 1, 2, T0 - 5000, T0 + 2 * HOUR + 1), 'new');
    assert.equal(await store(later.deduper, 3, 3, 3, T0 + 2 * HOUR + 1), 'duplicate');
    await later.journal.close();
  });

  it('a journal cut mid-entry by a crash keeps its whole entries', async () => {
    const dir = await tempDir();
    const { journal, deduper } = await open(dir, T0);
    for (let i = 0; i < 10; i++) await store(deduper, 1, i, T0, T0);
    await journal.close();
    const [file] = await readdir(dir);
    assert.equal((await stat(join(dir, file!))).size, 10 * 32);
    await appendFile(join(dir, file!), Buffer.alloc(13, 7));
    const reopened = await open(dir, T0 + 1);
    assert.equal(reopened.restored, 10);
    assert.equal(await store(reopened.deduper, 1, 9, T0, T0 + 1), 'duplicate');
    await reopened.journal.close();
  });

  it('the journal is written within a moment, without close (a SIGKILL loses at most that moment)', async () => {
    const dir = await tempDir();
    const { deduper } = await open(dir, T0);
    await store(deduper, 5, 5, T0, T0);
    await new Promise((r) => setTimeout(r, 150));
    const other = await DedupeJournal.open({ dir, windowMs: 2 * HOUR, maxEntries: 1000 }, T0 + 1);
    assert.deepEqual(
      other.entries.map((e) => [e.testId, e.nodeId, e.timestampMs]),
      [[5, 5, T0]],
    );
    await other.journal.close();
  });

  it('disk stays bounded: files past the window or beyond maxEntries are deleted', async () => {
    const dir = await tempDir();
    const maxEntries = 100;
    let now = T0;
    const { journal, deduper } = await open(dir, now, 2 * HOUR, maxEntries);
    // 1000 keys over 4 hours: 10× maxEntries and twice the window.
    for (let i = 0; i < 1000; i++) {
      now = T0 + i * 15_000;
      const r = await deduper.check(1, i, T0, now);
      if (r.kind === 'new') r.settle(true);
      journal.record(9, i, T0, now); // as the Bridge's hook would, at this wall clock
      await journal.flush();
    }
    await journal.close();
    let bytes = 0;
    for (const f of await readdir(dir)) bytes += (await stat(join(dir, f))).size;
    // Two entries per key here (the hook and the explicit record): bounded by ~maxEntries + a file.
    assert.ok(bytes <= (maxEntries + maxEntries / 4 + 1) * 32 * 2, `${bytes} bytes on disk`);
    const reopened = await DedupeJournal.open({ dir, windowMs: 2 * HOUR, maxEntries }, now);
    assert.ok(reopened.entries.length <= maxEntries);
    assert.ok(
      reopened.entries.some((e) => e.nodeId === 999),
      'the newest keys are kept',
    );
    await reopened.journal.close();
  });
});
