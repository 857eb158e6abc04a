// The informer against a real kube-apiserver: events for CRs and (metadata-only) Secrets, RBAC
// with resourceNames + fieldSelector under a ServiceAccount token, recovery from an apiserver
// restart (which also forces the 410 Gone → relist path), the silence watchdog, and a clean stop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { describeKubeError, isForbidden } from '../../../src/kube/errors.ts';
import { Informer, type InformerObject } from '../../../src/kube/informer.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { applyBridge, CR_PLURAL, testLogger, waitFor } from './support.ts';

interface Obj extends InformerObject {
  apiVersion?: string;
  kind?: string;
  metadata: InformerObject['metadata'] & { labels?: Record<string, string> };
  spec?: { tsdb?: { endpoints?: string[] } };
  data?: Record<string, string>;
}

type Event = {
  type: 'add' | 'update' | 'delete';
  name: string;
  rv: string | undefined;
  oldRv?: string | undefined;
};

const CR_PATH = `/apis/catchpoint-bridge.io/v1alpha1/${CR_PLURAL}`;
let plane: ControlPlane;
const informers: Informer<Obj>[] = [];

before(async () => {
  plane = await sharedControlPlane();
});

after(async () => {
  await Promise.all(informers.map((informer) => informer.stop()));
});

/**
 * Starts an informer that records its events, optionally only those of one namespace. `first`
 * registers handlers ahead of the recording ones.
 */
function record(
  options: ConstructorParameters<typeof Informer<Obj>>[0],
  namespace?: string,
  first?: (informer: Informer<Obj>) => void,
) {
  const informer = new Informer<Obj>(options);
  informers.push(informer);
  first?.(informer);
  const events: Event[] = [];
  const push = (type: Event['type'], obj: Obj, old?: Obj) => {
    if (namespace !== undefined && obj.metadata.namespace !== namespace) return;
    const event: Event = { type, name: obj.metadata.name ?? '', rv: obj.metadata.resourceVersion };
    events.push(old === undefined ? event : { ...event, oldRv: old.metadata.resourceVersion });
  };
  informer
    .on('add', (obj) => push('add', obj))
    .on('update', (obj, old) => push('update', obj, old))
    .on('delete', (obj) => push('delete', obj));
  informer.start();
  return { informer, events };
}

const has = (events: Event[], type: Event['type'], name: string) =>
  events.some((e) => e.type === type && e.name === name);

