/**
 * The reconciler's decisions, over an in-memory cluster: what it applies, what it reports, and
 * that a pass with nothing changed writes nothing. (The same reconciler runs against the real
 * API server in test/integration/operator.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CatchpointBridge, CatchpointBridgeStatus } from '../../../src/api/types.ts';
import type { ChildKind, Manifest } from '../../../src/operator/catchpoint-bridge/desired.ts';
import {
  CatchpointBridgeReconciler,
  type ChildObject,
  type ClusterReader,
  type ClusterWriter,
} from '../../../src/operator/catchpoint-bridge/reconciler.ts';
import { createLogger } from '../../../src/shared/logger.ts';

class MemoryCluster implements ClusterReader, ClusterWriter {
  bridges = new Map<string, CatchpointBridge>();
  secrets = new Map<string, Record<string, string>>();
  children = new Map<string, ChildObject & Manifest>();
  writes: string[] = [];
  events: string[] = [];

  async getBridge(ns: string, name: string) {
    return structuredClone(this.bridges.get(`${ns}/${name}`));
  }
  async getSecretKeys(ns: string, name: string) {
    const data = this.secrets.get(`${ns}/${name}`);
    return data === undefined ? undefined : new Set(Object.keys(data).filter((k) => data[k] !== ''));
  }
  async getChild(kind: ChildKind, ns: string, name: string) {
    return this.children.get(`${kind}/${ns}/${name}`);
  }
  async apply(m: Manifest) {
    this.writes.push(`apply ${m.kind}`);
    const key = `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`;
    this.children.set(key, { ...structuredClone(m), status: this.children.get(key)?.status } as ChildObject &
      Manifest);
  }
  async remove(kind: ChildKind, ns: string, name: string) {
    this.writes.push(`delete ${kind}`);
    this.children.delete(`${kind}/${ns}/${name}`);
  }
  async applyStatus(cr: CatchpointBridge, status: CatchpointBridgeStatus) {
    this.writes.push('status');
    const stored = this.bridges.get(`${cr.metadata.namespace}/${cr.metadata.name}`)!;
    stored.status = structuredClone(status);
  }
  async event(_cr: CatchpointBridge, type: string, reason: string) {
    this.events.push(`${type} ${reason}`);
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

function setup(spec: Record<string, unknown> = {}) {
  const cluster = new MemoryCluster();
  cluster.bridges.set('ns/b', {
    apiVersion: 'catchpoint-bridge.io/v1alpha1',
    kind: 'CatchpointBridge',
    metadata: { name: 'b', namespace: 'ns', uid: 'u1', generation: 1 },
    spec: {
      catchpoint: { credentialsSecretRef: { name: 'cp' } },
      push: { tokenSecretRef: { name: 'push' } },
      tsdb: { endpoints: ['http://tsdb:4242'] },
      ...spec,
    } as CatchpointBridge['spec'],
  });
  const reconciler = new CatchpointBridgeReconciler({
    reader: cluster,
    writer: cluster,
    config: { image: 'img:1' },
    logger: createLogger({ level: 'silent' }),
    now: () => new Date('2026-11-25T00:00:00Z'),
  });
  const status = () => cluster.bridges.get('ns/b')!.status!;
  const condition = (type: string) => status().conditions!.find((c) => c.type === type)!;
  return { cluster, reconciler, status, condition, req: { namespace: 'ns', name: 'b' } };
}

describe('reconciler', () => {
  it('a missing Secret is Ready=False/SecretNotFound naming it; creating it makes the CR ready', async () => {
    const { cluster, reconciler, condition, req } = setup();
    cluster.secrets.set('ns/cp', { apiKey: b64('k') });
    await reconciler.reconcile(req);
    assert.equal(condition('Ready').status, 'False');
    assert.equal(condition('Ready').reason, 'SecretNotFound');
    assert.match(condition('Ready').message, /"push"/);
    assert.equal(condition('Reconciled').status, 'True', 'children are applied all the same');

    cluster.secrets.set('ns/push', { other: b64('x') });
    await reconciler.reconcile(req);
    assert.equal(condition('Ready').reason, 'SecretKeyMissing');
    assert.match(condition('Ready').message, /Secret "push" has no key "token"/);

    cluster.secrets.set('ns/push', { token: b64('t') });
    cluster.children.get('Deployment/ns/cpb-b')!.status = {
      availableReplicas: 2,
      readyReplicas: 2,
      replicas: 2,
    };
    await reconciler.reconcile(req);
    assert.equal(condition('Ready').status, 'True');
    assert.deepEqual(cluster.events, ['Warning SecretNotFound', 'Warning SecretKeyMissing', 'Normal Ready']);
  });

  it('a second pass with nothing changed writes nothing', async () => {
    const { cluster, reconciler, req } = setup();
    cluster.secrets.set('ns/cp', { apiKey: b64('k') });
    cluster.secrets.set('ns/push', { token: b64('t') });
    await reconciler.reconcile(req);
    assert.deepEqual(cluster.writes, [
      'apply ServiceAccount',
      'apply Role',
      'apply RoleBinding',
      'apply Service',
      'apply Deployment',
      'apply PodDisruptionBudget',
      'status',
    ]);
    cluster.writes = [];
    await reconciler.reconcile(req);
    await reconciler.reconcile(req);
    assert.deepEqual(cluster.writes, []);
  });

  it('no Deployment availability is reported apart from having reconciled', async () => {
    const { cluster, reconciler, condition, status, req } = setup();
    cluster.secrets.set('ns/cp', { apiKey: b64('k') });
    cluster.secrets.set('ns/push', { token: b64('t') });
    await reconciler.reconcile(req);
    assert.equal(condition('Reconciled').status, 'True');
    assert.equal(condition('Available').status, 'False');
    assert.equal(condition('Ready').reason, 'DeploymentUnavailable');
    assert.equal(status().replicasSummary, '0/2');
    assert.equal(status().observedGeneration, 1);
  });

  it('a PDB no longer needed is deleted; an invalid spec stops at ConfigValid', async () => {
    const { cluster, reconciler, condition, req } = setup();
    cluster.secrets.set('ns/cp', { apiKey: b64('k') });
    cluster.secrets.set('ns/push', { token: b64('t') });
    await reconciler.reconcile(req);
    const cr = cluster.bridges.get('ns/b')!;
    cr.spec = { ...cr.spec, deployment: { replicas: 1 } } as CatchpointBridge['spec'];
    cr.metadata.generation = 2;
    cluster.writes = [];
    await reconciler.reconcile(req);
    assert.ok(cluster.writes.includes('delete PodDisruptionBudget'));
    assert.ok(cluster.writes.includes('apply Deployment'));

    cr.spec = { ...cr.spec, dimensions: ['planet'] } as unknown as CatchpointBridge['spec'];
    cr.metadata.generation = 3;
    cluster.writes = [];
    await reconciler.reconcile(req);
    assert.deepEqual(cluster.writes, ['status']);
    assert.equal(condition('Ready').reason, 'InvalidSpec');
    assert.match(condition('ConfigValid').message, /\/spec\/dimensions\/0/);
  });

  it('paused: Ready Unknown, nothing applied', async () => {
    const { cluster, reconciler, condition, req } = setup({ paused: true });
    await reconciler.reconcile(req);
    assert.deepEqual(cluster.writes, ['status']);
    assert.equal(condition('Ready').status, 'Unknown');
    assert.equal(condition('Ready').reason, 'Paused');
  });

  it('a deleted CR is done', async () => {
    const { cluster, reconciler } = setup();
    assert.deepEqual(await reconciler.reconcile({ namespace: 'ns', name: 'gone' }), {});
    assert.deepEqual(cluster.writes, []);
  });

  it('a spool on claims: the StatefulSet is applied and its availability read, no Deployment', async () => {
    const { cluster, reconciler, condition, status, req } = setup({
      spool: { storage: { type: 'persistentVolumeClaim', persistentVolumeClaim: { size: '1Gi' } } },
      deployment: { replicas: 1 },
    });
    cluster.secrets.set('ns/cp', { apiKey: b64('k') });
    cluster.secrets.set('ns/push', { token: b64('t') });
    await reconciler.reconcile(req);
    assert.ok(cluster.writes.includes('apply StatefulSet'));
    assert.ok(!cluster.writes.includes('apply Deployment'));
    assert.equal(condition('Ready').reason, 'StatefulSetUnavailable');
    assert.match(
      condition('Available').message,
      /StatefulSet cpb-b has no available replica yet \(0 of 1\).*claims/,
    );
    cluster.children.get('StatefulSet/ns/cpb-b')!.status = {
      availableReplicas: 1,
      readyReplicas: 1,
      replicas: 1,
    };
    await reconciler.reconcile(req);
    assert.equal(condition('Ready').status, 'True');
    assert.equal(status().replicasSummary, '1/1');
  });
});
