/**
 * Nothing acknowledged is lost: a TSDB outage under a steady stream, and a bridge stopped
 * (SIGTERM) or killed (SIGKILL) mid-stream while the TSDB is down, then restarted on its spool.
 * Every push answered 200 must end up in VictoriaMetrics, exactly once per series and timestamp.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BridgeProcess, startBridgeProcess } from '../../harness/bridge-process.ts';
import { FAKE_V2_API_KEY, type FakeCatchpoint, startFakeCatchpoint } from '../../harness/fake-catchpoint.ts';
import { type PushSpecimen, runPushStream } from '../../harness/push-stream.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';

const TOKEN = 'fault-token-7c1e9a3b5d2f4e6a8b0c1d2e3f4a5b6c';
const OUTAGE_MS = Number(process.env.CPB_FAULT_OUTAGE_MS ?? 30_000);

let vm: VictoriaMetrics;
let catchpoint: FakeCatchpoint;
const bridges: BridgeProcess[] = [];

before(async () => {
  [vm, catchpoint] = await Promise.all([startVictoriaMetrics(), startFakeCatchpoint()]);
});
after(async () => {
  for (const b of bridges) await b.cleanup();
  await Promise.all([vm?.close(), catchpoint?.close()]);
});

async function startBridge(
  prefix: string,
  spoolDir?: string,
  extraArgs: string[] = [],
): Promise<BridgeProcess> {
  const bridge = await startBridgeProcess({
    spec: {
      catchpoint: { api: 'v2', baseURL: catchpoint.url, credentialsSecretRef: { name: 'cp' } },
      push: { tokenSecretRef: { name: 'push' } },
      dimensions: ['node'],
      measurements: ['rtt'],
      naming: { prefix },
      tsdb: { endpoints: [vm.httpPutUrl], batchMaxDelay: '20ms', timeout: '2s' },
    },
    secrets: { cp: { apiKey: FAKE_V2_API_KEY }, push: { token: TOKEN } },
    ...(spoolDir === undefined ? {} : { spoolDir }),
    extraArgs: ['--drain', '1', ...extraArgs],
  });
  bridges.push(bridge);
  return bridge;
}

const nodes = () => catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));

/** Asserts every acknowledged push is in VM once, and returns the time it took to get there. */
async function assertAllDelivered(prefix: string, testId: number, acked: PushSpecimen[], timeoutMs = 60_000) {
  const started = Date.now();
  const series = await vm.waitForPoints(`${prefix}[.]rtt[.]by_node[.]${testId}`, acked.length, timeoutMs);
  const stored = new Map<string, number>();
  for (const s of series) {
    s.timestamps.forEach((t, i) => {
      const key = `${s.metric.nodeid}@${t}`;
      assert.equal(stored.has(key), false, `duplicate sample ${key}`);
      stored.set(key, s.values[i]!);
    });
  }
  const missing = acked.filter((p) => stored.get(`${p.nodeId}@${p.timestampMs}`) !== p.totalMs);
  assert.equal(
    missing.length,
    0,
    `${missing.length} acknowledged pushes missing, e.g. ${JSON.stringify(missing[0])}`,
  );
  return Date.now() - started;
}

describe('faults', () => {
  it(`TSDB down for ${OUTAGE_MS / 1000} s under a steady stream: every push acknowledged, every point delivered`, async () => {
    const bridge = await startBridge('outage');
    const stream = runPushStream({
      url: () => `${bridge.url}/push/${TOKEN}`,
      ratePerSecond: 40,
      durationMs: OUTAGE_MS + 6000,
      testId: 1001,
      nodes: nodes(),
    });
    await new Promise((r) => setTimeout(r, 2000));
    await vm.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await vm.start();
    const result = await stream;
    assert.equal(result.refused, 0, `refused: ${JSON.stringify([...result.failures])}`);
    const recoverMs = await assertAllDelivered('outage', 1001, result.acknowledged);
    console.log(
      `outage: sent=${result.sent} acked=${result.acknowledged.length} recovered in ${recoverMs} ms after the stream ended`,
    );
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} mid-stream with the TSDB down: a restart on the same spool delivers everything acknowledged`, async () => {
      const prefix = signal.toLowerCase();
      const testId = signal === 'SIGTERM' ? 2001 : 2002;
      const bridge = await startBridge(prefix);
      await vm.stop();
      const controller = new AbortController();
      const stream = runPushStream({
        url: () => `${bridge.url}/push/${TOKEN}`,
        ratePerSecond: 100,
        durationMs: 10_000,
        testId,
        nodes: nodes(),
        signal: controller.signal,
      });
      await new Promise((r) => setTimeout(r, 1500));
      const exit = await bridge.stop(signal);
      controller.abort();
      const result = await stream;
      if (signal === 'SIGTERM') assert.equal(exit.code, 0, 'a graceful stop exits 0');
      assert.ok(result.acknowledged.length > 50, `only ${result.acknowledged.length} pushes acknowledged`);
      await vm.start();
      await startBridge(prefix, bridge.spoolDir);
      await assertAllDelivered(prefix, testId, result.acknowledged);
    });
  }

  it('a bridge stopped while the TSDB is down hands its undelivered points to a peer, which delivers them', async () => {
    const peer = await startBridge('handoff');
    const stopping = await startBridge('handoff', undefined, ['--handoff-url', peer.url]);
    await vm.stop();
    const result = await runPushStream({
      url: () => `${stopping.url}/push/${TOKEN}`,
      ratePerSecond: 100,
      durationMs: 1500,
      testId: 3001,
      nodes: nodes(),
    });
    assert.equal(result.refused, 0);
    const exit = await stopping.stop('SIGTERM');
    assert.equal(exit.code, 0);
    const line = stopping.logs.find((l) => l.includes('handed undelivered points to a peer'));
    assert.ok(line, 'the stopping bridge handed off');
    assert.equal((JSON.parse(line) as { handedOff: number }).handedOff, result.acknowledged.length);
    await vm.start();
    // The stopping bridge's spool is gone with it (an emptyDir goes with its pod): the peer delivers.
    await assertAllDelivered('handoff', 3001, result.acknowledged);
  });
});
