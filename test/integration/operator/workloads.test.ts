/**
 * The operator with the real Deployment and ReplicaSet controllers, scheduler, and kwok's fake
 * Nodes in place of kubelets: Ready comes from Pods that were really created, scheduled and
 * reported Ready — no Deployment status written by the test. Also the plane's own teardown of
 * those processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { readState } from '../../../scripts/control-plane/control-plane.ts';
import { isRunning } from '../../../scripts/control-plane/process-group.ts';
import { applyObject } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import type { RunningOperator } from '../../../src/operator/main.ts';
import { type ControlPlane, startControlPlane } from '../../harness/control-plane.ts';
import {
  condition,
  eventually,
  getBridge,
  installOperatorRbac,
  startOperator,
  writeSecret,
} from '../../harness/operator.ts';

let plane: ControlPlane;
let admin: KubeConfig;
let operator: RunningOperator;
let workloadPids: readonly number[] = [];
let stopped = false;

before(async () => {
  plane = await startControlPlane({ workloads: { nodes: 2, podsPerNode: 20 } });
  admin = plane.kubeConfig;
  workloadPids = readState(plane.stateDir)?.pids.workloads ?? [];
  const opNs = await plane.createNamespace('operator');
  operator = await startOperator(await installOperatorRbac(plane, opNs));
});
after(async () => {
  if (stopped) return;
  await operator?.stop();
  await plane?.stop();
});

interface PodList {
  items: Array<{
    spec: { nodeName?: string; serviceAccountName?: string };
    status: { phase?: string; conditions?: Array<{ type: string; status: string }> };
  }>;
}

/** Apply requests the operator sent, all kinds. */
async function appliesSent(): Promise<number> {
  const text = await (await fetch(`${operator.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('catchpoint_operator_api_writes_total{') && line.includes('verb="apply"'))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

const applyBridge = (ns: string, spec: Record<string, unknown>) =>
  applyObject(
    admin,
    {
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name: 'b', namespace: ns },
      spec: {
        catchpoint: { api: 'v2', credentialsSecretRef: { name: 'cp' } },
        push: { tokenSecretRef: { name: 'push' } },
        tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
        ...spec,
      },
    } as never,
    { fieldManager: 'kubectl-test' },
  );

describe('workloads', () => {
  it('the plane runs kube-controller-manager, kube-scheduler and kwok, with Ready fake Nodes', async () => {
    assert.equal(workloadPids.length, 3);
    for (const pid of workloadPids) assert.ok(isRunning(pid), `workload process ${pid} is running`);
    const nodes = await kubeRequest<{
      items: Array<{ status: { conditions: Array<{ type: string; status: string }> } }>;
    }>(admin, { path: '/api/v1/nodes' });
    assert.equal(nodes.items.length, 2);
    for (const n of nodes.items)
      assert.ok(n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
  });

  it('a CatchpointBridge becomes Ready from Pods the controllers created and kwok reported Ready', async () => {
    const ns = await plane.createNamespace('ready');
    await writeSecret(admin, ns, 'cp', { apiKey: 'k' });
    await writeSecret(admin, ns, 'push', { token: 't' });
    await applyBridge(ns, {});
    const cr = await eventually(
      () => getBridge(admin, ns, 'b'),
      (b) => condition(b, 'Ready')?.status === 'True',
      60_000,
      'Ready=True',
    );
    assert.equal(condition(cr, 'Available')?.reason, 'MinimumReplicasAvailable');
    // Pods coming up change the Deployment's status several times; none of that re-applies a child.
    assert.equal(
      await appliesSent(),
      6,
      'one apply per child: ServiceAccount, Role, RoleBinding, Service, Deployment, PDB',
    );
    const pods = await kubeRequest<PodList>(admin, { path: `/api/v1/namespaces/${ns}/pods` });
    assert.equal(pods.items.length, 2, 'the default two replicas');
    for (const p of pods.items) {
      assert.match(p.spec.nodeName ?? '', /^kwok-node-/, 'scheduled onto a fake Node');
      assert.equal(p.spec.serviceAccountName, 'cpb-b');
      assert.equal(p.status.phase, 'Running');
    }
    // Scaling through the CR: the status follows what the controllers report, 3/3.
    await applyBridge(ns, { deployment: { replicas: 3 } });
    await eventually(
      () => getBridge(admin, ns, 'b'),
      (b) => (b?.status as { replicasSummary?: string } | undefined)?.replicasSummary === '3/3',
      60_000,
      'replicas 3/3',
    );
    assert.equal(await appliesSent(), 7, 'the replica count changed the Deployment only');

    // Someone edits a child by hand: it is put back, with every child re-applied once.
    await kubeRequest(admin, {
      method: 'PATCH',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/cpb-b`,
      contentType: 'application/merge-patch+json',
      body: { rules: [] },
    });
    await eventually(
      () =>
        kubeRequest<{ rules: Array<{ resources: string[] }> }>(admin, {
          path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/cpb-b`,
        }),
      (role) => role.rules.some((r) => r.resources.includes('secrets')),
      15_000,
      'the Role restored',
    );
    assert.equal(await appliesSent(), 13, 'the six children re-applied once, not twice');
  });

  it('stopping the plane stops the workload processes too', async () => {
    stopped = true;
    await operator.stop();
    await plane.stop();
    for (const pid of workloadPids) assert.equal(isRunning(pid), false, `workload process ${pid} stopped`);
  });
});
