/**
 * The bridge as users run it standalone: the real CLI process, a manifest and Secret files, the
 * local Catchpoint REST stand-in, and a real VictoriaMetrics read back over its query API.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BridgeProcess, startBridgeProcess } from '../../harness/bridge-process.ts';
import { compileCli, SCRATCH_DIST_DIR } from '../../harness/compiled-cli.ts';
import {
  FAKE_V1_CLIENT_ID,
  FAKE_V1_CLIENT_SECRET,
  type FakeCatchpoint,
  startFakeCatchpoint,
} from '../../harness/fake-catchpoint.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/catchpoint');
const seedSample = await readFile(join(fixtures, 'dns-direct-v3.json'), 'utf8');
const TOKEN = 'push-token-3f9c2a7b1e5d4c8a9b0f6e2d1c3a5b7f';
const SAMPLE_MS = Date.UTC(2016, 1, 26, 1, 4, 49, 609);

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

function specFor(endpoint: string, extra: Record<string, unknown> = {}) {
  return {
    catchpoint: { api: 'v1', baseURL: catchpoint.url, credentialsSecretRef: { name: 'catchpoint-api' } },
    push: { tokenSecretRef: { name: 'catchpoint-push' } },
    tsdb: { endpoints: [endpoint], batchMaxDelay: '20ms' },
    ...extra,
  };
}

async function startBridge(
  endpoint: string,
  extra: Record<string, unknown> = {},
  cli?: string,
): Promise<BridgeProcess> {
  const bridge = await startBridgeProcess({
    ...(cli === undefined ? {} : { cli }),
    spec: specFor(endpoint, extra),
    secrets: {
      'catchpoint-api': { clientId: FAKE_V1_CLIENT_ID, clientSecret: FAKE_V1_CLIENT_SECRET },
      'catchpoint-push': { token: TOKEN },
    },
  });
  bridges.push(bridge);
  await waitForDirectory(bridge);
  return bridge;
}

async function waitForDirectory(bridge: BridgeProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    const m = /^catchpoint_bridge_directory_nodes (\d+)/m.exec(text);
    if (m && Number(m[1]) > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('node directory never loaded');
}

function seedTags() {
  const node = catchpoint.nodes.find((n) => n.id === 312);
  assert.ok(node, 'the stand-in serves node 312 (the seed sample)');
  const u = (s: string) => s.replaceAll(' ', '_');
  return {
    node: {},
    asn: { asn: String(node.asn) },
    continent: { continent: u(node.continent) },
    city: { city: u(node.city) },
    country: { country: u(node.country) },
    region: { region: u(node.region) },
    isp: { isp: u(node.isp) },
  } as Record<string, Record<string, string>>;
}

describe('standalone', () => {
  it("HTTP /api/put: the seed's sample push becomes the seed's series in VictoriaMetrics", async () => {
    const bridge = await startBridge(vm.httpPutUrl, { naming: { prefix: 'http' } });
    const res = await bridge.push(`/push/${TOKEN}`, seedSample);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const series = await vm.waitForPoints('http[.].*[.]12345', 14);
    const got = series
      .map((s) => {
        const { __name__, ...tags } = s.metric;
        return { metric: __name__, tags, values: s.values, timestamps: s.timestamps };
      })
      .sort((a, b) => a.metric.localeCompare(b.metric));
    const expected = Object.entries(seedTags())
      .flatMap(([dim, tags]) => [
        {
          metric: `http.rtt.by_${dim}.12345`,
          tags: { nodeid: '312', ...tags },
          values: [158],
          timestamps: [SAMPLE_MS],
        },
        {
          metric: `http.status.by_${dim}.12345`,
          tags: { nodeid: '312', ...tags, status: 'ok' },
          values: [1],
          timestamps: [SAMPLE_MS],
        },
      ])
      .sort((a, b) => a.metric.localeCompare(b.metric));
    assert.deepEqual(got, expected);
  });

  it('the compiled CLI (what the image runs) writes the same series as the sources', async () => {
    const cli = await compileCli(SCRATCH_DIST_DIR);
    const bridge = await startBridge(vm.httpPutUrl, { naming: { prefix: 'compiled' } }, cli);
    assert.equal((await bridge.push(`/push/${TOKEN}`, seedSample)).status, 200);
    const series = await vm.waitForPoints('compiled[.].*[.]12345', 14);
    assert.deepEqual(
      series.map((s) => s.metric.__name__).sort(),
      Object.keys(seedTags())
        .flatMap((dim) => [`compiled.rtt.by_${dim}.12345`, `compiled.status.by_${dim}.12345`])
        .sort(),
    );
    for (const s of series) assert.deepEqual(s.timestamps, [SAMPLE_MS]);
  });

  it('telnet put: the same series, at seconds precision (VictoriaMetrics telnet is seconds only)', async () => {
    const bridge = await startBridge(vm.telnetUrl, { naming: { prefix: 'telnet' } });
    assert.equal((await bridge.push(`/push/${TOKEN}`, seedSample)).status, 200);
    const series = await vm.waitForPoints('telnet[.].*[.]12345', 14);
    assert.equal(series.length, 14);
    for (const s of series) assert.deepEqual(s.timestamps, [Math.floor(SAMPLE_MS / 1000) * 1000]);
    const rtt = series.find((s) => s.metric.__name__ === 'telnet.rtt.by_city.12345');
    assert.deepEqual(rtt?.values, [158]);
  });

  it("file://: put lines appended to a local file (the seed's -f mode)", async () => {
    const bridge = await startBridge('file:///dev/null');
    const file = join(bridge.dir, 'points.put');
    await bridge.writeSpec(specFor(`file://${file}`));
    await new Promise((r) => setTimeout(r, 1500)); // the file source re-reads its manifest each second
    assert.equal((await bridge.push(`/push/${TOKEN}`, seedSample)).status, 200);
    let text = '';
    for (let i = 0; i < 100 && text.split('\n').filter(Boolean).length < 14; i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await readFile(file, 'utf8').catch(() => '');
    }
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, 14);
    // The seed wrote telnet-style put lines, seconds precision.
    assert.ok(
      lines.includes(`put catchpoint.rtt.by_node.12345 ${(SAMPLE_MS / 1000) | 0} 158 nodeid=312`),
      lines.join('\n'),
    );
  });

  it('a failed run writes status=error and error.by_node; bad pushes get 4xx and write nothing', async () => {
    const bridge = await startBridge(vm.httpPutUrl, { naming: { prefix: 'fail' } });
    const failed = JSON.stringify({
      TestId: 999,
      NodeId: 312,
      NodeName: 'Jinan, CN - Unicom',
      Asn: 4837,
      Summary: { Timestamp: '20240102030405678', Error: { Code: 12029 } },
    });
    assert.equal((await bridge.push(`/push/${TOKEN}`, failed)).status, 200);
    assert.equal((await bridge.push('/push/wrong-token', seedSample)).status, 401);
    const bad = await bridge.push(`/push/${TOKEN}`, '{"TestId": 5, "NodeId": ');
    assert.equal(bad.status, 400);
    assert.match((bad.json as { reason: string }).reason, /JSON/);
    const series = await vm.waitForPoints('fail[.].*', 8);
    const err = series.find((s) => s.metric.__name__ === 'fail.error.by_node.999');
    assert.deepEqual(err?.metric, { __name__: 'fail.error.by_node.999', nodeid: '312', error: '12029' });
    assert.ok(
      series
        .filter((s) => s.metric.__name__.startsWith('fail.status.'))
        .every((s) => s.metric.status === 'error'),
    );
    assert.equal(
      series.filter((s) => s.metric.__name__.includes('12345')).length,
      0,
      'the unauthorized push wrote nothing',
    );
    assert.ok(
      bridge.logs.every((l) => !l.includes(TOKEN)),
      'the token never reaches the logs',
    );
  });

  it('an invalid config file exits non-zero and lists every problem by path', async () => {
    const { execFile } = await import('node:child_process');
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'cpb-bad-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'apiVersion: catchpoint-bridge.io/v1alpha1\nkind: CatchpointBridge\nmetadata: {name: x}\nspec:\n  tsdb: {endpoints: ["gopher://t"]}\n  dimensions: [planet]\n',
    );
    const cli = join(import.meta.dirname, '../../../src/cli.ts');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [cli, 'bridge', '--config', file, '--listen', '127.0.0.1:0'],
        (err, _out, stderr) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr }),
      );
    });
    assert.equal(result.code, 1);
    for (const path of ['/spec/catchpoint', '/spec/tsdb/endpoints/0', '/spec/dimensions/0']) {
      assert.ok(result.stderr.includes(path), `${path} missing from:\n${result.stderr}`);
    }
  });
});
