import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  MAX_RECORD_BYTES,
  type SetAsideRecord,
  SpoolFullError,
  SpoolRecordError,
  WriteAheadSpool,
} from '../../../src/spool/wal.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cpb-wal-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const records = (n: number, tag = 'r') => Array.from({ length: n }, (_, i) => `{"${tag}":${i}}`);

test('appended records are read back in order and acked', async () => {
  const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 1 << 20, durability: 'fsync' });
  await spool.append(records(3, 'a'));
  await spool.append(records(2, 'b'));
  const batch = await spool.read(10, 0);
  assert.deepEqual(batch.records, [...records(3, 'a'), ...records(2, 'b')]);
  await spool.ack(batch);
  assert.equal(spool.bytes, 0);
  await spool.close();
});

test('concurrent appends are group-committed and none is lost', async () => {
  const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 1 << 24, durability: 'fsync' });
  await Promise.all(Array.from({ length: 500 }, (_, i) => spool.append([`{"i":${i}}`])));
  const got: string[] = [];
  while (got.length < 500) {
    const b = await spool.read(128, 0);
    got.push(...b.records);
    await spool.ack(b);
  }
  assert.equal(new Set(got).size, 500);
  await spool.close();
});

test('a restart resumes after the last acknowledged record, across segments', async () => {
  const dir = await tempDir();
  let spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 24, durability: 'fsync', segmentBytes: 256 });
  for (let i = 0; i < 40; i++) await spool.append([`{"n":${i}}`]);
  const first = await spool.read(15, 0);
  await spool.ack(first);
  await spool.read(5, 0); // read but not acked: must be delivered again after restart
  await spool.close();
  spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 24, durability: 'fsync', segmentBytes: 256 });
  const rest: string[] = [];
  for (;;) {
    const b = await spool.read(100, 0, AbortSignal.timeout(50));
    if (b.records.length === 0) break;
    rest.push(...b.records);
    await spool.ack(b);
  }
  assert.deepEqual(
    rest,
    Array.from({ length: 25 }, (_, i) => `{"n":${i + 15}}`),
  );
  assert.ok(
    (await readdir(dir)).filter((n) => n.endsWith('.wal')).length <= 2,
    'delivered segments are deleted',
  );
  await spool.close();
});

test('a torn record at the tail (crash mid-write) is cut off on open', async () => {
  const dir = await tempDir();
  let spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
  await spool.append(['{"ok":1}']);
  await spool.close();
  const seg = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  await appendFile(join(dir, seg[0]!), '{"torn":');
  spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
  const b = await spool.read(10, 0);
  assert.deepEqual(b.records, ['{"ok":1}']);
  await spool.append(['{"ok":2}']);
  const c = await spool.read(10, 0);
  assert.deepEqual(c.records, ['{"ok":2}']);
  await spool.close();
});

test('past maxBytes an append is refused whole and nothing is written', async () => {
  const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 100, durability: 'buffered' });
  await spool.append(records(5));
  await assert.rejects(spool.append(records(20)), (err: unknown) => err instanceof SpoolFullError);
  const b = await spool.read(100, 0);
  assert.equal(b.records.length, 5);
  await spool.ack(b);
  await spool.append(records(5));
  await spool.close();
});

test('read waits for data and honours maxDelay to fill a batch', async () => {
  const spool = await WriteAheadSpool.open({
    dir: await tempDir(),
    maxBytes: 1 << 20,
    durability: 'buffered',
  });
  const pending = spool.read(3, 50);
  setTimeout(() => void spool.append(['{"late":1}']), 20);
  const b = await pending;
  assert.deepEqual(b.records, ['{"late":1}']);
  await spool.close();
});

test('read takes a backlog up to maxRecords, but waits only for fillRecords to be there', async () => {
  const spool = await WriteAheadSpool.open({
    dir: await tempDir(),
    maxBytes: 1 << 24,
    durability: 'buffered',
  });
  // A backlog of 3 requests' worth (the delivery loop reads ahead 4 × batchMaxPoints), records
  // the size of datapoints (the fill check estimates 64 bytes per record).
  const datapoint = (i: number) =>
    `{"metric":"catchpoint.rtt.by_node.1","value":${i},"tags":{"nodeid":"${i}"}}`;
  await spool.append(Array.from({ length: 1500 }, (_, i) => datapoint(i)));
  const started = performance.now();
  const b = await spool.read(2000, 5_000, undefined, 500);
  assert.equal(b.records.length, 1500, 'the whole backlog in one batch');
  assert.ok(performance.now() - started < 1_000, 'no wait for 2000: 500 were already there');
  await spool.ack(b);
  // Less than fillRecords: waits up to maxDelay for the rest, then returns what it has.
  await spool.append(records(10, 'trickle'));
  const t0 = performance.now();
  const c = await spool.read(2000, 100, undefined, 500);
  assert.equal(c.records.length, 10);
  assert.ok(performance.now() - t0 >= 90, 'waited for the batch to fill');
  await spool.close();
});

