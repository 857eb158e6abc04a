/**
 * A full disk is backpressure, never loss: the spool on a real, small filesystem (a tmpfs this
 * test mounts, and unmounts whatever happens), the TSDB down, the disk filled under a push
 * stream. Only 200s and 503s may come back; once space and the TSDB return, every acknowledged
 * push is in VictoriaMetrics and the spool drains to 0 bytes.
 *
 * Mounting needs root (CI here has it). Elsewhere the test is skipped with a warning saying so.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BridgeProcess, startBridgeProcess } from '../../harness/bridge-process.ts';
import { FAKE_V2_API_KEY, type FakeCatchpoint, startFakeCatchpoint } from '../../harness/fake-catchpoint.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { cannotMount, fillDisk, mountTmpfs, type Tmpfs } from '../../harness/tmpfs.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';

const TOKEN = 'disk-full-token-5b7d9f1a3c5e7a9b1d3f5a7c9e1b3d5f';
const TMPFS_BYTES = 8 << 20;

const skip = cannotMount();
if (skip !== undefined) console.warn(`\n!!! SKIPPED: the disk-full test cannot run here (${skip}) !!!\n`);

let disk: Tmpfs | undefined;
let vm: VictoriaMetrics;
let catchpoint: FakeCatchpoint;
let bridge: BridgeProcess | undefined;

before(async () => {
  if (skip !== undefined) return;
  disk = mountTmpfs('disk-full-test', TMPFS_BYTES);
  [vm, catchpoint] = await Promise.all([startVictoriaMetrics(), startFakeCatchpoint()]);
});
after(async () => {
  await bridge?.cleanup();
  await Promise.all([vm?.close(), catchpoint?.close()]);
  disk?.unmount();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${bridge!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('disk full', () => {
  it('the spool filesystem filled with the TSDB down: only 200s and 503s, then every acknowledged push delivered and the spool at 0', {
    skip,
    timeout: 180_000,
  }, async () => {
    const spoolDir = join(disk!.dir, 'spool');
    bridge = await startBridgeProcess({
      spec: {
        catchpoint: { api: 'v2', baseURL: catchpoint.url, credentialsSecretRef: { name: 'cp' } },
        push: { tokenSecretRef: { name: 'push' } },
        dimensions: ['node', 'country', 'city', 'asn'],
        measurements: ['rtt'],
        naming: { prefix: 'diskfull' },
        tsdb: { endpoints: [vm.httpPutUrl], batchMaxDelay: '20ms', timeout: '2s' },
      },
      secrets: { cp: { apiKey: FAKE_V2_API_KEY }, push: { token: TOKEN } },
      spoolDir,
      extraArgs: ['--drain', '1'],
    });
    await vm.stop();
    const filler = join(disk!.dir, 'filler');
    const stream = runPushStream({
      url: () => `${bridge!.url}/push/${TOKEN}`,
      ratePerSecond: 150,
      durationMs: 12_000,
      testId: 4001,
      nodes: catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn })),
    });
    // Phase 1 (0-2 s): room. Phase 2 (2-7 s): the disk filled to the last byte behind the bridge's
    // back, so appends meet ENOSPC itself, then the bridge's own reserve. Phase 3: room again.
    await new Promise((r) => setTimeout(r, 2000));
    const filled = await fillDisk(filler);
    await new Promise((r) => setTimeout(r, 5000));
    const refusedWhileFull = await metric('catchpoint_bridge_pushes_total{outcome="refused_spool_disk"}');
    await rm(filler);
    const result = await stream;

    const statuses = [...result.failures.keys()];
    assert.deepEqual(
      statuses.filter((s) => s !== 503),
      [],
      `only 200s and 503s: ${JSON.stringify([...result.failures])}`,
    );
    assert.ok(refusedWhileFull > 0, 'pushes were refused while the disk was full');
    assert.equal(result.unavailableWithoutRetryAfter, 0, 'every 503 says when to retry');
    const last = result.acknowledged.at(-1)!;
    assert.ok(
      result.acknowledged.filter((p) => p.timestampMs > last.timestampMs - 3000).length > 0,
      'pushes are taken again by themselves once there is room',
    );

    await vm.start();
    const series = await vm.waitForPoints(
      'diskfull[.]rtt[.]by_node[.]4001',
      result.acknowledged.length,
      90_000,
    );
    const stored = new Set(series.flatMap((s) => s.timestamps.map((t) => `${s.metric.nodeid}@${t}`)));
    const missing = result.acknowledged.filter((p) => !stored.has(`${p.nodeId}@${p.timestampMs}`));
    assert.equal(missing.length, 0, `${missing.length} acknowledged pushes missing`);
    const deadline = Date.now() + 30_000;
    while ((await metric('catchpoint_bridge_spool_bytes')) > 0) {
      assert.ok(Date.now() < deadline, 'the spool drains to 0 bytes');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Logs come through a pipe, some time after: checked once delivery is done.
    const episode = bridge.logs.find((l) => l.includes("the spool's disk cannot take pushes"));
    assert.ok(episode, 'the episode is logged');
    assert.ok(
      bridge.logs.some((l) => l.includes("the spool's disk takes pushes again")),
      'the end of the episode is logged',
    );
    assert.equal(
      await metric('catchpoint_bridge_datapoints_rejected_total'),
      0,
      'no torn record reached the TSDB',
    );
    console.log(
      `disk full: filler ${filled} bytes; sent=${result.sent} acked=${result.acknowledged.length} ` +
        `503=${result.failures.get(503) ?? 0} (disk: ${refusedWhileFull} while full); first refusal: ` +
        `${(JSON.parse(episode) as { reason: string }).reason}`,
    );
  });
});
