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

const resolved = new Map<boolean, Promise<string>>();

/**
 * Resolves the bin directory once per process (and per `workloads`: whether the workload
 * controllers are needed too); a failure is not cached, so a later call retries.
 */
export function resolveBinDir(workloads = false): Promise<string> {
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

async function locateBinDir(workloads: boolean): Promise<string> {
  const fromEnv = process.env.CONTROL_PLANE_BIN;
  const dir = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await runBuildScript(workloads);
  const names = workloads ? [...REQUIRED_BINARIES, ...WORKLOAD_BINARIES] : REQUIRED_BINARIES;
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
function runBuildScript(workloads: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, ...(workloads ? ['--workloads'] : [])], {
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
