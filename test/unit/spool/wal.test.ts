import assert from 'node:assert/strict';
import {
  appendFile,
  cp,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  FRAME_HEADER_BYTES,
  frameRecord,
  MAX_RECORD_BYTES,
  type SetAsideRecord,
  SpoolDiskError,
  SpoolFullError,
  SpoolRecordError,
  unframeRecord,
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

describe('wal', () => {
  it('appended records are read back in order and acked', async () => {
    const spool = await WriteAheadSpool.open({
      dir: await tempDir(),
      maxBytes: 1 << 20,
      durability: 'fsync',
    });
    await spool.append(records(3, 'a'));
    await spool.append(records(2, 'b'));
    const batch = await spool.read(10, 0);
    assert.deepEqual(batch.records, [...records(3, 'a'), ...records(2, 'b')]);
    await spool.ack(batch);
    assert.equal(spool.bytes, 0);
    await spool.close();
  });

  it('concurrent appends are group-committed and none is lost', async () => {
    const spool = await WriteAheadSpool.open({
      dir: await tempDir(),
      maxBytes: 1 << 24,
      durability: 'fsync',
    });
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

  it('a restart resumes after the last acknowledged record, across segments', async () => {
    const dir = await tempDir();
    let spool = await WriteAheadSpool.open({
      dir,
      maxBytes: 1 << 24,
      durability: 'fsync',
      segmentBytes: 256,
    });
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
      (await readdir(dir)).filter((n) => n.endsWith('.seg')).length <= 2,
      'delivered segments are deleted',
    );
    await spool.close();
  });

  it('a torn record at the tail (crash mid-write) is cut off on open', async () => {
    const dir = await tempDir();
    let spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    await spool.append(['{"ok":1}']);
    await spool.close();
    const seg = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    await appendFile(join(dir, seg[0]!), frameRecord('{"torn":1}').slice(0, 20));
    spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    assert.deepEqual(spool.repairedOnOpen, { segment: 0, bytes: 20 });
    const b = await spool.read(10, 0);
    assert.deepEqual(b.records, ['{"ok":1}']);
    await spool.append(['{"ok":2}']);
    const c = await spool.read(10, 0);
    assert.deepEqual(c.records, ['{"ok":2}']);
    await spool.close();
  });

  it('past maxBytes an append is refused whole and nothing is written', async () => {
    const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 200, durability: 'buffered' });
    await spool.append(records(5));
    await assert.rejects(spool.append(records(20)), (err: unknown) => err instanceof SpoolFullError);
    const b = await spool.read(100, 0);
    assert.equal(b.records.length, 5);
    await spool.ack(b);
    await spool.append(records(5));
    await spool.close();
  });

  it('read waits for data and honours maxDelay to fill a batch', async () => {
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

  it('read takes a backlog up to maxRecords, but waits only for fillRecords to be there', async () => {
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

  it('the limit can change live: raising it lets refused appends in, nothing spooled is dropped', async () => {
    const spool = await WriteAheadSpool.open({ dir: await tempDir(), maxBytes: 200, durability: 'fsync' });
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

  it('an append refuses, whole, a record over MAX_RECORD_BYTES, an empty one or one with a newline', async () => {
    const spool = await WriteAheadSpool.open({
      dir: await tempDir(),
      maxBytes: 1 << 24,
      durability: 'fsync',
    });
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

  it('a record the reader cannot take is set aside once, and reading goes on past it', async () => {
    const dir = await tempDir();
    let spool = await WriteAheadSpool.open({
      dir,
      maxBytes: 1 << 26,
      durability: 'fsync',
      segmentBytes: 4096,
    });
    await spool.append(records(3, 'a'));
    await spool.close();
    // Written behind the spool's back (a corrupt or foreign segment): a 3 MiB line in segment 0,
    // then a segment that ends mid-record (only the last segment's torn tail is cut on open), then
    // one whose first record's checksum does not match.
    const huge = 'h'.repeat(3 << 20);
    const badCrc = `${frameRecord('{"x":0}').slice(0, 8)}00000000{"x":0}`;
    await appendFile(join(dir, '000000000000.seg'), `${huge}\n${frameRecord('{"b":0}')}`);
    await writeFile(
      join(dir, '000000000001.seg'),
      `${frameRecord('{"c":0}')}${frameRecord('{"c":1}').slice(0, 22)}`,
    );
    await writeFile(join(dir, '000000000002.seg'), `${badCrc}\n${frameRecord('{"d":0}')}`);
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
    assert.equal(got.skipped, 3);
    assert.deepEqual(
      setAside.map(({ segment, bytes, reason }) => ({ segment, bytes, reason })),
      [
        { segment: 0, bytes: huge.length, reason: 'too long' },
        { segment: 1, bytes: 22, reason: 'unterminated' },
        { segment: 2, bytes: badCrc.length, reason: 'corrupt' },
      ],
    );
    assert.equal(spool.bytes, 0);
    // Kept for a person to look at: the head of the long one, the whole short ones.
    assert.equal(await readFile(setAside[1]!.file, 'utf8'), frameRecord('{"c":1}').slice(0, 22));
    assert.equal(await readFile(setAside[2]!.file, 'utf8'), badCrc);
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

  it('a frame holds its record: length and checksum must both match', () => {
    for (const record of ['{"a":1}', 'é€𝄞', 'x'.repeat(MAX_RECORD_BYTES)]) {
      const buf = Buffer.from(frameRecord(record));
      assert.equal(buf.at(-1), 0x0a);
      assert.equal(unframeRecord(buf, 0, buf.length - 1), record);
      // Any single changed byte before the newline is caught (CRC-32 catches every 1-byte error).
      for (const at of [0, 7, 8, 15, FRAME_HEADER_BYTES, buf.length - 2]) {
        const bad = Buffer.from(buf);
        bad[at] = bad[at] === 0x30 ? 0x31 : 0x30;
        assert.equal(unframeRecord(bad, 0, bad.length - 1), undefined, `byte ${at} changed`);
      }
      // A record cut short and joined to the next (a torn write followed by an append) is caught.
      const joined = Buffer.concat([buf.subarray(0, buf.length - 3), Buffer.from(frameRecord('{"next":1}'))]);
      assert.equal(unframeRecord(joined, 0, joined.length - 1), undefined);
    }
  });

  it('a segment cut at any byte inside its last record reopens with every whole record, the torn one dropped and counted', async () => {
    const source = await tempDir();
    let spool = await WriteAheadSpool.open({ dir: source, maxBytes: 1 << 20, durability: 'fsync' });
    const whole = records(5, 'w');
    const last = '{"metric":"catchpoint.rtt.by_country.42","value":7.5,"tags":{"country":"Türkiye"}}';
    await spool.append(whole);
    await spool.append([last]);
    await spool.close();
    const segment = join(source, '000000000000.seg');
    const size = (await stat(segment)).size;
    const lastBytes = Buffer.byteLength(frameRecord(last));
    for (let cut = 1; cut < lastBytes; cut++) {
      const dir = await tempDir();
      await cp(source, dir, { recursive: true });
      await truncate(join(dir, '000000000000.seg'), size - lastBytes + cut);
      spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
      assert.deepEqual(spool.repairedOnOpen, { segment: 0, bytes: cut }, `cut ${cut}`);
      await spool.append(['{"after":1}']);
      const got = await drain(spool);
      assert.deepEqual(got, { records: [...whole, '{"after":1}'], skipped: 0 }, `cut ${cut}`);
      await spool.close();
      await rm(dir, { recursive: true, force: true });
    }
    // Uncut, nothing is repaired and the last record is there.
    spool = await WriteAheadSpool.open({ dir: source, maxBytes: 1 << 20, durability: 'fsync' });
    assert.equal(spool.repairedOnOpen, undefined);
    assert.deepEqual((await drain(spool)).records, [...whole, last]);
    await spool.close();
  });

  it('a v0.1 spool (*.wal, newline-terminated) is converted on open: what was after its cursor is delivered, once', async () => {
    const dir = await tempDir();
    // v0.1's layout: segment 3 partly delivered (cursor inside it), segment 4 with a torn tail.
    await writeFile(join(dir, '000000000003.wal'), '{"a":0}\n{"a":1}\n{"a":2}\n');
    await writeFile(join(dir, '000000000004.wal'), '{"b":0}\n{"b":1}\n{"torn');
    await writeFile(join(dir, 'cursor'), `3:${'{"a":0}\n'.length}\n`);
    const spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    assert.deepEqual(spool.converted, { records: 4, segments: 2 });
    const names = await readdir(dir);
    assert.deepEqual(
      names.filter((n) => n.endsWith('.wal') || n === 'cursor' || n.endsWith('.tmp')),
      [],
      'the v0.1 files are gone',
    );
    await spool.append(['{"c":0}']);
    assert.deepEqual((await drain(spool)).records, ['{"a":1}', '{"a":2}', '{"b":0}', '{"b":1}', '{"c":0}']);
    await spool.close();
  });

  it('a conversion cut short by a crash is done again on the next open: records may repeat, none is lost', async () => {
    const dir = await tempDir();
    const v01 = { '000000000000.wal': '{"a":0}\n{"a":1}\n', cursor: '0:0\n' };
    for (const [name, text] of Object.entries(v01)) await writeFile(join(dir, name), text);
    let spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    await spool.close();
    // The crash: the converted segment is in place, the v0.1 files were not yet removed.
    for (const [name, text] of Object.entries(v01)) await writeFile(join(dir, name), text);
    spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    assert.deepEqual((await drain(spool)).records, ['{"a":0}', '{"a":1}', '{"a":0}', '{"a":1}']);
    await spool.close();
  });

  it('below the disk reserve an append is refused with SpoolDiskError, and taken again once there is room', async () => {
    let reserve = Number.POSITIVE_INFINITY;
    const spool = await WriteAheadSpool.open({
      dir: await tempDir(),
      maxBytes: 1 << 20,
      durability: 'fsync',
      reserveBytes: () => reserve,
    });
    await assert.rejects(spool.append(records(1)), (err: unknown) => {
      assert.ok(err instanceof SpoolDiskError);
      assert.equal(err.reason, 'low disk space');
      assert.equal(err.code, 'CPB_ERR_SPOOL_DISK');
      return true;
    });
    assert.equal(spool.bytes, 0, 'nothing of a refused append is kept');
    reserve = 0;
    // The reserve is read with the filesystem's size at most every 250 ms.
    const deadline = Date.now() + 2_000;
    for (;;) {
      try {
        await spool.append(records(1));
        break;
      } catch (err) {
        assert.ok(err instanceof SpoolDiskError);
        assert.ok(Date.now() < deadline, 'taken again within 2 s of room coming back');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.deepEqual((await drain(spool)).records, records(1));
    await spool.close();
  });

  /**
   * The OS's answers to a write on a full disk, made on demand: `write` writes part of what it was
   * given, then fails with ENOSPC or returns short; `truncate` can fail too. (The real thing, on a
   * real full filesystem, is test/integration/bridge/disk-full.test.ts.)
   */
  async function withFailingWrites(
    dir: string,
    body: (faults: { write?: 'enospc' | 'short'; truncate?: 'fail' }) => Promise<void>,
  ): Promise<void> {
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as {
      write: (data: string) => Promise<{ bytesWritten: number }>;
      truncate: (len: number) => Promise<void>;
    };
    await probe.close();
    const { write, truncate: cut } = proto;
    const faults: { write?: 'enospc' | 'short'; truncate?: 'fail' } = {};
    proto.write = async function (this: unknown, data: string) {
      if (faults.write === undefined) return write.call(this, data);
      const half = data.slice(0, Math.ceil(data.length / 2));
      const { bytesWritten } = await write.call(this, half);
      if (faults.write === 'short') return { bytesWritten };
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    proto.truncate = async function (this: unknown, len: number) {
      if (faults.truncate === 'fail') throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      return cut.call(this, len);
    };
    try {
      await body(faults);
    } finally {
      proto.write = write;
      proto.truncate = cut;
    }
  }

  it('a failed or short write is refused with SpoolDiskError and cut back: the next record never joins a torn one', async () => {
    const dir = await tempDir();
    const spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'fsync' });
    await spool.append(records(2, 'before'));
    await withFailingWrites(dir, async (faults) => {
      for (const [fault, reason] of [
        ['enospc', 'no space'],
        ['short', 'short write'],
      ] as const) {
        faults.write = fault;
        await assert.rejects(spool.append(records(3, fault)), (err: unknown) => {
          assert.ok(err instanceof SpoolDiskError);
          assert.equal(err.reason, reason);
          return true;
        });
        faults.write = undefined;
      }
      // The cut back itself fails: the next append must cut before it writes, or be refused.
      faults.write = 'enospc';
      faults.truncate = 'fail';
      await assert.rejects(spool.append(records(1, 'torn')), SpoolDiskError);
      faults.write = undefined;
      await assert.rejects(spool.append(records(1, 'refused')), (err: unknown) => {
        assert.ok(err instanceof SpoolDiskError);
        assert.equal(err.reason, 'io error');
        return true;
      });
      faults.truncate = undefined;
      await spool.append(records(2, 'after'));
    });
    assert.deepEqual(await drain(spool), {
      records: [...records(2, 'before'), ...records(2, 'after')],
      skipped: 0,
    });
    await spool.close();
  });
});
