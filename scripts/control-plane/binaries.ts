// Where kube-apiserver, etcd, kubectl and helm come from: $CONTROL_PLANE_BIN, or the cached build
// made by build.sh (which prints its bin directory and is a no-op once the cache is warm).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const BUILD_SCRIPT = join(REPO_ROOT, 'scripts', 'control-plane', 'build.sh');

/** Binaries the control plane cannot start without; kubectl and helm are only for people and tests. */
const REQUIRED_BINARIES = ['etcd', 'kube-apiserver'] as const;
/** And with workloads (see workloads.ts). */
const WORKLOAD_BINARIES = ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
/** And for a real node (see node.ts). */
const NODE_BINARIES = [
  'kubelet',
  'kube-proxy',
  'containerd',
  'containerd-shim-runc-v2',
  'ctr',
  'coredns',
  'pause',
] as const;

/** What the plane runs besides etcd and kube-apiserver: nothing, kwok workloads, or a real node. */
export type BinarySet = boolean | 'node';

const resolved = new Map<BinarySet, Promise<string>>();

/**
 * Resolves the bin directory once per process (and per set: whether the workload controllers,
 * or a real node's binaries, are needed too); a failure is not cached, so a later call retries.
 */
export function resolveBinDir(workloads: BinarySet = false): Promise<string> {
  let dir = resolved.get(workloads);
  if (dir === undefined) {
    dir = locateBinDir(workloads).catch((err: unknown) => {
      resolved.delete(workloads);
      throw err;
    });
    resolved.set(workloads, dir);
  }
  return dir;
}

async function locateBinDir(workloads: BinarySet): Promise<string> {
  const fromEnv = process.env.CONTROL_PLANE_BIN;
  const dir = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await runBuildScript(workloads);
  const names = [
    ...REQUIRED_BINARIES,
    ...(workloads ? WORKLOAD_BINARIES : []),
    ...(workloads === 'node' ? NODE_BINARIES : []),
  ];
  assertBinariesPresent(
    dir,
    names,
    fromEnv !== undefined && fromEnv !== '' ? '$CONTROL_PLANE_BIN' : BUILD_SCRIPT,
  );
  return dir;
}

function assertBinariesPresent(dir: string, names: readonly string[], source: string): void {
  for (const name of names) {
    try {
      accessSync(join(dir, name), constants.X_OK);
    } catch {
      throw new Error(`${name} is missing or not executable in ${dir} (from ${source})`);
    }
  }
}

/**
 * Runs build.sh; its progress goes to our stderr (a cold build takes minutes) and the last line of
 * its stdout is the bin directory.
 */
function runBuildScript(workloads: BinarySet): Promise<string> {
  const flag = workloads === 'node' ? ['--node'] : workloads ? ['--workloads'] : [];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, ...flag], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const dir = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0 && dir !== '') resolve(dir);
      else
        reject(
          new Error(
            `${BUILD_SCRIPT} failed (exit ${code ?? signal}); set CONTROL_PLANE_BIN to use existing binaries`,
          ),
        );
    });
  });
}