test('the limit can change live: raising it lets refused appends in, nothing spooled is dropped', async () => {
  const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 100, durability: 'fsync' });
  await spool.append(records(5));
  await assert.rejects(spool.append(records(20)), (err: unknown) => err instanceof SpoolFullError);
  spool.reconfigure({ maxBytes: 10_000, durability: 'buffered' });
  await spool.append(records(20));
  spool.reconfigure({ maxBytes: 50, durability: 'fsync' });
  await assert.rejects(spool.append(records(1)), (err: unknown) => err instanceof SpoolFullError);
  const b = await spool.read(100, 0);
  assert.equal(b.records.length, 25, 'a lower limit drops nothing already spooled');
  await spool.close();
});

test('an append refuses, whole, a record over MAX_RECORD_BYTES, an empty one or one with a newline', async () => {
  const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 1 << 24, durability: 'fsync' });
  for (const [bad, index, reason] of [
    [['{"ok":1}', 'x'.repeat(MAX_RECORD_BYTES + 1)], 1, /over the limit/],
    [['é'.repeat(MAX_RECORD_BYTES / 2 + 1)], 0, /over the limit/], // within the limit in UTF-16, not in UTF-8
    [['{"ok":1}', ''], 1, /empty/],
    [['a\nb'], 0, /newline/],
  ] as const) {
    await assert.rejects(spool.append(bad), (err: unknown) => {
      assert.ok(err instanceof SpoolRecordError);
      assert.equal(err.index, index);
      assert.match(err.message, reason);
      return true;
    });
  }
  assert.equal(spool.bytes, 0);
  await spool.append(['x'.repeat(MAX_RECORD_BYTES)]); // the limit itself fits
  assert.equal((await spool.read(10, 0)).records[0]?.length, MAX_RECORD_BYTES);
  await spool.close();
});

/** Reads until the spool is empty, acking every batch, as delivery does. */
async function drain(spool: WriteAheadSpool): Promise<{ records: string[]; skipped: number }> {
  const records: string[] = [];
  let skipped = 0;
  for (;;) {
    const b = await spool.read(100, 0, AbortSignal.timeout(100));
    if (b.records.length === 0 && b.skipped === 0) return { records, skipped };
    records.push(...b.records);
    skipped += b.skipped;
    await spool.ack(b);
  }
}

test('a record the reader cannot take is set aside once, and reading goes on past it', async () => {
  const dir = await tempDir();
  let spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 26, durability: 'fsync', segmentBytes: 4096 });
  await spool.append(records(3, 'a'));
  await spool.close();
  // Written behind the spool's back (a corrupt or foreign segment): a 3 MiB line in segment 0,
  // then a segment that ends mid-record (only the last segment's torn tail is cut on open).
  const huge = 'h'.repeat(3 << 20);
  await appendFile(join(dir, '000000000000.wal'), `${huge}\n{"b":0}\n`);
  await writeFile(join(dir, '000000000001.wal'), '{"c":0}\n{"c":1', { flag: 'w' });
  await writeFile(join(dir, '000000000002.wal'), '{"d":0}\n');
  const setAside: SetAsideRecord[] = [];
  spool = await WriteAheadSpool.open({
    dir,
    maxBytes: 1 << 26,
    durability: 'fsync',
    segmentBytes: 4096,
    onSetAside: (r) => setAside.push(r),
  });
  await spool.append(['{"e":0}']);
  // A read that fails delivery and rewinds reads the bad records again: reported only once.
  await spool.read(100, 0);
  spool.rewind();
  const got = await drain(spool);
  assert.deepEqual(got.records, [...records(3, 'a'), '{"b":0}', '{"c":0}', '{"d":0}', '{"e":0}']);
  assert.equal(got.skipped, 2);
  assert.deepEqual(
    setAside.map(({ segment, bytes, reason }) => ({ segment, bytes, reason })),
    [
      { segment: 0, bytes: huge.length, reason: 'too long' },
      { segment: 1, bytes: '{"c":1'.length, reason: 'unterminated' },
    ],
  );
  assert.equal(spool.bytes, 0);
  // Kept for a person to look at: the head of the long one, the whole short one.
  assert.equal(await readFile(setAside[1]!.file, 'utf8'), '{"c":1');
  assert.equal((await readFile(setAside[0]!.file)).length, 1 << 20);
  await spool.close();
  // Acknowledged past them: a restart does not meet them again.
  setAside.length = 0;
  spool = await WriteAheadSpool.open({
    dir,
    maxBytes: 1 << 26,
    durability: 'fsync',
    onSetAside: (r) => setAside.push(r),
  });
  assert.deepEqual(await drain(spool), { records: [], skipped: 0 });
  assert.equal(setAside.length, 0);
  await spool.close();
});
