// Where kube-apiserver, etcd, kubectl and helm come from: $CONTROL_PLANE_BIN, or the cached build
// made by build.sh (which prints its bin directory and is a no-op once the cache is warm).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const BUILD_SCRIPT = join(REPO_ROOT, 'scripts', 'control-plane', 'build.sh');

/** Binaries the control plane cannot start without; kubectl and helm are only for people and tests. */
const REQUIRED_BINARIES = ['etcd', 'kube-apiserver'] as const;

let resolvedBinDir: Promise<string> | undefined;

/** Resolves the bin directory once per process; a failure is not cached, so a later call retries. */
export function resolveBinDir(): Promise<string> {
  resolvedBinDir ??= locateBinDir().catch((err: unknown) => {
    resolvedBinDir = undefined;
    throw err;
  });
  return resolvedBinDir;
}

async function locateBinDir(): Promise<string> {
  const fromEnv = process.env.CONTROL_PLANE_BIN;
  const dir = fromEnv !== undefined && fromEnv !== '' ? fromEnv : await runBuildScript();
  assertBinariesPresent(dir, fromEnv !== undefined && fromEnv !== '' ? '$CONTROL_PLANE_BIN' : BUILD_SCRIPT);
  return dir;
}

function assertBinariesPresent(dir: string, source: string): void {
  for (const name of REQUIRED_BINARIES) {
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
function runBuildScript(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
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
