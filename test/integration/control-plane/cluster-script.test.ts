// `cluster up` / `cluster down` (scripts/cluster.ts), run as a user would, but in a scratch copy of
// the repo so a developer's own .cluster/ is never touched. The copy has no crds/ directory,
// which also covers "no CRDs to install".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT, readState, resolveBinDir } from '../../../scripts/control-plane/control-plane.ts';

const execFileAsync = promisify(execFile);

let repo: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  repo = await mkdtemp(join(tmpdir(), 'cluster-script-'));
  await mkdir(join(repo, 'scripts'));
  await cp(join(REPO_ROOT, 'scripts', 'cluster.ts'), join(repo, 'scripts', 'cluster.ts'));
  // scripts/image too: `up --node` builds the image, and the node packs its pause image with it.
  for (const dir of ['control-plane', 'image']) {
    await cp(join(REPO_ROOT, 'scripts', dir), join(repo, 'scripts', dir), { recursive: true });
  }
  await cp(join(REPO_ROOT, 'package.json'), join(repo, 'package.json'));
  await symlink(join(REPO_ROOT, 'node_modules'), join(repo, 'node_modules'));
  // The image's facts (scripts/image/spec.ts) come from the operator's desired state.
  await symlink(join(REPO_ROOT, 'src'), join(repo, 'src'));
  env = { ...process.env, CONTROL_PLANE_BIN: await resolveBinDir() };
});

after(async () => {
  // Whatever happened above, leave nothing running.
  await cluster('down').catch(() => undefined);
  await rm(repo, { recursive: true, force: true });
});

describe('cluster script', () => {
  it('up starts a background plane that outlives it, reports "already up", and down stops it', {
    timeout: 120_000,
  }, async () => {
    const kubeconfig = join(repo, '.cluster', 'kubeconfig');
    const stateDir = join(repo, '.cluster', 'control-plane');

    const first = await cluster('up');
    assert.match(first, new RegExp(`export KUBECONFIG=${escapeRegExp(kubeconfig)}; \\S+/kubectl get ns`));
    const state = readState(stateDir);
    assert.ok(state?.pids.etcd && state.pids.apiserver, 'state.json records both PIDs');
    const pids = [state.pids.etcd, state.pids.apiserver];
    // `up` has exited; the plane keeps serving through the kubeconfig it wrote.
    assert.deepEqual(pids.filter(isAlive), pids);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
    assert.ok(namespaces.items.some((ns) => ns.metadata?.name === 'default'));

    const second = await cluster('up');
    assert.match(second, /already up/);
    assert.deepEqual(readState(stateDir)?.pids, state.pids, 'no second plane was started');

    const down = await cluster('down');
    assert.match(down, /control plane stopped/);
    await waitUntilGone(pids);
    assert.equal(existsSync(kubeconfig), false, 'kubeconfig removed');
    assert.equal(existsSync(stateDir), false, 'state dir removed');

    assert.match(await cluster('down'), /nothing to stop/);
  });
});

/** Runs `node scripts/cluster.ts <command>` in the scratch repo; rejects on a non-zero exit. */
async function cluster(command: 'up' | 'down'): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [join('scripts', 'cluster.ts'), command], {
    cwd: repo,
    env,
  });
  return stdout;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The binaries were orphaned when `up` exited, so init reaps them; that can lag their death a little. */
async function waitUntilGone(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(100);
  assert.deepEqual(pids.filter(isAlive), [], 'processes still running after down');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
