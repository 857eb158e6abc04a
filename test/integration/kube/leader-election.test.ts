// Leader election on a real Lease: one leader among candidates, fast hand-over on stop(),
// take-over after a crash only once the lease expired, stepping down when renewals fail, and
// MicroTime timestamps the API server accepts.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseSpec,
  microTime,
} from '../../../src/kube/leader-election.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { testLogger, waitFor } from './support.ts';

// Short but valid: leaseDuration > renewDeadline > 1.2 × retryPeriod.
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

let plane: ControlPlane;
const electors: LeaderElector[] = [];
const children: ChildProcess[] = [];

before(async () => {
  plane = await sharedControlPlane();
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(electors.map((elector) => elector.stop()));
});

interface Candidate {
  elector: LeaderElector;
  terms: number;
  stopped: number;
  signals: AbortSignal[];
}

function candidate(
  kc: KubeConfig,
  namespace: string,
  name: string,
  identity: string,
  extra: Partial<LeaderElectorOptions> = {},
): Candidate {
  const c: Candidate = { elector: undefined as unknown as LeaderElector, terms: 0, stopped: 0, signals: [] };
  c.elector = new LeaderElector({
    kc,
    namespace,
    name,
    identity,
    ...TIMING,
    logger: testLogger(),
    onStartedLeading: (signal) => {
      c.terms++;
      c.signals.push(signal);
    },
    onStoppedLeading: () => {
      c.stopped++;
    },
    ...extra,
  });
  electors.push(c.elector);
  return c;
}

async function readLease(kc: KubeConfig, namespace: string, name: string): Promise<LeaseSpec> {
  const lease = await kubeRequest<{ spec?: LeaseSpec }>(kc, {
    path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
  });
  return lease.spec ?? {};
}

