/**
 * The bridge as it runs in a cluster: `bridge --resource ns/name` as a real process with the
 * credentials of the ServiceAccount the operator created for it, reading its CR and Secrets
 * through a real API server, writing to a real VictoriaMetrics, applying edits live.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import type { RunningOperator } from '../../../src/operator/main.ts';
import { type BridgeProcess, startBridgeProcess } from '../../harness/bridge-process.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { FAKE_V2_API_KEY, type FakeCatchpoint, startFakeCatchpoint } from '../../harness/fake-catchpoint.ts';
import { startNginxTlsProxy } from '../../harness/nginx.ts';
import {
  eventually,
  getBridge,
  installOperatorRbac,
  startOperator,
  writeSecret,
} from '../../harness/operator.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { createTestPki } from '../../harness/test-pki.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';

let plane: ControlPlane;
let admin: KubeConfig;
let operator: RunningOperator;
let vm: VictoriaMetrics;
let catchpoint: FakeCatchpoint;
const bridges: BridgeProcess[] = [];

before(async () => {
  [plane, vm, catchpoint] = await Promise.all([
    sharedControlPlane(),
    startVictoriaMetrics(),
    startFakeCatchpoint(),
  ]);
  admin = plane.kubeConfig;
  const opNs = await plane.createNamespace('operator');
  operator = await startOperator(await installOperatorRbac(plane, opNs));
});
after(async () => {
  for (const b of bridges) await b.cleanup();
  await operator?.stop();
  await Promise.all([vm?.close(), catchpoint?.close()]);
});

const TOKEN = 'cluster-token-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b';
const nodes = () => catchpoint.nodes.slice(0, 40).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));

async function applyBridge(ns: string, name: string, spec: Record<string, unknown>) {
  await applyObject(
    admin,
    {
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name, namespace: ns },
      spec,
    } as never,
    { fieldManager: 'kubectl-test' },
  );
}

function spec(prefix: string, extra: Record<string, unknown> = {}) {
  return {
    catchpoint: { api: 'v2', baseURL: catchpoint.url, credentialsSecretRef: { name: 'cp' } },
    push: { tokenSecretRef: { name: 'push' }, tokenRotationOverlap: '3s' },
    dimensions: ['node', 'country'],
    measurements: ['rtt'],
    naming: { prefix },
    tsdb: { endpoints: [vm.httpPutUrl], batchMaxDelay: '20ms', timeout: '2s' },
    ...extra,
  };
}

/** A namespace with Secrets, a CR, the operator's children, and the bridge process running as its SA. */
async function deploy(
  prefix: string,
  extra: Record<string, unknown> = {},
  setup: (ns: string) => Promise<void> = async () => {},
) {
  const ns = await plane.createNamespace(prefix);
  await writeSecret(admin, ns, 'cp', { apiKey: FAKE_V2_API_KEY });
  await writeSecret(admin, ns, 'push', { token: TOKEN });
  await setup(ns);
  await applyBridge(ns, 'b', spec(prefix, extra));
  await eventually(
    () =>
      kubeRequest(admin, { path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/cpb-b` }),
    () => true,
    15_000,
    'the operator created the bridge RBAC',
  );
  const kubeconfig = await plane.kubeconfigFileForServiceAccount(ns, 'cpb-b');
  const bridge = await startBridgeProcess({ resource: { namespace: ns, name: 'b', kubeconfig } });
  bridges.push(bridge);
  return { ns, bridge, kubeconfig };
}

describe('in cluster', () => {
  it('runs as its ServiceAccount, serves pushes, writes series, reports status.bridge', async () => {
    const { ns, bridge } = await deploy('serve');
    const result = await runPushStream({
      url: () => `${bridge.url}/push/${TOKEN}`,
      ratePerSecond: 50,
      durationMs: 1000,
      testId: 11,
      nodes: nodes(),
    });
    assert.equal(result.refused, 0);
    await vm.waitForPoints('serve[.]rtt[.]by_node[.]11', result.acknowledged.length);
    const cr = await eventually(
      () => getBridge(admin, ns, 'b'),
      (b) => {
        const report = (
          b?.status as
            | { bridge?: { configGeneration?: number; directorySize?: number; lastPushAt?: string } }
            | undefined
        )?.bridge;
        return (
          report?.configGeneration === 1 && (report.directorySize ?? 0) > 0 && report.lastPushAt !== undefined
        );
      },
      20_000,
      'status.bridge',
    );
    const report = (cr!.status as { bridge: { directorySize: number; lastPushAt: string } }).bridge;
    assert.ok(report.directorySize > 0);
    assert.match(report.lastPushAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
  });

  it('editing dimensions under a push stream: new dimensions within 2 s, every push 200, nothing lost or doubled', async () => {
    const { ns, bridge } = await deploy('edit');
    const rate = 50;
    const startedAt = Date.now();
    const stream = runPushStream({
      url: () => `${bridge.url}/push/${TOKEN}`,
      ratePerSecond: rate,
      durationMs: 8000,
      testId: 22,
      nodes: nodes(),
    });
    await new Promise((r) => setTimeout(r, 2000));
    const editAt = Date.now() - startedAt;
    await applyBridge(ns, 'b', spec('edit', { dimensions: ['node', 'city'] }));
    const result = await stream;
    assert.equal(result.refused, 0, JSON.stringify([...result.failures]));

    const byNode = await vm.waitForPoints('edit[.]rtt[.]by_node[.]22', result.acknowledged.length);
    const samples = byNode.flatMap((s) => s.timestamps);
    assert.equal(samples.length, result.acknowledged.length, 'every push once in by_node');
    assert.equal(
      new Set(
        samples.map((t, i) => `${byNode.find((s) => s.timestamps.includes(t))?.metric.nodeid}@${t}@${i}`),
      ).size,
      samples.length,
    );

    const firstTs = Math.min(...result.acknowledged.map((p) => p.timestampMs));
    const sentAt = (ts: number) => (ts - firstTs) * (1000 / rate); // push i carries timestamp first + i, sent at i / rate
    const byCity = (await vm.exportSeries('edit[.]rtt[.]by_city[.]22')).flatMap((s) => s.timestamps);
    const byCountry = (await vm.exportSeries('edit[.]rtt[.]by_country[.]22')).flatMap((s) => s.timestamps);
    assert.ok(byCity.length > 0, 'the new dimension is written');
    const effectMs = Math.min(...byCity.map(sentAt)) - editAt;
    console.log(
      `edit-to-effect: ${Math.round(effectMs)} ms (first push written with the new dimensions, after the CR edit)`,
    );
    assert.ok(effectMs < 2000, `new dimensions took ${effectMs} ms`);
    for (const t of byCountry)
      assert.ok(sentAt(t) < editAt + 2000, 'no push long after the edit used the old dimensions');
    for (const p of result.acknowledged.filter((a) => sentAt(a.timestampMs) > editAt + 2000)) {
      assert.ok(byCity.includes(p.timestampMs), `push at +${sentAt(p.timestampMs)} ms has no by_city point`);
    }
  });

  it('rotating the push token: the new one works within 2 s, the old one stops after the overlap', async () => {
    const { ns, bridge } = await deploy('rotate');
    const NEW = 'rotated-token-aa11bb22cc33dd44ee55ff6677889900';
    const body = (i: number) =>
      JSON.stringify({
        TestId: 33,
        NodeId: nodes()[0]!.id,
        Summary: { Timestamp: `2024010100000${i}000`, Timing: { Total: 5 } },
      });
    await writeSecret(admin, ns, 'push', { token: NEW });
    const rotatedAt = Date.now();
    await eventually(
      () => bridge.push(`/push/${NEW}`, body(1)),
      (r) => r.status === 200,
      2000,
      'new token accepted within 2 s',
    );
    console.log(`token rotation took effect in ${Date.now() - rotatedAt} ms`);
    assert.equal(
      (await bridge.push(`/push/${TOKEN}`, body(2))).status,
      200,
      'the old token works during the overlap',
    );
    await new Promise((r) => setTimeout(r, 3500 - (Date.now() - rotatedAt)));
    assert.equal(
      (await bridge.push(`/push/${TOKEN}`, body(3))).status,
      401,
      'the old token is refused after the overlap',
    );
    assert.ok(
      bridge.logs.every((l) => !l.includes(NEW) && !l.includes(TOKEN)),
      'no token in the logs',
    );
  });

  it('the API server restarting under a push stream refuses nothing, and edits apply after it returns', async () => {
    const { ns, bridge } = await deploy('apirestart');
    const stream = runPushStream({
      url: () => `${bridge.url}/push/${TOKEN}`,
      ratePerSecond: 50,
      durationMs: 7000,
      testId: 44,
      nodes: nodes(),
    });
    await new Promise((r) => setTimeout(r, 1000));
    await plane.restartApiServer();
    const result = await stream;
    assert.equal(result.refused, 0, JSON.stringify([...result.failures]));
    await vm.waitForPoints('apirestart[.]rtt[.]by_node[.]44', result.acknowledged.length);
    await applyBridge(ns, 'b', spec('apirestart', { dimensions: ['node', 'city'] }));
    const push = JSON.stringify({
      TestId: 45,
      NodeId: nodes()[0]!.id,
      Summary: { Timestamp: '20240101000000000', Timing: { Total: 5 } },
    });
    await eventually(
      async () => {
        await bridge.push(
          `/push/${TOKEN}`,
          push.replace('20240101000000000', `2024010100${String(Date.now() % 10000).padStart(4, '0')}000`),
        );
        return vm.exportSeries('apirestart[.]rtt[.]by_city[.]45');
      },
      (s) => s.length > 0,
      30_000,
      'the edit made after the restart applies',
    );
  });

  it("the bridge's ServiceAccount can read nothing but its own CR and Secrets", async () => {
    const { ns, kubeconfig } = await deploy('rbac');
    await writeSecret(admin, ns, 'unrelated', { password: 'x' });
    await applyBridge(ns, 'other', spec('rbac'));
    const { KubeConfig } = await import('@kubernetes/client-node');
    const sa = new KubeConfig();
    sa.loadFromFile(kubeconfig);
    const status = (path: string) =>
      kubeRequest(sa, { path }).then(
        () => 200,
        (err: { statusCode?: number }) => err.statusCode,
      );
    assert.equal(await status(`/api/v1/namespaces/${ns}/secrets/push`), 200);
    assert.equal(
      await status(`/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges/b`),
      200,
    );
    assert.equal(await status(`/api/v1/namespaces/${ns}/secrets/unrelated`), 403);
    assert.equal(await status(`/api/v1/namespaces/${ns}/secrets`), 403, 'no listing every Secret');
    assert.equal(
      await status(`/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges/other`),
      403,
    );
  });

  it('TLS: the CA bundle from a ConfigMap the operator grants; a wrong one is in status.bridge until fixed, nothing lost', async () => {
    const pki = createTestPki();
    const ca = pki.ca('cluster-tsdb-ca');
    const wrongCa = pki.ca('wrong-ca');
    const client = pki.issue(ca, 'bridge', { client: true });
    const nginx = await startNginxTlsProxy(vm.httpPutUrl, [
      { server: pki.issue(ca, 'tsdb', { ips: ['127.0.0.1'] }), clientCa: ca },
    ]);
    const endpoint = nginx.urls[0] as string;
    const caConfigMap = (cert: string) => (ns: string) =>
      applyObject(
        admin,
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'tsdb-ca', namespace: ns },
          data: { 'ca.crt': cert },
        } as never,
        { fieldManager: 'kubectl-test' },
      ).then(() => {});
    try {
      const { ns, bridge, kubeconfig } = await deploy(
        'tls',
        {
          tsdb: {
            endpoints: [endpoint],
            batchMaxDelay: '20ms',
            timeout: '2s',
            tls: { caRef: { configMapName: 'tsdb-ca' }, clientCertSecretRef: { name: 'tsdb-client' } },
          },
        },
        async (ns) => {
          await caConfigMap(wrongCa.cert)(ns);
          await writeSecret(admin, ns, 'tsdb-client', { 'tls.crt': client.cert, 'tls.key': client.key });
        },
      );
      const result = await runPushStream({
        url: () => `${bridge.url}/push/${TOKEN}`,
        ratePerSecond: 20,
        durationMs: 1000,
        testId: 41,
        nodes: nodes(),
      });
      assert.equal(result.refused, 0);
      type Report = { tsdbError?: { endpoint: string; code: string; message: string; since: string } };
      const report = async () =>
        ((await getBridge(admin, ns, 'b'))?.status as { bridge?: Report } | undefined)?.bridge;
      const failing = await eventually(
        report,
        (r) => r?.tsdbError?.code === 'CPB_ERR_TSDB_TLS',
        20_000,
        'tsdbError',
      );
      assert.equal(failing?.tsdbError?.endpoint, endpoint);
      assert.match(failing?.tsdbError?.message ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      assert.doesNotMatch(JSON.stringify(failing), /BEGIN|PRIVATE/);

      await caConfigMap(ca.cert)(ns);
      await vm.waitForPoints('tls[.]rtt[.]by_node[.]41', result.acknowledged.length, 30_000);
      await eventually(
        report,
        (r) => r !== undefined && r.tsdbError === undefined,
        20_000,
        'tsdbError cleared',
      );

      // The Role names this ConfigMap only (kube-root-ca.crt is in every namespace).
      const { KubeConfig } = await import('@kubernetes/client-node');
      const sa = new KubeConfig();
      sa.loadFromFile(kubeconfig);
      const status = (path: string) =>
        kubeRequest(sa, { path }).then(
          () => 200,
          (err: { statusCode?: number }) => err.statusCode,
        );
      assert.equal(await status(`/api/v1/namespaces/${ns}/configmaps/tsdb-ca`), 200);
      assert.equal(await status(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`), 403);
    } finally {
      await nginx.close();
      pki.close();
    }
  });
});
