/**
 * The operator against a real kube-apiserver + etcd, running as its own ServiceAccount with
 * exactly the chart's RBAC: children, owner references, status, live edits that do not roll the
 * pods, Secrets appearing later, and an idempotent restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject, getObject } from '../../../src/kube/apply.ts';
import type { RunningOperator } from '../../../src/operator/main.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import {
  condition,
  eventually,
  getBridge,
  installOperatorRbac,
  markDeploymentAvailable,
  startOperator,
  TEST_IMAGE,
  writeSecret,
} from '../../harness/operator.ts';

let plane: ControlPlane;
let admin: KubeConfig;
let operatorKc: KubeConfig;
let operator: RunningOperator;
let opNs: string;

before(async () => {
  plane = await sharedControlPlane();
  admin = plane.kubeConfig;
  opNs = await plane.createNamespace('operator');
  operatorKc = await installOperatorRbac(plane, opNs);
  operator = await startOperator(operatorKc);
});
after(async () => {
  await operator?.stop();
});

function bridgeManifest(namespace: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'catchpoint-bridge.io/v1alpha1',
    kind: 'CatchpointBridge',
    metadata: { name, namespace },
    spec: {
      catchpoint: { api: 'v2', credentialsSecretRef: { name: 'catchpoint-api' } },
      push: { tokenSecretRef: { name: 'catchpoint-push' } },
      tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
      ...spec,
    },
  };
}

const applyBridge = (namespace: string, name: string, spec: Record<string, unknown> = {}) =>
  applyObject(admin, bridgeManifest(namespace, name, spec) as never, { fieldManager: 'kubectl-test' });

type Obj = {
  metadata: {
    resourceVersion: string;
    generation?: number;
    ownerReferences?: Array<Record<string, unknown>>;
  };
  spec?: Record<string, unknown>;
  rules?: Array<{ resources: string[]; resourceNames?: string[] }>;
};
const child = (apiVersion: string, kind: string, ns: string, name: string) =>
  getObject<Obj>(admin, apiVersion, kind, ns, name);

describe('operator', () => {
  it('a CatchpointBridge gets its children with owner references, and a status that explains itself', async () => {
    const ns = await plane.createNamespace('apply');
    await writeSecret(admin, ns, 'catchpoint-api', { apiKey: 'k' });
    await writeSecret(admin, ns, 'catchpoint-push', { token: 't' });
    const cr = (await applyBridge(ns, 'dns')) as unknown as { metadata: { uid: string } };

    const kinds: Array<[string, string]> = [
      ['v1', 'ServiceAccount'],
      ['rbac.authorization.k8s.io/v1', 'Role'],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
      ['v1', 'Service'],
      ['apps/v1', 'Deployment'],
      ['policy/v1', 'PodDisruptionBudget'],
    ];
    for (const [apiVersion, kind] of kinds) {
      const obj = await eventually(
        () => child(apiVersion, kind, ns, 'cpb-dns'),
        (o) => o !== undefined,
        15_000,
        kind,
      );
      assert.deepEqual(obj!.metadata.ownerReferences, [
        {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          name: 'dns',
          uid: cr.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
    const dep = (await child('apps/v1', 'Deployment', ns, 'cpb-dns'))!;
    const container = (
      dep.spec as { template: { spec: { containers: Array<{ image: string; args: string[] }> } } }
    ).template.spec.containers[0]!;
    assert.equal(container.image, TEST_IMAGE);
    assert.deepEqual(container.args.slice(0, 3), ['bridge', '--resource', `${ns}/dns`]);

    const status = await eventually(
      () => getBridge(admin, ns, 'dns'),
      (b) => condition(b, 'Reconciled')?.status === 'True',
      15_000,
      'Reconciled',
    );
    assert.equal(status?.status?.observedGeneration, 1);
    assert.equal(condition(status, 'SecretsFound')?.status, 'True');
    assert.equal(condition(status, 'Available')?.reason, 'DeploymentUnavailable');
    assert.equal(condition(status, 'Ready')?.status, 'False');
    assert.equal(status?.status?.endpoint, `http://cpb-dns.${ns}.svc/push`);

    await markDeploymentAvailable(admin, ns, 'cpb-dns', 2);
    const ready = await eventually(
      () => getBridge(admin, ns, 'dns'),
      (b) => condition(b, 'Ready')?.status === 'True',
      15_000,
      'Ready',
    );
    assert.equal(ready?.status?.replicasSummary, '2/2');
  });

  it('editing dimensions does not roll the Deployment; renaming a Secret makes the Role follow', async () => {
    const ns = await plane.createNamespace('edit');
    await writeSecret(admin, ns, 'catchpoint-api', { apiKey: 'k' });
    await writeSecret(admin, ns, 'catchpoint-push', { token: 't' });
    await applyBridge(ns, 'e');
    await eventually(
      () => getBridge(admin, ns, 'e'),
      (b) => condition(b, 'Reconciled')?.status === 'True',
      15_000,
      'Reconciled',
    );
    const before = (await child('apps/v1', 'Deployment', ns, 'cpb-e'))!;

    await applyBridge(ns, 'e', {
      dimensions: ['city', 'country'],
      measurements: ['rtt', 'status', 'timing.dns'],
    });
    await eventually(
      () => getBridge(admin, ns, 'e'),
      (b) => b?.status?.observedGeneration === 2,
      15_000,
      'generation 2 observed',
    );
    const after = (await child('apps/v1', 'Deployment', ns, 'cpb-e'))!;
    assert.equal(
      after.metadata.resourceVersion,
      before.metadata.resourceVersion,
      'the Deployment was not touched',
    );
    assert.equal(after.metadata.generation, before.metadata.generation);

    await writeSecret(admin, ns, 'other-api', { apiKey: 'k2' });
    await applyBridge(ns, 'e', { catchpoint: { api: 'v2', credentialsSecretRef: { name: 'other-api' } } });
    const role = await eventually(
      () => child('rbac.authorization.k8s.io/v1', 'Role', ns, 'cpb-e'),
      (r) =>
        r?.rules?.find((x) => x.resources[0] === 'secrets')?.resourceNames?.includes('other-api') === true,
      15_000,
      'Role follows the Secret name',
    );
    assert.deepEqual(role!.rules!.find((x) => x.resources[0] === 'secrets')!.resourceNames, [
      'catchpoint-push',
      'other-api',
    ]);
  });

  it('a missing Secret is Ready=False/SecretNotFound; creating it makes the CR ready with no other action', async () => {
    const ns = await plane.createNamespace('secret');
    await writeSecret(admin, ns, 'catchpoint-api', { apiKey: 'k' });
    await applyBridge(ns, 's', { deployment: { replicas: 1 } });
    const missing = await eventually(
      () => getBridge(admin, ns, 's'),
      (b) => condition(b, 'Ready')?.reason === 'SecretNotFound',
      15_000,
      'SecretNotFound',
    );
    assert.match(condition(missing, 'Ready')!.message, /"catchpoint-push" not found/);
    // The operator's per-CR readiness metric (what the CatchpointBridgeNotReady alert reads):
    // `reason value` of its one series for this CR.
    const readyMetric = async () => {
      const text = await (await fetch(`${operator.url}/metrics`)).text();
      const prefix = `catchpoint_operator_bridge_ready{bridge_namespace="${ns}",bridge_name="s",reason="`;
      const line = text.split('\n').find((l) => l.startsWith(prefix));
      return line?.slice(prefix.length).replace('"} ', ' ');
    };
    await eventually(readyMetric, (v) => v === 'SecretNotFound 0', 15_000, 'bridge_ready 0 while not Ready');
    await markDeploymentAvailable(admin, ns, 'cpb-s', 1);
    await writeSecret(admin, ns, 'catchpoint-push', { token: 't' });
    await eventually(
      () => getBridge(admin, ns, 's'),
      (b) => condition(b, 'Ready')?.status === 'True',
      15_000,
      'Ready after the Secret appears',
    );
    await eventually(readyMetric, (v) => v === 'Ready 1', 15_000, 'bridge_ready 1 once Ready');
    const events = await (await import('../../../src/kube/request.ts')).kubeRequest<{
      items: Array<{ reason: string; involvedObject: { name: string } }>;
    }>(admin, {
      path: `/api/v1/namespaces/${ns}/events`,
    });
    assert.deepEqual(
      events.items
        .filter((e) => e.involvedObject.name === 's')
        .map((e) => e.reason)
        .sort(),
      ['Ready', 'SecretNotFound'],
      'one Event per Ready transition',
    );
  });

  it('restarting the operator writes nothing', async () => {
    const ns = await plane.createNamespace('restart');
    await writeSecret(admin, ns, 'catchpoint-api', { apiKey: 'k' });
    await writeSecret(admin, ns, 'catchpoint-push', { token: 't' });
    for (const name of ['r1', 'r2', 'r3']) await applyBridge(ns, name);
    for (const name of ['r1', 'r2', 'r3']) {
      await eventually(
        () => getBridge(admin, ns, name),
        (b) => condition(b, 'Reconciled')?.status === 'True',
        15_000,
        name,
      );
    }
    const rvs = async () =>
      JSON.stringify(
        await Promise.all(
          ['r1', 'r2', 'r3'].flatMap((n) => [
            getBridge(admin, ns, n).then((b) => b?.metadata.resourceVersion),
            child('apps/v1', 'Deployment', ns, `cpb-${n}`).then((d) => d?.metadata.resourceVersion),
            child('rbac.authorization.k8s.io/v1', 'Role', ns, `cpb-${n}`).then(
              (d) => d?.metadata.resourceVersion,
            ),
          ]),
        ),
      );
    // Let the running operator settle (its own status writes trigger one more quiet pass).
    await new Promise((r) => setTimeout(r, 1500));
    const before = await rvs();
    await operator.stop();
    operator = await startOperator(operatorKc);
    await new Promise((r) => setTimeout(r, 3000));
    const writes = await operator.metrics.apiWrites.get();
    assert.deepEqual(
      writes.values.filter((v) => v.value > 0),
      [],
      'the restarted operator sent no write request',
    );
    assert.equal(await rvs(), before, 'no object changed');
    const reconciles = await operator.metrics.reconcileTotal.get();
    assert.ok(reconciles.values.reduce((a, v) => a + v.value, 0) >= 3, 'it did reconcile every CR');
  });
});
