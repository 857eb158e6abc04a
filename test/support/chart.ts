// Shared by the chart tests: the real helm and kubectl binaries (scripts/control-plane/build.sh),
// run as child processes with a scratch Helm home, and the rendered chart as parsed objects.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { resolveBinDir } from '../../scripts/control-plane/binaries.ts';
import { CHART_DIR, helmEnv } from '../../scripts/gen-manifests.ts';

export { CHART_DIR };

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Admin kubeconfig of the control plane (helm and kubectl talk to it). */
  kubeconfig?: string;
  /** Written to the child's stdin. */
  input?: string;
}

let helmHome: Promise<string> | undefined;

/** One scratch Helm home per test process, removed when the file's tests are done. */
function scratchHelmHome(): Promise<string> {
  if (helmHome === undefined) {
    helmHome = mkdtemp(join(tmpdir(), 'chart-test-helm-'));
    after(async () => {
      await rm(await helmHome!, { recursive: true, force: true });
    });
  }
  return helmHome;
}

/** Runs a binary from the control plane's bin directory; never rejects on a non-zero exit. */
async function run(binary: 'helm' | 'kubectl', args: string[], options: RunOptions): Promise<RunResult> {
  const bin = join(await resolveBinDir(), binary);
  const extra: NodeJS.ProcessEnv = options.kubeconfig === undefined ? {} : { KUBECONFIG: options.kubeconfig };
  const env = helmEnv(await scratchHelmHome(), extra);
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : undefined;
      if (code === undefined) reject(error);
      else resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

export function helm(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('helm', args, options);
}

export function kubectl(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('kubectl', args, options);
}

/** Like helm/kubectl, but throws with the command's output unless it exits 0. */
export async function ok(result: Promise<RunResult>, what: string): Promise<string> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** Parses a multi-document YAML stream into objects, skipping empty documents. */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `helm template <release> charts/catchpoint-bridge --namespace <ns> <flags>`, rendered and parsed. */
export async function renderChart(
  flags: string[] = [],
  { release = 'cpb', namespace = 'cpb-system' } = {},
): Promise<{ text: string; objects: K8sObject[] }> {
  const text = await ok(
    helm(['template', release, CHART_DIR, '--namespace', namespace, ...flags]),
    `helm template ${flags.join(' ')}`,
  );
  return { text, objects: parseObjects(text) };
}

export function find(objects: K8sObject[], kind: string, name?: string, namespace?: string): K8sObject[] {
  return objects.filter(
    (o) =>
      o.kind === kind &&
      (name === undefined || o.metadata.name === name) &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
}
