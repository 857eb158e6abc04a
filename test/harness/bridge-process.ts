/**
 * Runs the real `catchpoint-bridge bridge` CLI as a child process (as users and Kubernetes run
 * it), with a manifest and a Secret directory written by the test. Captures every log line so
 * tests can assert on them (and scan them for secrets).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const repoRoot = join(import.meta.dirname, '../..');
const cli = join(repoRoot, 'src/cli.ts');

export interface BridgeProcessOptions {
  /** Standalone mode: the manifest's spec, and secret name → key → value. */
  spec?: Record<string, unknown>;
  secrets?: Record<string, Record<string, string>>;
  /** In-cluster mode instead: `--resource namespace/name` with this kubeconfig. */
  resource?: { namespace: string; name: string; kubeconfig: string };
  name?: string;
  /** Reuse a spool directory (restart tests); a fresh one by default. */
  spoolDir?: string;
  env?: Record<string, string>;
  extraArgs?: string[];
  /** The CLI to run: the sources by default, or a compiled cli.js (harness/compiled-cli.ts). */
  cli?: string;
  /** Node/V8 flags before the script, as the image's ENTRYPOINT passes them (any V8 flag works here; NODE_OPTIONS takes only a few). */
  nodeArgs?: readonly string[];
}

export interface BridgeProcess {
  url: string;
  pid: number;
  dir: string;
  configFile: string;
  secretsDir: string;
  spoolDir: string;
  logs: string[];
  /** POSTs a body to `path` (e.g. `/push/<token>`), returns status and parsed JSON. */
  push(path: string, body: string | Buffer, contentType?: string): Promise<{ status: number; json: unknown }>;
  writeSpec(spec: Record<string, unknown>): Promise<void>;
  writeSecret(name: string, key: string, value: string): Promise<void>;
  /** Sends a signal and waits for exit; resolves with the exit code/signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  cleanup(): Promise<void>;
}

export function manifest(name: string, spec: Record<string, unknown>): string {
  return stringify({
    apiVersion: 'catchpoint-bridge.io/v1alpha1',
    kind: 'CatchpointBridge',
    metadata: { name },
    spec,
  });
}

export async function startBridgeProcess(options: BridgeProcessOptions): Promise<BridgeProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'cpb-bridge-'));
  const configFile = join(dir, 'bridge.yaml');
  const secretsDir = join(dir, 'secrets');
  const spoolDir = options.spoolDir ?? join(dir, 'spool');
  const name = options.name ?? 'test-bridge';
  if (options.spec) await writeFile(configFile, manifest(name, options.spec));
  for (const [secret, keys] of Object.entries(options.secrets ?? {})) {
    await mkdir(join(secretsDir, secret), { recursive: true });
    for (const [key, value] of Object.entries(keys)) await writeFile(join(secretsDir, secret, key), value);
  }
  const r = options.resource;
  const source = r
    ? ['--resource', `${r.namespace}/${r.name}`]
    : ['--config', configFile, '--secrets-dir', secretsDir];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      options.cli ?? cli,
      'bridge',
      ...source,
      '--listen',
      '127.0.0.1:0',
      '--spool-dir',
      spoolDir,
      ...(options.extraArgs ?? []),
    ],
    {
      env: { ...process.env, LOG_LEVEL: 'debug', ...(r ? { KUBECONFIG: r.kubeconfig } : {}), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let startTimer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (line.includes('"bridge listening"')) resolve((JSON.parse(line) as { url: string }).url);
        nl = buffer.indexOf('\n');
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => logs.push(...c.toString().split('\n').filter(Boolean)));
    void exited.then(({ code }) =>
      reject(new Error(`bridge exited with ${code} before listening:\n${logs.join('\n')}`)),
    );
    startTimer = setTimeout(() => {
      // Nobody gets a handle on a bridge that never listened: it must not outlive the failure.
      child.kill('SIGKILL');
      reject(new Error(`bridge did not start in 20 s:\n${logs.join('\n')}`));
    }, 20_000);
    startTimer.unref();
  }).finally(() => clearTimeout(startTimer));
  exited = exited.then((r) => r);
  return {
    url,
    pid: child.pid!,
    dir,
    configFile,
    secretsDir,
    spoolDir,
    logs,
    async push(path, body, contentType = 'application/json') {
      const res = await fetch(url + path, { method: 'POST', body, headers: { 'content-type': contentType } });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, json };
    },
    async writeSpec(spec) {
      await writeFile(configFile, manifest(name, spec));
    },
    async writeSecret(secret, key, value) {
      await mkdir(join(secretsDir, secret), { recursive: true });
      await writeFile(join(secretsDir, secret, key), value);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
