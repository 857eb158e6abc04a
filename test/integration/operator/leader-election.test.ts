/**
 * Two operator processes (the real CLI, as its ServiceAccount): exactly one leads; a graceful stop
 * hands over at once (the Lease is released); a killed leader is replaced within the lease
 * duration, and the new leader reconciles.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyObject } from '../../../src/kube/apply.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import {
  condition,
  eventually,
  getBridge,
  installOperatorRbac,
  writeSecret,
} from '../../harness/operator.ts';

const cli = join(import.meta.dirname, '../../../src/cli.ts');
const LEASE_DURATION_MS = 15_000;

interface OperatorProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

let plane: ControlPlane;
let opNs: string;
let kubeconfig: string;
const running: OperatorProcess[] = [];

before(async () => {
  plane = await sharedControlPlane();
  opNs = await plane.createNamespace('le');
  await installOperatorRbac(plane, opNs);
  kubeconfig = await plane.kubeconfigFileForServiceAccount(opNs, 'operator');
});
after(() => {
  for (const p of running) p.child.kill('SIGKILL');
});

async function startProcess(name: string): Promise<OperatorProcess> {
  const child = spawn(
    process.execPath,
    [cli, 'operator', '--image', 'img:test', '--lease-namespace', opNs, '--listen-metrics', '127.0.0.1:0'],
    {
      env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: name, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"url":"([^"]+)"[^\n]*"operator started"/.exec(buf);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`operator exited with ${code}`)));
  });
  const p = { child, url, exited };
  running.push(p);
  return p;
}

async function isLeader(p: OperatorProcess): Promise<boolean> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  return /^leader_election_master_status\{name="catchpoint-bridge-operator"\} 1$/m.test(text);
}

async function leaders(ps: OperatorProcess[]): Promise<OperatorProcess[]> {
  const alive = ps.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const flags = await Promise.all(alive.map((p) => isLeader(p).catch(() => false)));
  return alive.filter((_, i) => flags[i]);
}

async function expectReconciled(name: string): Promise<void> {
  const ns = await plane.createNamespace(name);
  await writeSecret(plane.kubeConfig, ns, 'cp', { apiKey: 'k' });
  await applyObject(
    plane.kubeConfig,
    {
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name: 'x', namespace: ns },
      spec: { catchpoint: { credentialsSecretRef: { name: 'cp' } }, tsdb: { endpoints: ['http://t:4242'] } },
    } as never,
    { fieldManager: 'test' },
  );
  await eventually(
    () => getBridge(plane.kubeConfig, ns, 'x'),
    (b) => condition(b, 'Reconciled')?.status === 'True',
    20_000,
    `${name} reconciled`,
  );
}

describe('leader election', () => {
  it('one of two operators leads; SIGTERM hands over at once; SIGKILL within the lease duration', async () => {
    const a = await startProcess('op-a');
    const b = await startProcess('op-b');
    const first = await eventually(
      () => leaders([a, b]),
      (l) => l.length === 1,
      20_000,
      'one leader',
    );
    const [leader] = first;
    const standby = leader === a ? b : a;
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await leaders([a, b])).length, 1, 'still exactly one leader');
    await expectReconciled('le-first');

    // Graceful: the Lease is released, the standby takes over within a retry period or two.
    const stoppedAt = Date.now();
    leader!.child.kill('SIGTERM');
    assert.equal(await leader!.exited, 0);
    await eventually(
      () => isLeader(standby),
      (l) => l,
      10_000,
      'standby leads after a graceful stop',
    );
    const handover = Date.now() - stoppedAt;
    console.log(`graceful handover: ${handover} ms`);
    assert.ok(handover < 6000, `graceful handover took ${handover} ms`);
    await expectReconciled('le-second');

    // Crash: a new standby, then the leader is killed without releasing the Lease.
    const c = await startProcess('op-c');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await isLeader(c), false, 'the newcomer stands by while the leader renews');
    const killedAt = Date.now();
    standby.child.kill('SIGKILL');
    await eventually(
      () => isLeader(c),
      (l) => l,
      LEASE_DURATION_MS + 10_000,
      'standby leads after the leader was killed',
    );
    const takeover = Date.now() - killedAt;
    console.log(`takeover after SIGKILL: ${takeover} ms (lease duration ${LEASE_DURATION_MS} ms)`);
    // A standby retries every retryPeriod (2 s, jittered) once the lease has expired.
    assert.ok(takeover <= LEASE_DURATION_MS + 5000, `takeover took ${takeover} ms`);
    await expectReconciled('le-third');
  });
});