const id = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LeaderElector', () => {
  test('two candidates: exactly one leads; stop() hands over within about one retry period', async (t) => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('lease-handover');
    const a = candidate(kc, ns, 'op', id('a'));
    const b = candidate(kc, ns, 'op', id('b'));
    a.elector.start();
    b.elector.start();
    await waitFor('a leader', () => a.elector.isLeader || b.elector.isLeader);
    // Several renew/retry periods later there is still exactly one.
    await sleep(TIMING.retryPeriodMs * 4);
    assert.equal(Number(a.elector.isLeader) + Number(b.elector.isLeader), 1);
    const [leader, standby] = a.elector.isLeader ? [a, b] : [b, a];
    const held = await readLease(kc, ns, 'op');
    assert.equal(held.holderIdentity, leader.elector.identity);
    assert.equal(held.leaseDurationSeconds, 3);
    assert.equal(held.leaseTransitions, 0);
    assert.equal(leader.terms, 1);
    assert.equal(standby.terms, 0);

    await leader.elector.stop();
    const stoppedAt = performance.now();
    assert.equal(leader.elector.isLeader, false);
    assert.equal(leader.signals[0]?.aborted, true, 'the leader work was told to stop');
    assert.equal(leader.stopped, 1);
    await waitFor('the standby to lead', () => standby.elector.isLeader, 5_000);
    const handover = performance.now() - stoppedAt;
    t.diagnostic(`hand-over after stop(): ${Math.round(handover)} ms`);
    // Released lease: no waiting for the 3 s lease duration.
    assert.ok(handover < TIMING.retryPeriodMs * 1.2 + 700, `hand-over took ${Math.round(handover)} ms`);
    const taken = await readLease(kc, ns, 'op');
    assert.equal(taken.holderIdentity, standby.elector.identity);
    assert.equal(taken.leaseTransitions, 1);
  });

  test('a crashed leader (nothing released) is replaced only after the lease expired', async (t) => {
    const ns = await plane.createNamespace('lease-crash');
    const fixture = fileURLToPath(new URL('./fixtures/lease-holder.ts', import.meta.url));
    const crashing = spawn(process.execPath, [fixture, ns, 'op', id('crashing')], {
      env: { ...process.env, KUBECONFIG: plane.kubeconfigPath, KUBERNETES_SERVICE_HOST: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(crashing);
    await new Promise<void>((resolve, reject) => {
      crashing.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('leading') && resolve());
      crashing.once('exit', (code) => reject(new Error(`lease holder exited early (${code})`)));
    });

    const standby = candidate(plane.kubeConfig, ns, 'op', id('standby'));
    standby.elector.start();
    await sleep(TIMING.leaseDurationMs + TIMING.retryPeriodMs);
    assert.equal(standby.elector.isLeader, false, 'a live, renewing leader keeps its lease');

    crashing.kill('SIGKILL');
    await once(crashing, 'exit');
    const crashedAt = performance.now();
    await waitFor('the standby to take over', () => standby.elector.isLeader, 10_000);
    const takeover = performance.now() - crashedAt;
    t.diagnostic(`take-over after the crash: ${Math.round(takeover)} ms`);
    // Its last renewal was at most one retry period before the crash.
    assert.ok(
      takeover >= TIMING.leaseDurationMs - TIMING.retryPeriodMs - 100,
      `took over after ${Math.round(takeover)} ms`,
    );
    assert.ok(
      takeover <= TIMING.leaseDurationMs + TIMING.retryPeriodMs * 1.2 + 1_000,
      `took ${Math.round(takeover)} ms`,
    );
    assert.equal((await readLease(plane.kubeConfig, ns, 'op')).holderIdentity, standby.elector.identity);
  });

  test('a leader that cannot renew steps down within renewDeadline, before its lease can expire', async (t) => {
    const admin = plane.kubeConfig;
    const ns = await plane.createNamespace('lease-deadline');
    await kubeRequest(admin, {
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: { metadata: { name: 'op' } },
    });
    await kubeRequest(admin, {
      method: 'POST',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
      body: {
        metadata: { name: 'leases' },
        rules: [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        ],
      },
    });
    const binding = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`;
    await kubeRequest(admin, {
      method: 'POST',
      path: binding,
      body: {
        metadata: { name: 'leases' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' },
        subjects: [{ kind: 'ServiceAccount', name: 'op', namespace: ns }],
      },
    });
    // A bearer-token identity, as in a pod.
    const leader = candidate(await plane.kubeConfigForServiceAccount(ns, 'op'), ns, 'op', id('sa'));
    leader.elector.start();
    await waitFor('leadership', () => leader.elector.isLeader);

    await kubeRequest(admin, { method: 'DELETE', path: `${binding}/leases` });
    const revokedAt = performance.now();
    await waitFor('stepping down', () => !leader.elector.isLeader, 10_000);
    const after = performance.now() - revokedAt;
    t.diagnostic(`stepped down ${Math.round(after)} ms after losing access`);
    assert.ok(
      after <= TIMING.renewDeadlineMs + TIMING.retryPeriodMs + 500,
      `stepped down after ${Math.round(after)} ms`,
    );
    assert.ok(after < TIMING.leaseDurationMs, 'before anyone else could take the lease');
    assert.equal(leader.signals[0]?.aborted, true);
    assert.equal(leader.stopped, 1);
    // It keeps campaigning (and failing) quietly: no second term without permission.
    await sleep(TIMING.retryPeriodMs * 3);
    assert.equal(leader.terms, 1);
  });

  test('renewals keep acquireTime, move renewTime, and write six-digit MicroTime', async () => {
    const kc = plane.kubeConfig;
    const ns = await plane.createNamespace('lease-times');
    const only = candidate(kc, ns, 'op', id('only'));
    only.elector.start();
    await waitFor('leadership', () => only.elector.isLeader);
    const first = await readLease(kc, ns, 'op');
    await sleep(TIMING.retryPeriodMs * 2.5);
    const later = await readLease(kc, ns, 'op');
    assert.match(first.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(later.acquireTime, first.acquireTime);
    assert.ok(
      (later.renewTime ?? '') > (first.renewTime ?? ''),
      `${later.renewTime} after ${first.renewTime}`,
    );
    await only.elector.stop();
    const released = await readLease(kc, ns, 'op');
    assert.equal(released.holderIdentity, undefined);
    assert.equal(released.leaseDurationSeconds, 1);
    assert.throws(() => only.elector.start(), { code: 'CPB_ERR_KUBE_STOPPED' });
    assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 67)), '2026-01-02T03:04:05.067000Z');
  });

  test('rejects timings that cannot be safe', () => {
    const base = {
      kc: plane.kubeConfig,
      namespace: 'x',
      name: 'y',
      identity: 'z',
      logger: testLogger(),
      onStartedLeading: () => {},
    };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 2_000, renewDeadlineMs: 2_000 }), {
      code: 'CPB_ERR_KUBE_BAD_OPTIONS',
    });
    assert.throws(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }), {
      code: 'CPB_ERR_KUBE_BAD_OPTIONS',
    });
    assert.throws(() => new LeaderElector({ ...base, identity: '' }), { code: 'CPB_ERR_KUBE_BAD_OPTIONS' });
  });
});
