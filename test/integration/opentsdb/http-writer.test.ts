import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Datapoint } from '../../../src/opentsdb/datapoint.ts';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';
import { FailoverWriter } from '../../../src/opentsdb/failover-writer.ts';
import { HttpWriter, type HttpWriterSettings } from '../../../src/opentsdb/http-writer.ts';
import { wireValue } from '../../../src/opentsdb/sanitize.ts';
import { type StrictOpenTsdb, startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';
import { bridgeLines, captureLogger, encode, encodeAll, makePoints, uniquePrefix } from './support.ts';

function writer(
  endpoint: string,
  settings: HttpWriterSettings = {},
  logger = captureLogger().logger,
): HttpWriter {
  return new HttpWriter({ endpoint, logger, connectTimeoutMs: 1_000, headersTimeoutMs: 2_000, ...settings });
}

async function rejects(promise: Promise<unknown>, code: string): Promise<RetryableWriteError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RetryableWriteError, `expected RetryableWriteError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

function sortByTimestamp(points: Datapoint[]): Datapoint[] {
  return [...points].sort((a, b) => a.timestamp - b.timestamp);
}

describe('HttpWriter against VictoriaMetrics', () => {
  let vm: VictoriaMetrics;
  before(async () => {
    vm = await startVictoriaMetrics();
  });
  after(async () => {
    await vm?.close();
  });

  for (const gzip of [true, false]) {
    it(`stores every point with exact names, tags, values and ms timestamps (gzip ${gzip})`, async () => {
      const prefix = uniquePrefix(`http_${gzip ? 'gz' : 'plain'}`);
      const points = makePoints(prefix, 1200);
      const w = writer(vm.httpPutUrl, { gzip });
      const result = await w.write(encodeAll(points));
      assert.deepEqual(result, { written: 1200, rejected: [] });
      assert.ok(w.stats.requests > 1, 'a 1200-point batch needs several 8 KB requests');
      await w.close();

      const series = await vm.waitForPoints(`${prefix}[.].*`, 1200);
      const read: Datapoint[] = [];
      for (const s of series) {
        const { __name__, ...tags } = s.metric;
        s.values.forEach((value, i) => {
          read.push({ metric: __name__, timestamp: s.timestamps[i] as number, value, tags });
        });
      }
      assert.equal(read.length, 1200);
      const byTs = sortByTimestamp(read);
      sortByTimestamp(points).forEach((p, i) => {
        const got = byTs[i] as Datapoint;
        assert.equal(got.metric, p.metric);
        assert.equal(got.timestamp, p.timestamp);
        assert.equal(got.value, p.value);
        assert.deepEqual(got.tags, p.tags);
      });
    });
  }

  it('keeps Unicode names and large values intact', async () => {
    const prefix = uniquePrefix('http_unicode');
    const ts = Date.now() - 60_000;
    const points: Datapoint[] = [
      {
        metric: `${prefix}.température`,
        timestamp: ts,
        value: -0.5,
        tags: { hôst: 'ünï', city: 'São_Paulo' },
      },
      { metric: `${prefix}.big`, timestamp: ts + 1, value: 2 ** 63, tags: { city: '東京' } },
    ];
    const w = writer(vm.httpPutUrl);
    // As the bridge's mapping encodes them: the value through wireValue (2^63 in exponent form).
    const lines = points.map((p) => JSON.stringify({ ...p, value: wireValue(p.value) }));
    assert.deepEqual(await w.write(lines), { written: 2, rejected: [] });
    await w.close();
    const series = await vm.waitForPoints(`${prefix}[.].*`, 2);
    assert.deepEqual(
      series.map((s) => [s.metric, s.values, s.timestamps]),
      [
        [{ __name__: `${prefix}.big`, city: '東京' }, [2 ** 63], [ts + 1]],
        [{ __name__: `${prefix}.température`, hôst: 'ünï', city: 'São_Paulo' }, [-0.5], [ts]],
      ],
    );
  });

  it('a wrong base path is a configuration error, not a reason to drop points', async () => {
    const log = captureLogger();
    const w = writer(`${vm.httpPutUrl}/wrong`, {}, log.logger);
    const err = await rejects(
      w.write(encodeAll(makePoints(uniquePrefix('http_path'), 20))),
      'CPB_ERR_TSDB_HTTP_STATUS',
    );
    assert.equal(err.status, 400);
    assert.match(err.message, /unexpected path/);
    assert.equal(w.stats.requests, 1, 'no splitting on a misconfiguration');
    assert.equal(log.atLeast(50).length, 1);
    await w.close();
  });

  it('throws retryable while VictoriaMetrics is down and delivers after it is back', async () => {
    const prefix = uniquePrefix('http_outage');
    const w = writer(vm.httpPutUrl);
    const before = encodeAll(makePoints(prefix, 10));
    await w.write(before);
    await vm.stop();
    try {
      const err = await rejects(
        w.write(encodeAll(makePoints(prefix, 10, Date.now() - 300_000))),
        'CPB_ERR_TSDB_UNAVAILABLE',
      );
      assert.ok(err.cause !== undefined);
    } finally {
      await vm.start();
    }
    // The pool may still hold a connection the restart killed: the first try may fail, a retry must not.
    const after = encodeAll(makePoints(prefix, 10, Date.now() - 300_000));
    let result: Awaited<ReturnType<HttpWriter['write']>> | undefined;
    for (let attempt = 0; attempt < 3 && result === undefined; attempt++) {
      result = await w.write(after).catch(() => undefined);
    }
    assert.deepEqual(result, { written: 10, rejected: [] });
    await w.close();
    await vm.waitForPoints(`${prefix}[.].*`, 20);
  });

  it('times out against a frozen TSDB with a retryable error', async () => {
    const w = writer(vm.httpPutUrl, { headersTimeoutMs: 300 });
    vm.pause();
    try {
      const err = await rejects(
        w.write(encodeAll(makePoints(uniquePrefix('http_frozen'), 3))),
        'CPB_ERR_TSDB_UNAVAILABLE',
      );
      assert.equal((err.cause as { code?: string }).code, 'UND_ERR_HEADERS_TIMEOUT');
    } finally {
      vm.resume();
      await w.close();
    }
  });
});

describe('HttpWriter against the strict OpenTSDB contract server', () => {
  let tsdb: StrictOpenTsdb;
  before(async () => {
    tsdb = await startStrictOpenTsdb();
  });
  after(async () => {
    await tsdb?.close();
  });

  function assertNoRequestRefusedForSize(budget: number): void {
    assert.ok(tsdb.requests.length > 0);
    for (const r of tsdb.requests) {
      assert.equal(r.chunked, false, 'never Transfer-Encoding: chunked');
      assert.equal(r.expect, false, 'never Expect: 100-continue');
      assert.equal(typeof r.contentLength, 'number', 'always Content-Length');
      assert.ok((r.contentLength as number) <= budget, `request of ${r.contentLength} bytes over ${budget}`);
      assert.notEqual(r.refusedWhole, 'Chunked request not supported.');
    }
  }

  it('gzip: once the ratio is learnt, every batch of maxPointsPerRequest points is one request', async () => {
    tsdb.reset();
    // The bridge's own lines and defaults: 500 points at level 1 take ~5.3 of the 8000 bytes.
    const lines = bridgeLines((20 * 500) / 14 + 1);
    const w = writer(tsdb.httpUrl, { maxBodyBytes: 8000, maxPointsPerRequest: 500 });
    for (let b = 0; b + 500 <= lines.length; b += 500) {
      assert.deepEqual(await w.write(lines.slice(b, b + 500)), { written: 500, rejected: [] });
    }
    await w.close();
    assertNoRequestRefusedForSize(8000);
    // The first batches are cut while the ratio is learnt (it starts at 5); after that one each.
    // Learning from a batch's small remainder instead shrank the budget until each was cut in two.
    const counts = tsdb.requests.map((r) => r.points);
    assert.deepEqual(counts.slice(-15), Array(15).fill(500), `points per request: ${counts.join(',')}`);
  });

  for (const gzip of [true, false]) {
    it(`splits a big batch into requests within the byte budget (gzip ${gzip})`, async () => {
      tsdb.reset();
      const points = makePoints(uniquePrefix('strict_budget'), 3000);
      const w = writer(tsdb.httpUrl, { gzip, maxBodyBytes: 8000 });
      const result = await w.write(encodeAll(points));
      await w.close();
      assert.deepEqual(result, { written: 3000, rejected: [] });
      assert.equal(tsdb.accepted.length, 3000);
      assertNoRequestRefusedForSize(8000);
      for (const r of tsdb.requests) assert.equal(r.contentEncoding, gzip ? 'gzip' : undefined);
      const bodies = tsdb.requests.length;
      // gzip packs ~10x more points per request than plain JSON.
      if (gzip) assert.ok(bodies <= 12, `${bodies} gzip requests`);
      else assert.ok(bodies >= 45, `${bodies} plain requests`);
      assert.deepEqual(
        sortByTimestamp(tsdb.accepted.map(({ protocol: _, ...p }) => p)),
        sortByTimestamp(points),
      );
    });
  }

  it('rejects only the points OpenTSDB refuses and stores the rest (400 with details)', async () => {
    tsdb.reset();
    const prefix = uniquePrefix('strict_partial');
    const good = makePoints(prefix, 40);
    const bad: Datapoint[] = [
      { metric: `${prefix} with space`, timestamp: Date.now(), value: 1, tags: { a: 'b' } },
      { metric: `${prefix}.notags`, timestamp: Date.now(), value: 1, tags: {} },
      {
        metric: `${prefix}.manytags`,
        timestamp: Date.now(),
        value: 1,
        tags: Object.fromEntries([...Array(9).keys()].map((i) => [`k${i}`, 'v'])),
      },
      { metric: `${prefix}.badtag`, timestamp: Date.now(), value: 1, tags: { 'a:b': 'c' } },
    ];
    const lines = encodeAll(good);
    // Interleave the bad ones; one is a 2^63 value written the naive way (plain digits).
    lines.splice(3, 0, encode(bad[0] as Datapoint));
    lines.splice(10, 0, encode(bad[1] as Datapoint));
    lines.splice(20, 0, encode(bad[2] as Datapoint));
    lines.splice(30, 0, encode(bad[3] as Datapoint));
    const overflow = `{"metric":"${prefix}.overflow","timestamp":${Date.now()},"value":9223372036854775808,"tags":{"a":"b"}}`;
    lines.push(overflow);

    const log = captureLogger();
    const w = writer(tsdb.httpUrl, { gzip: false }, log.logger);
    const result = await w.write(lines);
    await w.close();
    assert.equal(result.written, 40);
    assert.deepEqual(result.rejected.map((r) => r.line).sort(), [...bad.map(encode), overflow].sort());
    const reasons = Object.fromEntries(result.rejected.map((r) => [JSON.parse(r.line).metric, r.error]));
    assert.equal(reasons[`${prefix}.notags`], 'Missing tags');
    assert.equal(reasons[`${prefix}.manytags`], 'Too many tags: 9 maximum allowed: 8');
    assert.equal(reasons[`${prefix}.overflow`], 'Unable to parse value to a number');
    assert.equal(tsdb.accepted.length, 40);
    // The good points went once: a partial answer is not a reason to resend.
    assert.equal(tsdb.requests.length, 1);
    assert.equal(w.stats.splits, 0);
    // One warning per kind, not per point.
    const warnings = log.atLeast(40).filter((r) => r.msg.startsWith('TSDB refused a point'));
    const kinds = warnings.map((r) => (r.rejection as { kind: string }).kind).sort();
    assert.deepEqual(kinds, ['invalid_name', 'invalid_value', 'missing_tags', 'too_many_tags']);
  });

  it('is loud about unknown metrics: one error per metric, with the fix', async () => {
    const strict = await startStrictOpenTsdb({ autoCreateMetrics: false, metrics: ['known.metric'] });
    try {
      const ts = Date.now();
      const point = (metric: string, i: number): string =>
        encode({ metric, timestamp: ts + i, value: i, tags: { host: 'a' } });
      const lines = [
        point('known.metric', 0),
        point('new.metric', 1),
        point('new.metric', 2),
        point('other.new', 3),
      ];
      const log = captureLogger();
      const w = writer(strict.httpUrl, {}, log.logger);
      const result = await w.write(lines);
      const again = await w.write([point('new.metric', 4)]);
      await w.close();
      assert.equal(result.written, 1);
      assert.deepEqual(
        result.rejected.map((r) => r.error),
        ['Unknown metric', 'Unknown metric', 'Unknown metric'],
      );
      assert.equal(again.rejected.length, 1);
      const errors = log.atLeast(50);
      assert.deepEqual(errors.map((r) => r.metric).sort(), ['new.metric', 'other.new']);
      assert.match(errors[0]?.msg ?? '', /auto_create_metrics.*mkmetric/);
      assert.equal(w.rejectionCounts.unknown_metric, 4);
    } finally {
      await strict.close();
    }
  });

  it('halves a request refused whole (bad JSON line) down to the culprit', async () => {
    tsdb.reset();
    const lines = encodeAll(makePoints(uniquePrefix('strict_halving'), 30));
    lines.splice(17, 0, '{"metric":"broken",');
    const w = writer(tsdb.httpUrl);
    const result = await w.write(lines);
    await w.close();
    assert.equal(result.written, 30);
    assert.deepEqual(result.rejected, [
      { line: '{"metric":"broken",', error: 'Unable to parse the given JSON' },
    ]);
    assert.equal(tsdb.accepted.length, 30);
    assert.ok(w.stats.splits >= 4, `${w.stats.splits} splits`);
  });

  it('recovers from a too-large budget: "Chunked request not supported." makes it split', async () => {
    tsdb.reset();
    const points = makePoints(uniquePrefix('strict_chunked'), 200);
    const w = writer(tsdb.httpUrl, { gzip: false, maxBodyBytes: 40_000 });
    const result = await w.write(encodeAll(points));
    await w.close();
    assert.deepEqual(result, { written: 200, rejected: [] });
    assert.equal(tsdb.accepted.length, 200);
    assert.ok(tsdb.requests.some((r) => r.refusedWhole === 'Chunked request not supported.'));
  });

  it('refuses a single point larger than the budget without sending it', async () => {
    tsdb.reset();
    const huge = encode({
      metric: 'm.huge',
      timestamp: Date.now(),
      value: 1,
      tags: { blob: 'x'.repeat(9000) },
    });
    const small = encodeAll(makePoints(uniquePrefix('strict_huge'), 2));
    const w = writer(tsdb.httpUrl, { gzip: false });
    const result = await w.write([small[0] as string, huge, small[1] as string]);
    await w.close();
    assert.equal(result.written, 2);
    assert.equal(result.rejected.length, 1);
    assert.match(result.rejected[0]?.error ?? '', /^point larger than maxBodyBytes/);
    assertNoRequestRefusedForSize(8000);
  });

  it('5xx, 429 and dropped connections throw RetryableWriteError; nothing counts as written', async () => {
    const w = writer(tsdb.httpUrl);
    const lines = encodeAll(makePoints(uniquePrefix('strict_faults'), 5));
    for (const fault of [503, 500, 429] as const) {
      tsdb.failNext(1, fault);
      const err = await rejects(w.write(lines), 'CPB_ERR_TSDB_UNAVAILABLE');
      assert.equal(err.status, fault);
    }
    tsdb.failNext(1, 'close');
    const closed = await rejects(w.write(lines), 'CPB_ERR_TSDB_UNAVAILABLE');
    assert.equal((closed.cause as { code?: string }).code, 'UND_ERR_SOCKET');
    tsdb.failNext(1, 401);
    const denied = await rejects(w.write(lines), 'CPB_ERR_TSDB_HTTP_STATUS');
    assert.equal(denied.status, 401);
    assert.deepEqual(await w.write(lines), { written: 5, rejected: [] });
    await w.close();
  });

  it('refused connections and slow answers are retryable', async () => {
    const strict = await startStrictOpenTsdb();
    // undici's headers timer has ~1 s resolution: the delay must clearly exceed timeout + 1 s.
    const w = writer(strict.httpUrl, { headersTimeoutMs: 300 });
    const lines = encodeAll(makePoints(uniquePrefix('strict_down'), 3));
    try {
      await strict.down();
      const refused = await rejects(w.write(lines), 'CPB_ERR_TSDB_UNAVAILABLE');
      assert.equal((refused.cause as { code?: string }).code, 'ECONNREFUSED');
      await strict.up();
      strict.setDelay(2_500);
      const slow = await rejects(w.write(lines), 'CPB_ERR_TSDB_UNAVAILABLE');
      assert.equal((slow.cause as { code?: string }).code, 'UND_ERR_HEADERS_TIMEOUT');
      strict.setDelay(0);
      assert.deepEqual(await w.write(lines), { written: 3, rejected: [] });
    } finally {
      await w.close();
      await strict.close();
    }
  });

  it('an aborted write throws CPB_ERR_TSDB_ABORTED', async () => {
    tsdb.setDelay(1_000);
    const w = writer(tsdb.httpUrl);
    try {
      const controller = new AbortController();
      const pending = w.write(encodeAll(makePoints(uniquePrefix('strict_abort'), 3)), controller.signal);
      setTimeout(() => controller.abort(), 50);
      await rejects(pending, 'CPB_ERR_TSDB_ABORTED');
    } finally {
      tsdb.setDelay(0);
      await w.close();
    }
  });

  it('sends basic or bearer auth and never logs it', async () => {
    tsdb.reset();
    const lines = encodeAll(makePoints(uniquePrefix('strict_auth'), 2));
    const log = captureLogger();
    const basic = writer(tsdb.httpUrl, { auth: { username: 'writer', password: 'pa:ss' } }, log.logger);
    const bearer = writer(tsdb.httpUrl, { auth: { token: 'tok-123' } }, log.logger);
    const inUrl = writer(tsdb.httpUrl.replace('http://', 'http://u%40x:p%2Fw@'), {}, log.logger);
    await basic.write(lines);
    await bearer.write(lines);
    await inUrl.write(lines);
    tsdb.failNext(1, 403);
    await bearer.write(lines).catch(() => undefined);
    await Promise.all([basic.close(), bearer.close(), inUrl.close()]);
    assert.deepEqual(
      tsdb.requests.map((r) => r.authorization),
      [
        `Basic ${Buffer.from('writer:pa:ss').toString('base64')}`,
        'Bearer tok-123',
        `Basic ${Buffer.from('u@x:p/w').toString('base64')}`,
        'Bearer tok-123',
      ],
    );
    assert.equal(inUrl.endpoint, tsdb.httpUrl);
    const logged = log.text();
    for (const secret of [
      'pa:ss',
      'tok-123',
      'p/w',
      'p%2Fw',
      Buffer.from('writer:pa:ss').toString('base64'),
    ]) {
      assert.ok(!logged.includes(secret), `log contains ${secret}`);
    }
  });

  it('counts requests and bytes: one request per write, whatever its outcome', async () => {
    tsdb.reset();
    const w = writer(tsdb.httpUrl);
    const lines = encodeAll(makePoints(uniquePrefix('strict_metrics'), 3));
    assert.deepEqual(await w.write(lines), { written: 3, rejected: [] });
    const partial = await w.write([...lines, '{"metric":"x","timestamp":1,"value":1,"tags":{}}']);
    assert.deepEqual([partial.written, partial.rejected.length], [3, 1]);
    tsdb.failNext(1, 503);
    await rejects(w.write(lines), 'CPB_ERR_TSDB_UNAVAILABLE');
    await w.close();
    assert.equal(w.stats.requests, 3);
    assert.ok(w.stats.bytesSent > 0 && w.stats.rawBytes > w.stats.bytesSent);
  });

  it('honours a base path', async () => {
    const strict = await startStrictOpenTsdb({ basePath: '/opentsdb' });
    try {
      const w = writer(strict.httpUrl);
      assert.deepEqual(await w.write(encodeAll(makePoints(uniquePrefix('strict_base'), 2))), {
        written: 2,
        rejected: [],
      });
      await w.close();
      assert.match(strict.requests[0]?.url ?? '', /^\/opentsdb\/api\/put\?details$/);
    } finally {
      await strict.close();
    }
  });
});

describe('FailoverWriter over HTTP endpoints', () => {
  it('fails over to the next endpoint, stays there, and throws only when all fail', async () => {
    const [a, b] = await Promise.all([startStrictOpenTsdb(), startStrictOpenTsdb()]);
    const log = captureLogger();
    const failover = new FailoverWriter([writer(a.httpUrl), writer(b.httpUrl)], log.logger);
    const batch = (n: number) => encodeAll(makePoints(uniquePrefix('failover'), n));
    try {
      assert.deepEqual(await failover.write(batch(2)), { written: 2, rejected: [] });
      assert.equal(a.accepted.length, 2);

      await a.down();
      assert.deepEqual(await failover.write(batch(3)), { written: 3, rejected: [] });
      assert.equal(b.accepted.length, 3);
      assert.equal(failover.currentEndpoint, b.httpUrl);

      // a is back, but b keeps the traffic until it fails.
      await a.up();
      await failover.write(batch(1));
      assert.equal(b.accepted.length, 4);
      assert.equal(a.accepted.length, 2);

      b.failNext(1, 503);
      await failover.write(batch(1));
      assert.equal(a.accepted.length, 3);
      assert.equal(failover.currentEndpoint, a.httpUrl);

      await Promise.all([a.down(), b.down()]);
      const err = await rejects(failover.write(batch(1)), 'CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED');
      assert.ok(err.cause instanceof AggregateError);
      assert.equal((err.cause as AggregateError).errors.length, 2);
      assert.equal(log.atLeast(40).filter((r) => r.msg.startsWith('TSDB failover')).length, 2);
    } finally {
      await failover.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