describe('Informer', () => {
  test('CatchpointBridges across namespaces: list, then add/update/delete from the watch', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-cr');
    const existing = await applyBridge(kc, ns, 'existing');

    // A throwing handler (registered first) must not stop delivery to the next one, or the watch.
    const { informer, events } = record({ kc, logger: testLogger(), path: CR_PATH }, ns, (first) =>
      first.on('add', () => {
        throw new Error('handler bug');
      }),
    );
    await informer.synced;
    assert.equal(informer.hasSynced, true);
    assert.deepEqual(events, [{ type: 'add', name: 'existing', rv: existing.metadata.resourceVersion }]);
    assert.equal(informer.get(ns, 'existing')?.kind, 'CatchpointBridge');
    assert.equal(informer.get(ns, 'existing')?.apiVersion, 'catchpoint-bridge.io/v1alpha1');

    const created = await applyBridge(kc, ns, 'created');
    await waitFor('add of created', () => has(events, 'add', 'created'));
    assert.equal(informer.get(ns, 'created')?.metadata.resourceVersion, created.metadata.resourceVersion);

    const changed = await applyBridge(kc, ns, 'created', ['http://other:4242']);
    await waitFor('update of created', () => has(events, 'update', 'created'));
    assert.deepEqual(
      events.find((e) => e.type === 'update'),
      {
        type: 'update',
        name: 'created',
        rv: changed.metadata.resourceVersion,
        oldRv: created.metadata.resourceVersion,
      },
    );
    assert.deepEqual(informer.get(ns, 'created')?.spec?.tsdb?.endpoints, ['http://other:4242']);

    // An apply that changes nothing writes nothing, so no update event follows.
    await applyBridge(kc, ns, 'created', ['http://other:4242']);
    await kubeRequest(kc, { method: 'DELETE', path: `${nsPath(ns)}/existing` });
    await waitFor('delete of existing', () => has(events, 'delete', 'existing'));
    assert.equal(events.filter((e) => e.type === 'update').length, 1);
    assert.equal(informer.get(ns, 'existing'), undefined);
    assert.deepEqual(
      informer.list(ns).map((o) => o.metadata.name),
      ['created'],
    );
    assert.ok(informer.list().length >= 1);
  });

  test('Secrets metadata-only: events arrive, but no Secret data is ever cached', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-secrets');
    const secrets = `/api/v1/namespaces/${ns}/secrets`;
    await kubeRequest(kc, {
      method: 'POST',
      path: secrets,
      body: { metadata: { name: 'before' }, data: { k: 'czNjcmV0' } },
    });

    const { informer, events } = record({ kc, logger: testLogger(), path: secrets, metadataOnly: true });
    // A full informer on the same Secrets proves the data really is there to leak.
    const full = record({ kc, logger: testLogger(), path: secrets });
    await Promise.all([informer.synced, full.informer.synced]);
    assert.equal(full.informer.get(ns, 'before')?.data?.k, 'czNjcmV0');

    await kubeRequest(kc, {
      method: 'POST',
      path: secrets,
      body: { metadata: { name: 'after' }, data: { k: 'czNjcmV0' } },
    });
    await kubeRequest(kc, {
      method: 'PATCH',
      path: `${secrets}/after`,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { rotated: 'yes' } }, data: { k: 'bmV3' } },
    });
    await waitFor('update of after', () => has(events, 'update', 'after'));
    await kubeRequest(kc, { method: 'DELETE', path: `${secrets}/before` });
    await waitFor('delete of before', () => has(events, 'delete', 'before'));

    assert.deepEqual(
      events.map((e) => `${e.type}:${e.name}`),
      ['add:before', 'add:after', 'update:after', 'delete:before'],
    );
    const cached = informer.get(ns, 'after');
    assert.equal(cached?.kind, 'PartialObjectMetadata');
    assert.equal(cached?.metadata.labels?.rotated, 'yes');
    for (const obj of informer.list()) {
      assert.equal(obj.data, undefined, `${obj.metadata.name} must not carry data`);
      assert.ok(!JSON.stringify(obj).includes('czNjcmV0') && !JSON.stringify(obj).includes('bmV3'));
    }
  });

  test('fieldSelector metadata.name=x works for a ServiceAccount allowed only resourceNames=[x]', async () => {
    const admin = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-rbac');
    await kubeRequest(admin, {
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: 'bridge' } },
    });
    await kubeRequest(admin, {
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
      body: {
        metadata: { name: 'one-secret' },
        rules: [
          { apiGroups: [''], resources: ['secrets'], resourceNames: ['x'], verbs: ['get', 'list', 'watch'] },
        ],
      },
    });
    await kubeRequest(admin, {
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
      body: {
        metadata: { name: 'one-secret' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-secret' },
        subjects: [{ kind: 'ServiceAccount', name: 'bridge', namespace: ns }],
      },
    });
    const secrets = `/api/v1/namespaces/${ns}/secrets`;
    for (const name of ['x', 'y']) {
      await kubeRequest(admin, {
        method: 'POST',
        path: secrets,
        body: { metadata: { name }, data: { k: 'dg==' } },
      });
    }
    const sa = await plane.kubeConfigForServiceAccount(ns, 'bridge');
    // Without the selector the same identity may not list: the selector is what RBAC matches.
    await assert.rejects(
      kubeRequest(sa, { path: secrets }),
      (err) => isForbidden(err) && describeKubeError(err).code === 403,
    );

    const { informer, events } = record({
      kc: sa,
      logger: testLogger(),
      path: secrets,
      fieldSelector: 'metadata.name=x',
    });
    await informer.synced;
    assert.deepEqual(
      informer.list().map((o) => o.metadata.name),
      ['x'],
    );
    for (const name of ['y', 'x']) {
      await kubeRequest(admin, {
        method: 'PATCH',
        path: `${secrets}/${name}`,
        contentType: 'application/merge-patch+json',
        body: { data: { k: 'dzI=' } },
      });
    }
    await waitFor('update of x', () => has(events, 'update', 'x'));
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.name}`),
      ['add:x', 'update:x'],
    );
    assert.equal(informer.get(ns, 'x')?.data?.k, 'dzI=');
    assert.equal(informer.stats.reconnects, 0, 'the watch itself was allowed');
  });

  test('survives an apiserver restart (through 410 Gone and a relist) and delivers later events', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-restart');
    const other = await plane.createNamespace('informer-restart-other');
    await applyBridge(kc, ns, 'before');
    const { informer, events } = record(
      {
        kc,
        logger: testLogger(),
        path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/${CR_PLURAL}`,
        backoff: { maxMs: 2_000 },
      },
      ns,
    );
    await informer.synced;
    // A write elsewhere moves etcd's revision past the informer's; the restarted apiserver's watch
    // cache starts there, so resuming the old watch gets "410 too old resource version".
    await applyBridge(kc, other, 'elsewhere');
    await applyBridge(kc, ns, 'before', ['http://changed:4242']);
    await waitFor('update of before', () => has(events, 'update', 'before'));
    await applyBridge(kc, other, 'elsewhere', ['http://bump:4242']);

    await plane.restartApiServer();
    await applyBridge(kc, ns, 'after');
    await kubeRequest(kc, { method: 'DELETE', path: `${nsPath(ns)}/before` });
    await waitFor('add of after', () => has(events, 'add', 'after'), 30_000);
    await waitFor('delete of before', () => has(events, 'delete', 'before'), 30_000);
    assert.ok(informer.stats.reconnects >= 1, JSON.stringify(informer.stats));
    assert.ok(informer.stats.relists >= 2, `relisted after 410: ${JSON.stringify(informer.stats)}`);
    assert.deepEqual(
      informer.list(ns).map((o) => o.metadata.name),
      ['after'],
    );
    assert.equal(events.filter((e) => e.type === 'add' && e.name === 'after').length, 1, 'no duplicate adds');
  });

  test('the silence watchdog reconnects a quiet watch without losing events', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-silence');
    const { informer, events } = record({
      kc,
      logger: testLogger(),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      silenceTimeoutMs: 500,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await informer.synced;
    await waitFor('a silence reconnect', () => informer.stats.reconnects >= 2);
    await kubeRequest(kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'late' } },
    });
    await waitFor('add of late', () => has(events, 'add', 'late'));
    assert.equal(informer.stats.relists, 1, 'a silent watch resumes from its resourceVersion, no relist');
  });

  test('pages through lists, and periodic relists emit nothing when nothing changed', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('informer-paging');
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    for (let i = 0; i < 5; i++) {
      await kubeRequest(kc, {
        method: 'POST',
        path,
        body: { metadata: { name: `cm-${i}` }, data: { i: String(i) } },
      });
    }
    const { informer, events } = record({ kc, logger: testLogger(), path, pageSize: 2, resyncMs: 300 });
    await informer.synced;
    assert.deepEqual(
      informer
        .list(ns)
        .map((o) => o.metadata.name)
        .sort(),
      ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4'],
    );
    // Items of core kinds come without kind/apiVersion in lists; the cache fills them in.
    assert.equal(informer.get(ns, 'cm-0')?.kind, 'ConfigMap');
    assert.equal(informer.get(ns, 'cm-0')?.apiVersion, 'v1');
    await waitFor('three relists', () => informer.stats.relists >= 3);
    assert.equal(events.length, 5, `only the initial adds: ${JSON.stringify(events)}`);
    assert.equal(informer.stats.reconnects, 0, 'a resync is not a reconnect');
    await kubeRequest(kc, { method: 'DELETE', path: `${path}/cm-3` });
    await waitFor('delete of cm-3', () => has(events, 'delete', 'cm-3'));
  });

  test('stop() ends everything: a process that used an informer exits by itself', async () => {
    const ns = await plane.createNamespace('informer-stop');
    const fixture = fileURLToPath(new URL('./fixtures/informer-stop.ts', import.meta.url));
    const child = spawn(process.execPath, [fixture, ns], {
      env: { ...process.env, KUBECONFIG: plane.kubeconfigPath, KUBERNETES_SERVICE_HOST: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    let reportedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      reportedAt = performance.now();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    assert.equal(signal, null, `the process had to be killed; it printed: ${stdout}`);
    assert.equal(code, 0, stdout);
    const exitMs = performance.now() - reportedAt;
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { events: string[] };
    assert.deepEqual(report.events, ['add:during-watch']);
    // Only idle keep-alive sockets may linger briefly; the informer's timers (5 min watchdog,
    // 10 min resync) or an open watch would keep it alive far longer.
    assert.ok(exitMs < 5_000, `exited ${Math.round(exitMs)} ms after stop(): ${stdout}`);
  });
});

function nsPath(ns: string): string {
  return `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/${CR_PLURAL}`;
}
