// Server-side apply against a real kube-apiserver: the server must record our writes as
// operation "Apply" under our field manager (proof of the content type), updates must be
// idempotent, and status applies must touch only the status fields their manager owns.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { applyObject, applyStatus, getObject, type KubeObject } from '../../../src/kube/apply.ts';
import { describeKubeError, isConflict, isNotFound } from '../../../src/kube/errors.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { applyBridge, CR_API_VERSION, CR_KIND, CR_PLURAL, TEST_FIELD_MANAGER } from './support.ts';

interface Live extends KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion: string;
    generation?: number;
    managedFields?: { manager: string; operation: string; subresource?: string; fieldsV1?: unknown }[];
  };
  data?: Record<string, string>;
  spec?: unknown;
  status?: Record<string, unknown>;
}

let plane: ControlPlane;

before(async () => {
  plane = await sharedControlPlane();
});

function configMap(namespace: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace }, data };
}

describe('applyObject', () => {
  test('creates, then updates idempotently: an identical apply leaves resourceVersion alone', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('apply-idempotent');
    const created = await applyObject<Live>(kc, configMap(ns, { a: '1', b: '2' }), { fieldManager: 'op' });
    assert.deepEqual(created.data, { a: '1', b: '2' });
    // The server treated the PATCH as server-side apply (not merge/json patch) for our manager.
    assert.deepEqual(
      created.metadata.managedFields?.map((f) => [f.manager, f.operation]),
      [['op', 'Apply']],
    );

    const again = await applyObject<Live>(kc, configMap(ns, { a: '1', b: '2' }), { fieldManager: 'op' });
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion);

    // Omitting a field this manager owns removes it: apply sends the whole opinion.
    const changed = await applyObject<Live>(kc, configMap(ns, { a: '3' }), { fieldManager: 'op' });
    assert.notEqual(changed.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.deepEqual(changed.data, { a: '3' });
    assert.deepEqual((await getObject<Live>(kc, 'v1', 'ConfigMap', ns, 'settings'))?.data, { a: '3' });
  });

  test('force takes over fields of another manager; without force that is a 409 conflict', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('apply-force');
    await applyObject(kc, configMap(ns, { shared: 'theirs' }), { fieldManager: 'someone-else' });
    await assert.rejects(
      applyObject(kc, configMap(ns, { shared: 'ours' }), { fieldManager: 'op', force: false }),
      (err) => isConflict(err) && describeKubeError(err).reason === 'Conflict',
    );
    const forced = await applyObject<Live>(kc, configMap(ns, { shared: 'ours' }), { fieldManager: 'op' });
    assert.equal(forced.data?.shared, 'ours');
  });

  test('cluster-scoped objects and dry runs', async () => {
    const kc = plane.kubeConfig;
    const name = `apply-cluster-${Date.now()}`;
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    };
    await applyObject(kc, role, { fieldManager: 'op', dryRun: true });
    assert.equal(
      await getObject(kc, 'rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, name),
      undefined,
    );
    const applied = await applyObject<Live>(kc, role, { fieldManager: 'op' });
    assert.equal(applied.metadata.name, name);
    assert.equal(applied.metadata.namespace, undefined);
  });

  test('refuses objects it cannot place, and unknown kinds, with coded errors', async () => {
    const kc = plane.kubeConfig;
    await assert.rejects(
      applyObject(
        kc,
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
        { fieldManager: 'op' },
      ),
      { code: 'CPB_ERR_KUBE_BAD_OBJECT' },
    );
    await assert.rejects(
      applyObject(
        kc,
        { apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } },
        { fieldManager: 'op' },
      ),
      { code: 'CPB_ERR_KUBE_UNKNOWN_KIND' },
    );
    await assert.rejects(getObject(kc, 'nosuch.example.com/v1', 'Thing', 'default', 'x'), {
      code: 'CPB_ERR_KUBE_UNKNOWN_KIND',
    });
  });
});

