import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Datapoint } from '../../../src/opentsdb/datapoint.ts';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';
import { TelnetWriter, type TelnetWriterSettings } from '../../../src/opentsdb/telnet-writer.ts';
import type { WriteResult } from '../../../src/opentsdb/writer.ts';
import { type StrictOpenTsdb, startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';
import { captureLogger, encode, encodeAll, makePoints, uniquePrefix } from './support.ts';

function writer(
  endpoint: string,
  settings: TelnetWriterSettings = {},
  logger = captureLogger().logger,
): TelnetWriter {
  return new TelnetWriter({ endpoint, logger, connectTimeoutMs: 1_000, reconnectBaseMs: 20, ...settings });
}

/** What a delivery loop does: retry retryable errors with a pause, give up after `attempts`. */
async function writeWithRetry(w: TelnetWriter, lines: string[], attempts = 50): Promise<WriteResult> {
  for (let i = 1; ; i++) {
    try {
      return await w.write(lines);
    } catch (err) {
      if (!(err instanceof RetryableWriteError) || i >= attempts) throw err;
      await sleep(Math.min(err.retryAfterMs ?? 20, 200));
    }
  }
}

const toSeconds = (ms: number): number => Math.floor(ms / 1000) * 1000;

describe('TelnetWriter against VictoriaMetrics', () => {
  let vm: VictoriaMetrics;
  before(async () => {
    vm = await startVictoriaMetrics();
  });
  after(async () => {
    await vm?.close();
  });

  it('stores points at second precision with exact names, tags and values', async () => {
    const prefix = uniquePrefix('telnet');
    const points = makePoints(prefix, 500);
    const w = writer(vm.telnetUrl);
    assert.deepEqual(await w.write(encodeAll(points)), { written: 500, rejected: [] });
    await w.close();
    const series = await vm.waitForPoints(`${prefix}[.].*`, 500);
    const bySeries = new Map(series.map((s) => [s.metric.series, s]));
    for (const p of points) {
      const s = bySeries.get(p.tags.series as string);
      assert.ok(s, `series ${p.tags.series} missing`);
      const { __name__, ...tags } = s.metric;
      assert.equal(__name__, p.metric);
      assert.deepEqual(tags, p.tags);
      assert.deepEqual(s.values, [p.value]);
      assert.deepEqual(s.timestamps, [toSeconds(p.timestamp)]);
    }
  });

  it('rejects client-side what would break the line protocol, and sends the rest', async () => {
    const prefix = uniquePrefix('telnet_reject');
    const ts = Date.now() - 60_000;
    const good: Datapoint = { metric: `${prefix}.ok`, timestamp: ts, value: 1, tags: { a: 'b' } };
    const longTag: Datapoint = {
      metric: `${prefix}.long`,
      timestamp: ts,
      value: 1,
      tags: { a: 'x'.repeat(1000) },
    };
    const spaced: Datapoint = { metric: `${prefix}.a b`, timestamp: ts, value: 1, tags: { a: 'b' } };
    const newline: Datapoint = {
      metric: `${prefix}.nl`,
      timestamp: ts,
      value: 1,
      tags: { a: 'b\nput x 1 1 a=b' },
    };
    const w = writer(vm.telnetUrl);
    const result = await w.write([good, longTag, spaced, newline].map(encode));
    await w.close();
    assert.equal(result.written, 1);
    assert.equal(result.rejected.length, 3);
    assert.match(result.rejected[0]?.error ?? '', /^put line of 10\d\d bytes exceeds the 1023-byte limit$/);
    assert.equal(result.rejected[1]?.error, `Invalid metric name ("${prefix}.a b"): illegal character:  `);
    assert.match(
      result.rejected[2]?.error ?? '',
      /^Invalid tag value \("b\nput x 1 1 a=b"\): illegal character: \n$/,
    );
    const series = await vm.waitForPoints(`${prefix}[.].*`, 1);
    assert.deepEqual(
      series.map((s) => s.metric.__name__),
      [`${prefix}.ok`],
    );
  });

  it('reconnects after VictoriaMetrics restarts', async () => {
    const prefix = uniquePrefix('telnet_restart');
    const w = writer(vm.telnetUrl);
    await w.write(encodeAll(makePoints(prefix, 5)));
    await vm.waitForPoints(`${prefix}[.].*`, 5);
    await vm.restart();
    // The peer closed our socket (FIN): the writer must notice and reconnect, not write into it.
    await sleep(50);
    await writeWithRetry(w, encodeAll(makePoints(prefix, 5, Date.now() - 300_000)));
    assert.equal(w.stats.connects, 2);
    await w.close();
    await vm.waitForPoints(`${prefix}[.].*`, 10);
  });
});

describe('TelnetWriter against the strict OpenTSDB contract server', () => {
  let tsdb: StrictOpenTsdb;
  before(async () => {
    tsdb = await startStrictOpenTsdb();
  });
  after(async () => {
    await tsdb?.close();
  });

  it('writes valid put lines: every point accepted, seconds precision', async () => {
    tsdb.reset();
    const points = makePoints(uniquePrefix('strict_telnet'), 300);
    const w = writer(tsdb.telnetUrl);
    assert.deepEqual(await w.write(encodeAll(points)), { written: 300, rejected: [] });
    await tsdb.waitForAccepted(300);
    await w.close();
    assert.equal(tsdb.refused.length, 0, JSON.stringify(tsdb.refused[0]));
    assert.deepEqual(tsdb.telnetErrors, []);
    assert.deepEqual(
      tsdb.accepted.map(({ protocol, ...p }) => {
        assert.equal(protocol, 'telnet');
        return p;
      }),
      points.map((p) => ({ ...p, timestamp: toSeconds(p.timestamp) })),
    );
    assert.equal(w.stats.connects, 1);
  });

  it('reconnects after the server restarts, backing off while it is down', async () => {
    tsdb.reset();
    const prefix = uniquePrefix('strict_telnet_restart');
    const w = writer(tsdb.telnetUrl, { reconnectBaseMs: 200 });
    await w.write(encodeAll(makePoints(prefix, 3)));
    await tsdb.waitForAccepted(3);

    await tsdb.down();
    await sleep(20);
    const lines = encodeAll(makePoints(prefix, 3, Date.now() - 300_000));
    await assert.rejects(w.write(lines), (err: RetryableWriteError) => {
      assert.equal(err.code, 'CPB_ERR_TSDB_UNAVAILABLE');
      assert.equal((err.cause as { code?: string }).code, 'ECONNREFUSED');
      assert.ok((err.retryAfterMs ?? 0) >= 100);
      return true;
    });
    // Within the backoff window the writer fails fast, without dialling.
    const failures = w.stats.connectFailures;
    await assert.rejects(w.write(lines), /reconnect backoff/);
    assert.equal(w.stats.connectFailures, failures);

    await tsdb.up();
    await writeWithRetry(w, lines);
    await tsdb.waitForAccepted(6);
    assert.equal(w.stats.connects, 2);
    await w.close();
  });

  it('logs the server error lines it gets back (unknown metric, loudly)', async () => {
    const strict = await startStrictOpenTsdb({ autoCreateMetrics: false });
    const log = captureLogger();
    const w = writer(strict.telnetUrl, {}, log.logger);
    try {
      const ts = Date.now();
      const lines = [1, 2].map((i) =>
        encode({ metric: 'not.created', timestamp: ts + i, value: i, tags: { a: 'b' } }),
      );
      // Written, as far as telnet can tell: the refusal comes back later, uncorrelated.
      assert.deepEqual(await w.write(lines), { written: 2, rejected: [] });
      for (let i = 0; i < 100 && w.stats.serverErrorLines < 2; i++) await sleep(10);
      assert.equal(w.stats.serverErrorLines, 2);
      assert.deepEqual(strict.telnetErrors, [
        "put: unknown metric: No such name for 'metrics': 'not.created'",
        "put: unknown metric: No such name for 'metrics': 'not.created'",
      ]);
      const errors = log.atLeast(50);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]?.metric, 'not.created');
    } finally {
      await w.close();
      await strict.close();
    }
  });

  it('write after close is refused with CPB_ERR_TSDB_WRITER_CLOSED', async () => {
    const w = writer(tsdb.telnetUrl);
    await w.close();
    await assert.rejects(w.write(['x']), { code: 'CPB_ERR_TSDB_WRITER_CLOSED' });
  });
});

describe('strict server telnet rules (so the server itself is trustworthy)', () => {
  it('closes the connection on a line over 1024 bytes and answers error lines', async () => {
    const { connect } = await import('node:net');
    const strict = await startStrictOpenTsdb();
    try {
      const socket = connect(strict.port, '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        text += d;
      });
      const closed = new Promise((r) => socket.once('close', r));
      socket.write(
        'put m 1700000000 1 a=b\nput m  1700000000 1 a=b\nput m 1700000000 1\nversion\nput m 1 1 host\n',
      );
      await sleep(100);
      socket.write(`put m 1700000000 1 a=${'x'.repeat(1100)}\nput m 1700000001 1 a=b\n`);
      await closed;
      assert.equal(strict.accepted.length, 1);
      assert.match(text, /put: invalid value: Invalid character in /); // empty word from two spaces
      assert.match(text, /not enough arguments \(need least 4, got 3\)/);
      assert.match(text, /Built on/);
      assert.match(text, /invalid tag: host/);
      assert.match(strict.refused.at(-1)?.reason ?? '', /exceeds 1024: connection closed/);
    } finally {
      await strict.close();
    }
  });
});
