// Lifecycle tests of the test control plane: CRDs from a directory, restartApiServer(), and above
// all that no etcd or kube-apiserver outlives its owner, however the owner ends.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { reapOrphanedPlanes } from '../../../scripts/control-plane/control-plane.ts';
import { startControlPlane } from '../../harness/control-plane.ts';

const CHILD_SCRIPT = join(import.meta.dirname, 'fixtures', 'start-and-die.ts');
const TEST_TIMEOUT_MS = 120_000;

interface ChildReport {
  readonly pids: { readonly etcd: number; readonly apiserver: number };
  readonly stateDir: string;
}

describe('control plane teardown', () => {
  test('stop() ends etcd and every kube-apiserver it ran, and removes the temp dir', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const crdDir = await writeCrdDir();
    after(() => rm(crdDir, { recursive: true, force: true }));
    const plane = await startControlPlane({ crdDir });
    const first = plane.pids;
    let second = first;
    try {
      // The CRD from the directory is usable as soon as startControlPlane resolves.
      const namespace = await plane.createNamespace('teardown');
      const gadgets = plane.kubeConfig.makeApiClient(CustomObjectsApi);
      await gadgets.createNamespacedCustomObject({ ...gadgetsIn(namespace), body: gadget('g1') });

      await plane.restartApiServer();
      second = plane.pids;
      assert.equal(second.etcd, first.etcd, 'etcd keeps running across an apiserver restart');
      assert.notEqual(second.apiserver, first.apiserver);
      await assertAllGone([first.apiserver]);
      // Same server URL, certificates and etcd: the existing client sees the data written before.
      const list = await gadgets.listNamespacedCustomObject(gadgetsIn(namespace));
      assert.deepEqual(
        list.items.map((item: { metadata: { name: string } }) => item.metadata.name),
        ['g1'],
      );
    } finally {
      await plane.stop();
    }
    await assertAllGone([second.etcd, second.apiserver]);
    assert.equal(existsSync(plane.stateDir), false, 'temp dir removed');
  });

  test('a test process that throws after starting a plane leaves no process behind', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const child = startChild('throw');
    const report = await readReport(child);
    const exit = await exited(child);
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /deliberate failure after starting the control plane/);
    await assertAllGone([report.pids.etcd, report.pids.apiserver]);
    assert.equal(existsSync(report.stateDir), false, 'temp dir removed');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`a test process ended by ${signal} leaves no process behind and still dies of the signal`, {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const child = startChild('wait');
      const report = await readReport(child);
      child.kill(signal);
      const exit = await exited(child);
      assert.equal(exit.signal, signal);
      await assertAllGone([report.pids.etcd, report.pids.apiserver]);
      assert.equal(existsSync(report.stateDir), false, 'temp dir removed');
    });
  }

  test('a plane orphaned by a SIGKILLed test process is reaped by the next run', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const child = startChild('wait');
    const report = await readReport(child);
    child.kill('SIGKILL');
    await exited(child);
    // SIGKILL cannot be intercepted: the binaries are still running...
    assert.ok(isAlive(report.pids.etcd) && isAlive(report.pids.apiserver), 'orphans survive SIGKILL');
    // ...until the next startControlPlane(), which reaps planes whose owner is dead.
    await reapOrphanedPlanes();
    await assertAllGone([report.pids.etcd, report.pids.apiserver]);
    assert.equal(existsSync(report.stateDir), false, 'temp dir removed');
  });
});

function startChild(mode: 'throw' | 'wait'): ChildProcess {
  return spawn(process.execPath, [CHILD_SCRIPT, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The JSON line the child prints once its plane is up. */
function readReport(child: ChildProcess): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as ChildReport);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`child exited (${code ?? signal}) before reporting:\n${stderr}`)),
    );
  });
}

function exited(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode, stderr });
      return;
    }
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}

/**
 * Waits until none of the PIDs exists any more. Processes whose parent already exited are reaped
 * by init, which may take a moment after they die, hence the polling.
 */
async function assertAllGone(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(100);
  assert.deepEqual(pids.filter(isAlive), [], 'these control-plane processes are still running');
}

async function writeCrdDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'teardown-crds-'));
  // A non-CRD document in the same file must be skipped, not applied or rejected.
  const notACrd = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } };
  await writeFile(join(dir, 'gadgets.yaml'), `${stringify(notACrd)}---\n${stringify(gadgetCrd)}`);
  return dir;
}

function gadgetsIn(namespace: string) {
  return { group: 'teardown.test.io', version: 'v1', namespace, plural: 'gadgets' };
}

function gadget(name: string) {
  return { apiVersion: 'teardown.test.io/v1', kind: 'Gadget', metadata: { name }, spec: { size: 1 } };
}

const gadgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.teardown.test.io' },
  spec: {
    group: 'teardown.test.io',
    scope: 'Namespaced',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
          },
        },
      },
    ],
  },
};
