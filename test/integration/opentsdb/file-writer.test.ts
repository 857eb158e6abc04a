import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Datapoint } from '../../../src/opentsdb/datapoint.ts';
import { FileWriter, type FileWriterSettings } from '../../../src/opentsdb/file-writer.ts';
import { startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';
import { captureLogger, encode, encodeAll, makePoints } from './support.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cpb-file-writer-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function writer(settings: FileWriterSettings = {}): FileWriter {
  n++;
  return new FileWriter({
    endpoint: pathToFileURL(join(dir, `sub${n}`, 'points.log')).href,
    logger: captureLogger().logger,
    ...settings,
  });
}

const point: Datapoint = {
  metric: 'catchpoint.rtt.by_node.42',
  timestamp: 1_700_000_000_987,
  value: 123.5,
  tags: { nodeid: '7', city: 'New_York' },
};

describe('FileWriter', () => {
  it('appends put lines, one batch per write, creating the directory', async () => {
    const w = writer();
    assert.deepEqual(await w.write([encode(point)]), { written: 1, rejected: [] });
    assert.deepEqual(await w.write([encode({ ...point, value: 1 })]), { written: 1, rejected: [] });
    await w.close();
    assert.equal(
      readFileSync(w.path, 'utf8'),
      'put catchpoint.rtt.by_node.42 1700000000 123.5 nodeid=7 city=New_York\n' +
        'put catchpoint.rtt.by_node.42 1700000000 1 nodeid=7 city=New_York\n',
    );
    assert.equal(w.endpoint, `file://${w.path}`);
  });

  it('json format keeps the encoded lines (and milliseconds) as they are', async () => {
    const w = writer({ format: 'json' });
    const lines = encodeAll(makePoints('file.json', 3));
    await w.write(lines);
    await w.close();
    assert.equal(readFileSync(w.path, 'utf8'), `${lines.join('\n')}\n`);
  });

  it('rejects points OpenTSDB would refuse instead of writing unreplayable lines', async () => {
    const w = writer();
    const bad = encode({ ...point, tags: {} });
    const result = await w.write([bad, encode(point), 'garbage']);
    await w.close();
    assert.equal(result.written, 1);
    assert.deepEqual(
      result.rejected.map((r) => r.error),
      ['Missing tags', 'malformed encoded datapoint (not JSON)'],
    );
  });

  it('keeps concurrent batches whole and in call order', async () => {
    const w = writer({ format: 'json' });
    const batches = Array.from({ length: 20 }, (_, i) => encodeAll(makePoints(`file.order${i}`, 50)));
    await Promise.all(batches.map((b) => w.write(b)));
    await w.close();
    assert.equal(readFileSync(w.path, 'utf8'), `${batches.flat().join('\n')}\n`);
  });

  it('reopens the file after rotation (rename) and after removal', async () => {
    const w = writer();
    await w.write([encode(point)]);
    renameSync(w.path, `${w.path}.1`);
    await w.write([encode({ ...point, value: 2 })]);
    await w.write([encode({ ...point, value: 3 })]);
    unlinkSync(w.path);
    await w.write([encode({ ...point, value: 4 })]);
    await w.close();
    assert.match(readFileSync(`${w.path}.1`, 'utf8'), / 123\.5 /);
    assert.equal(
      readFileSync(w.path, 'utf8').split('\n')[0],
      'put catchpoint.rtt.by_node.42 1700000000 4 nodeid=7 city=New_York',
    );
    assert.equal(w.stats.reopens, 2);
  });

  it('a write the file system refuses is retryable; the next one reopens', async () => {
    const w = writer();
    await w.write([encode(point)]);
    // A directory where the file was: open(O_APPEND) fails with EISDIR, even for root.
    rmSync(w.path);
    mkdirSync(w.path);
    const err = await w.write([encode(point)]).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e as { code: string; retryable: boolean; cause: { code: string } },
    );
    assert.equal(err.code, 'CPB_ERR_TSDB_FILE_IO');
    assert.equal(err.retryable, true);
    assert.equal(err.cause.code, 'EISDIR');
    rmSync(w.path, { recursive: true });
    await w.write([encode(point)]);
    await w.close();
    assert.equal(
      readFileSync(w.path, 'utf8'),
      'put catchpoint.rtt.by_node.42 1700000000 123.5 nodeid=7 city=New_York\n',
    );
  });

  it('write after close is refused', async () => {
    const w = writer();
    await w.close();
    await assert.rejects(w.write([encode(point)]), { code: 'CPB_ERR_TSDB_WRITER_CLOSED' });
  });

  it('the put file replays into an OpenTSDB telnet port as is', async () => {
    const points = makePoints('file.replay', 200);
    const w = writer();
    await w.write(encodeAll(points));
    await w.close();
    const tsdb = await startStrictOpenTsdb();
    try {
      const socket = connect(tsdb.port, '127.0.0.1');
      socket.end(readFileSync(w.path));
      await tsdb.waitForAccepted(200);
      assert.equal(tsdb.refused.length, 0);
      assert.deepEqual(
        tsdb.accepted.map((p) => p.value),
        points.map((p) => p.value),
      );
    } finally {
      await tsdb.close();
    }
  });
});
