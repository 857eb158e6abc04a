/**
 * VictoriaMetrics takes what real OpenTSDB refuses, so the bridge also runs against the strict
 * OpenTSDB-contract server: whatever pushes carry, it never sends a request or a point OpenTSDB
 * 2.x would refuse, and a TSDB without metric auto-creation costs only the refused points.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startBridgeProcess } from '../../harness/bridge-process.ts';
import { FAKE_V2_API_KEY, type FakeCatchpoint, startFakeCatchpoint } from '../../harness/fake-catchpoint.ts';
import { pushBody } from '../../harness/push-stream.ts';
import { type StrictOpenTsdb, startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';

const TOKEN = 'strict-token-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
let catchpoint: FakeCatchpoint;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  catchpoint = await startFakeCatchpoint();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await catchpoint?.close();
});

async function setup(tsdb: StrictOpenTsdb, protocol: 'http' | 'telnet', extra: Record<string, unknown> = {}) {
  const bridge = await startBridgeProcess({
    spec: {
      catchpoint: { api: 'v2', baseURL: catchpoint.url, credentialsSecretRef: { name: 'cp' } },
      push: { tokenSecretRef: { name: 'push' } },
      dimensions: ['node', 'asn', 'continent', 'city', 'country', 'region', 'isp', 'networkType', 'test'],
      measurements: ['rtt', 'status', 'error'],
      tsdb: { endpoints: [protocol === 'http' ? tsdb.httpUrl : tsdb.telnetUrl], batchMaxDelay: '20ms' },
      ...extra,
    },
    secrets: { cp: { apiKey: FAKE_V2_API_KEY }, push: { token: TOKEN } },
  });
  cleanups.push(() => bridge.cleanup());
  return bridge;
}

// Unknown node ids, so every tag comes from the push's own NodeName: any Unicode at all.
const hostilePush = fc.record({
  testId: fc.integer({ min: 1, max: 2 ** 40 }),
  nodeId: fc.integer({ min: 900_000, max: 999_999 }),
  nodeName: fc.string({ unit: 'binary', maxLength: 120 }),
  asn: fc.integer({ min: 0, max: 2 ** 32 }),
  timestampMs: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2026, 0, 1) }),
  totalMs: fc.oneof(
    fc.integer({ min: 0, max: 600_000 }),
    fc.constant(2 ** 62),
    fc.double({ min: 0, max: 1e6, noNaN: true }),
  ),
  errorCode: fc.option(fc.integer({ min: 1, max: 99_999 }), { nil: undefined }),
});

for (const protocol of ['http', 'telnet'] as const) {
  it(`${protocol}: 300 hostile pushes, and OpenTSDB would refuse nothing the bridge sends`, async () => {
    const tsdb = await startStrictOpenTsdb();
    cleanups.push(() => tsdb.close());
    const bridge = await setup(tsdb, protocol);
    const samples = fc.sample(hostilePush, { numRuns: 300, seed: 42 });
    let written = 0;
    for (const p of samples) {
      const res = await bridge.push(`/push/${TOKEN}`, pushBody(p));
      assert.equal(res.status, 200, JSON.stringify(res.json));
      written += (res.json as { datapoints: number }).datapoints;
    }
    await tsdb.waitForAccepted(written, 20_000);
    assert.deepEqual(tsdb.refused, [], 'the strict server refused nothing');
    if (protocol === 'http') {
      assert.ok(
        tsdb.requests.every((r) => r.status !== 400),
        'no request was refused (size, chunking, JSON)',
      );
    }
    assert.ok(written > 300 * 5, `only ${written} datapoints`);
    assert.equal(tsdb.accepted.length, written);
  });
}

describe('strict opentsdb', () => {
  it('OpenTSDB without auto_create_metrics: unknown metrics are refused alone, counted and logged loudly once', async () => {
    const tsdb = await startStrictOpenTsdb({
      autoCreateMetrics: false,
      metrics: ['catchpoint.rtt.by_node.4242'],
    });
    cleanups.push(() => tsdb.close());
    const bridge = await setup(tsdb, 'http', { dimensions: ['node'], measurements: ['rtt', 'status'] });
    for (let i = 0; i < 5; i++) {
      const res = await bridge.push(
        `/push/${TOKEN}`,
        pushBody({
          testId: 4242,
          nodeId: 312,
          nodeName: 'Jinan, CN - Unicom',
          asn: 4837,
          timestampMs: Date.UTC(2024, 0, 1, 0, 0, i),
          totalMs: 100 + i,
        }),
      );
      assert.equal(res.status, 200);
    }
    await tsdb.waitForAccepted(5, 10_000);
    const deadline = Date.now() + 10_000;
    let metrics = '';
    while (Date.now() < deadline) {
      metrics = await (await fetch(`${bridge.url}/metrics`)).text();
      if (/catchpoint_bridge_datapoints_rejected_total\{reason="unknown_metric"\} 5/.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(metrics, /catchpoint_bridge_datapoints_rejected_total\{reason="unknown_metric"\} 5/);
    assert.match(metrics, /catchpoint_bridge_datapoints_written_total 5/);
    assert.deepEqual(
      tsdb.accepted.map((p) => p.metric),
      Array(5).fill('catchpoint.rtt.by_node.4242'),
    );
    const loud = bridge.logs.filter((l) => l.includes('"level":"error"') && /unknown metric/i.test(l));
    assert.equal(
      loud.length,
      1,
      `one loud line for catchpoint.status.by_node.4242, got:\n${loud.join('\n')}`,
    );
    assert.match(loud[0]!, /catchpoint\.status\.by_node\.4242/);
  });
});