describe('applyStatus', () => {
  const target = (namespace: string, status: Record<string, unknown>) => ({
    apiVersion: CR_API_VERSION,
    kind: CR_KIND,
    plural: CR_PLURAL,
    namespace,
    name: 'b',
    status,
  });

  test('writes the status of a CatchpointBridge without touching spec or generation', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('apply-status');
    const created = await applyBridge(kc, ns, 'b');
    const live = await applyStatus<Live>(
      kc,
      target(ns, { observedGeneration: 1, replicas: 1, replicasSummary: '0/1' }),
      {
        fieldManager: 'operator',
      },
    );
    assert.deepEqual(live.status, { observedGeneration: 1, replicas: 1, replicasSummary: '0/1' });
    assert.deepEqual(live.spec, created.spec);
    assert.equal(
      live.metadata.generation,
      created.metadata.generation,
      'status writes do not bump generation',
    );
    assert.ok(
      live.metadata.managedFields?.some(
        (f) => f.manager === 'operator' && f.operation === 'Apply' && f.subresource === 'status',
      ),
      JSON.stringify(live.metadata.managedFields),
    );
    // The spec stays owned by whoever applied it.
    assert.ok(
      live.metadata.managedFields?.some(
        (f) => f.manager === TEST_FIELD_MANAGER && f.subresource === undefined,
      ),
    );
  });

  test('two managers own different status fields without conflicts, even without force', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('apply-status-managers');
    await applyBridge(kc, ns, 'b');
    await applyStatus(kc, target(ns, { observedGeneration: 1, replicas: 1 }), {
      fieldManager: 'operator',
      force: false,
    });
    await applyStatus(kc, target(ns, { bridge: { datapointsWritten: 5, spoolBytes: 0 } }), {
      fieldManager: 'bridge',
      force: false,
    });
    const operatorAgain = await applyStatus<Live>(kc, target(ns, { observedGeneration: 2, replicas: 1 }), {
      fieldManager: 'operator',
      force: false,
    });
    assert.deepEqual(operatorAgain.status, {
      observedGeneration: 2,
      replicas: 1,
      bridge: { datapointsWritten: 5, spoolBytes: 0 },
    });
    const bridgeAgain = await applyStatus<Live>(
      kc,
      target(ns, { bridge: { datapointsWritten: 9, spoolBytes: 0 } }),
      {
        fieldManager: 'bridge',
        force: false,
      },
    );
    assert.deepEqual(bridgeAgain.status, {
      observedGeneration: 2,
      replicas: 1,
      bridge: { datapointsWritten: 9, spoolBytes: 0 },
    });
    // And a real conflict is reported: the bridge may not take the operator's field unforced.
    await assert.rejects(
      applyStatus(kc, target(ns, { replicas: 7 }), { fieldManager: 'bridge', force: false }),
      isConflict,
    );
  });

  test('a missing object is a 404, not a create', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('apply-status-missing');
    await assert.rejects(
      applyStatus(kc, target(ns, { replicas: 1 }), { fieldManager: 'operator' }),
      isNotFound,
    );
    assert.equal(await getObject(kc, CR_API_VERSION, CR_PLURAL, ns, 'b'), undefined);
  });
});

describe('errors from client-node typed clients', () => {
  test('are classified and described without headers or raw bodies', async () => {
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const err = await core.readNamespacedSecret({ name: 'missing', namespace: 'default' }).then(
      () => assert.fail('expected a 404'),
      (e: unknown) => e,
    );
    assert.equal(isNotFound(err), true);
    const description = describeKubeError(err);
    assert.deepEqual(description, { code: 404, reason: 'NotFound', message: 'secrets "missing" not found' });
    // client-node's own message carries the headers; ours must not.
    assert.match(String((err as Error).message), /Headers/);
    assert.doesNotMatch(JSON.stringify(description), /Headers|audit-id|content-type/i);
  });
});
