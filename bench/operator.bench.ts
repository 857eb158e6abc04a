/**
 * Operator scale and live edit, against a real API server with the real Deployment and ReplicaSet
 * controllers and scheduler, and kwok's fake Nodes in place of kubelets (so "Ready" means what it
 * means in a cluster: the Deployment has an available replica):
 *
 *  - baseline: the same children (the operator's own desired-state builders, no owner) applied
 *    by a plain server-side-apply loop with as many workers as the operator has, until every
 *    Deployment is Available: what the API server and the controllers take without the operator;
 *  - ours: N CatchpointBridges POSTed at once, the operator running as a real process under its
 *    ServiceAccount and the chart's RBAC, until every CR is Ready=True; API requests per CR,
 *    operator RSS;
 *  - live edit: a bridge process running as its CR's ServiceAccount under a push stream; the CR's
 *    dimensions edited; time to the first push written to VictoriaMetrics with the new
 *    dimension, against the time a plain watch on the CR takes to see the edit.
 *
 *   npm run bench:operator [-- --crs 500]     (also a suite of `npm run bench`)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { readState } from '../scripts/control-plane/control-plane.ts';
import { validateCatchpointBridge } from '../src/api/validate.ts';
import { applyObject } from '../src/kube/apply.ts';
import { kubeRequest, kubeStream } from '../src/kube/request.ts';
import { desiredChildren } from '../src/operator/catchpoint-bridge/desired.ts';
import { startBridgeProcess } from '../test/harness/bridge-process.ts';
import { type ControlPlane, startControlPlane } from '../test/harness/control-plane.ts';
import {
  FAKE_V2_API_KEY,
  type FakeCatchpoint,
  startFakeCatchpoint,
} from '../test/harness/fake-catchpoint.ts';
import { installOperatorRbac, writeSecret } from '../test/harness/operator.ts';
import { runPushStream } from '../test/harness/push-stream.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../test/harness/victoria-metrics.ts';
import { CpuMeter } from './lib/proc.ts';

export interface OperatorBenchResult {
  crs: number;
  /** Pods per CR (the spec's default replicas). */
  replicas: number;
  /** Baseline: the same children applied without the operator, until every Deployment is Available. */
  baselineAvailableMs: number;
  /** Ours: CRs POSTed at once until every one is Ready=True (and Reconciled=True, on the way). */
  reconciledAllMs: number;
  readyAllMs: number;
  writesPerCr: number;
  /** Writes per CR by verb and kind. */
  writesPerCrBy: Record<string, number>;
  readsPerCr: number;
  reconcilesPerCr: number;
  rssIdleMB: number;
  rssPeakMB: number;
  /** Renamed credentials Secret → the Role names it. */
  editToRoleMs: number;
  liveEdit: LiveEditResult;
  /** Cores each process used on average (1.00 = one core; the machine's total is its core count). */
  cores: { baseline: Record<string, number>; operator: Record<string, number> };
}

export interface LiveEditResult {
  /** Edit of spec.dimensions → first push written with the new dimension (sent after the edit). */
  editToDatapointMs: number;
  /** Baseline: edit → a plain watch on the CR receives it. */
  editToWatchMs: number;
  pushesPerSecond: number;
  refused: number;
}

export interface OperatorBenchOptions {
  crs: number;
  /** The compiled CLI (dist/cli.js), as the image runs it. */
  cli: string;
  vm: VictoriaMetrics;
  catchpoint: FakeCatchpoint;
  log?: (s: string) => void;
}

/** Controller workers: the operator's --workers and the baseline's concurrency alike. */
const WORKERS = 8;
const CRS_PER_NAMESPACE = 50;
const PODS_PER_NODE = 250;
const TIMEOUT_MS = 300_000;
const POLL_MS = 250;
const GROUP = '/apis/catchpoint-bridge.io/v1alpha1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Each series of a counter, by its label set as written (`{verb="apply",kind="Role"}`). */
function metricSeries(text: string, name: string): Record<string, number> {
  const series: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      const labels = line.slice(name.length, line.lastIndexOf(' ')) || '{}';
      series[labels] = Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return series;
}

const sum = (series: Record<string, number>) => Object.values(series).reduce((a, b) => a + b, 0);

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Polls `count()` until it reaches `want`; returns the elapsed time since `started`. */
async function until(
  what: string,
  started: number,
  want: number,
  count: () => Promise<number>,
): Promise<number> {
  for (;;) {
    const n = await count();
    if (n >= want) return performance.now() - started;
    if (performance.now() - started > TIMEOUT_MS)
      throw new Error(`${what}: ${n}/${want} after ${TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

const crBody = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'catchpoint-bridge.io/v1alpha1',
  kind: 'CatchpointBridge',
  metadata: { name },
  spec,
});

const scaleSpec = {
  catchpoint: { credentialsSecretRef: { name: 'cp' } },
  push: { tokenSecretRef: { name: 'push' } },
  tsdb: { endpoints: ['http://tsdb:4242'] },
};

async function namespacesWithSecrets(plane: ControlPlane, prefix: string, count: number): Promise<string[]> {
  const namespaces = await Promise.all(
    Array.from({ length: Math.max(1, Math.ceil(count / CRS_PER_NAMESPACE)) }, (_, i) =>
      plane.createNamespace(`${prefix}-${i}`),
    ),
  );
  for (const ns of namespaces) {
    await writeSecret(plane.kubeConfig, ns, 'cp', { apiKey: 'k' });
    await writeSecret(plane.kubeConfig, ns, 'push', { token: 't' });
  }
  return namespaces;
}

async function availableDeployments(kc: KubeConfig, namespaces: readonly string[]): Promise<number> {
  const lists = await Promise.all(
    namespaces.map((ns) =>
      kubeRequest<{ items: Array<{ status?: { availableReplicas?: number } }> }>(kc, {
        path: `/apis/apps/v1/namespaces/${ns}/deployments`,
      }),
    ),
  );
  return lists.flatMap((l) => l.items).filter((d) => (d.status?.availableReplicas ?? 0) >= 1).length;
}

async function crsWithCondition(
  kc: KubeConfig,
  namespaces: readonly string[],
  type: string,
): Promise<number> {
  const lists = await Promise.all(
    namespaces.map((ns) =>
      kubeRequest<{ items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> }>(
        kc,
        { path: `${GROUP}/namespaces/${ns}/catchpointbridges` },
      ),
    ),
  );
  return lists
    .flatMap((l) => l.items)
    .filter((cr) => cr.status?.conditions?.some((c) => c.type === type && c.status === 'True')).length;
}

/**
 * The baseline: what the operator would apply for each CR, applied directly (no owner reference:
 * there is no CR), WORKERS at a time, then the wait for every Deployment to be Available.
 */
async function runBaseline(
  plane: ControlPlane,
  count: number,
): Promise<{ ms: number; cores: Record<string, number> }> {
  const namespaces = await namespacesWithSecrets(plane, 'bench-base', count);
  const manifests = Array.from({ length: count }, (_, i) => {
    const ns = namespaces[i % namespaces.length]!;
    const cr = validateCatchpointBridge({
      ...crBody(`b${i}`, scaleSpec),
      metadata: {
        name: `b${i}`,
        namespace: ns,
        uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      },
    });
    return desiredChildren(cr, { image: 'img:bench' }, ['cp', 'push']).apply.map((m) => ({
      ...m,
      metadata: { ...m.metadata, ownerReferences: [] },
    }));
  });
  const cpu = new CpuMeter(planePids(plane));
  const started = performance.now();
  await pool(manifests, WORKERS, async (children) => {
    for (const m of children)
      await applyObject(plane.kubeConfig, m as never, { fieldManager: 'bench-baseline' });
  });
  const ms = await until('baseline Deployments Available', started, count, () =>
    availableDeployments(plane.kubeConfig, namespaces),
  );
  return { ms, cores: cpu.read() };
}

/** The plane's processes by name, and this one (the baseline's client, the CR poster). */
function planePids(plane: ControlPlane, extra: Record<string, number> = {}): Record<string, number> {
  const names = ['kube-controller-manager', 'kube-scheduler', 'kwok'];
  const workloads = readState(plane.stateDir)?.pids.workloads ?? [];
  return {
    'kube-apiserver': plane.pids.apiserver,
    etcd: plane.pids.etcd,
    ...Object.fromEntries(workloads.map((pid, i) => [names[i] ?? `workload-${i}`, pid])),
    bench: process.pid,
    ...extra,
  };
}

const coresLine = (cores: Record<string, number>) =>
  Object.entries(cores)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');

interface OperatorProcess {
  pid: number;
  url: string;
  warnings: string[];
  stop(): void;
}

async function startOperatorProcess(plane: ControlPlane, cli: string): Promise<OperatorProcess> {
  const opNs = await plane.createNamespace('bench-op');
  await installOperatorRbac(plane, opNs);
  const kubeconfig = await plane.kubeconfigFileForServiceAccount(opNs, 'operator');
  const args = ['operator', '--image', 'img:bench', '--leader-elect', 'false'];
  args.push('--listen-metrics', '127.0.0.1:0', '--workers', String(WORKERS));
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const warnings: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      const text = c.toString();
      buf += text;
      for (const line of text.split('\n')) {
        if (line.includes('"level":"warn"') || line.includes('"level":"error"')) warnings.push(line);
      }
      const m = /"url":"([^"]+)"[^\n]*"operator started"/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`operator exited with ${code}`)));
  });
  return { pid: child.pid!, url, warnings, stop: () => child.kill('SIGTERM') };
}

/** The Role follows a renamed credentials Secret. */
async function editToRole(kc: KubeConfig, ns: string, name: string): Promise<number> {
  await writeSecret(kc, ns, 'cp2', { apiKey: 'k' });
  const editAt = performance.now();
  await kubeRequest(kc, {
    method: 'PATCH',
    path: `${GROUP}/namespaces/${ns}/catchpointbridges/${name}`,
    contentType: 'application/merge-patch+json',
    body: { spec: { catchpoint: { credentialsSecretRef: { name: 'cp2' } } } },
  });
  for (;;) {
    const role = await kubeRequest<{ rules: Array<{ resources: string[]; resourceNames?: string[] }> }>(kc, {
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/cpb-${name}`,
    });
    if (role.rules.some((r) => r.resources[0] === 'secrets' && r.resourceNames?.includes('cp2'))) break;
    if (performance.now() - editAt > 30_000) throw new Error('the Role never followed the edit');
    await sleep(20);
  }
  return performance.now() - editAt;
}

/**
 * A plain watch on one CR, opened before the edit: resolves with the time at which it received
 * an object whose spec.dimensions include `dimension`.
 */
async function watchForDimension(
  kc: KubeConfig,
  ns: string,
  name: string,
  dimension: string,
  signal: AbortSignal,
): Promise<{ seenAt: Promise<number> }> {
  const body = await kubeStream(kc, {
    path: `${GROUP}/namespaces/${ns}/catchpointbridges`,
    query: { watch: 1, fieldSelector: `metadata.name=${name}` },
    signal,
  });
  const seenAt = (async () => {
    let buf = '';
    for await (const chunk of body) {
      buf += (chunk as Buffer).toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const event = JSON.parse(buf.slice(0, nl)) as { object?: { spec?: { dimensions?: string[] } } };
        buf = buf.slice(nl + 1);
        if (event.object?.spec?.dimensions?.includes(dimension)) return performance.now();
      }
    }
    throw new Error('watch ended before the edit arrived');
  })();
  return { seenAt };
}

async function runLiveEdit(plane: ControlPlane, options: OperatorBenchOptions): Promise<LiveEditResult> {
  const { vm, catchpoint } = options;
  const kc = plane.kubeConfig;
  const ns = await plane.createNamespace('bench-edit');
  const token = 'bench-live-edit-token-0123456789abcdef0123456789';
  await writeSecret(kc, ns, 'cp', { apiKey: FAKE_V2_API_KEY });
  await writeSecret(kc, ns, 'push', { token });
  const spec = (dimensions: string[]) => ({
    catchpoint: { api: 'v2', baseURL: catchpoint.url, credentialsSecretRef: { name: 'cp' } },
    push: { tokenSecretRef: { name: 'push' } },
    dimensions,
    measurements: ['rtt'],
    naming: { prefix: 'liveedit' },
    tsdb: { endpoints: [vm.httpPutUrl], batchMaxDelay: '20ms' },
  });
  const apply = (dimensions: string[]) =>
    applyObject(
      kc,
      { ...crBody('live', spec(dimensions)), metadata: { name: 'live', namespace: ns } } as never,
      {
        fieldManager: 'bench-user',
      },
    );
  await apply(['node', 'country']);
  await until('the bridge RoleBinding', performance.now(), 1, async () => {
    try {
      await kubeRequest(kc, {
        path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/cpb-live`,
      });
      return 1;
    } catch {
      return 0;
    }
  });
  const kubeconfig = await plane.kubeconfigFileForServiceAccount(ns, 'cpb-live');
  const bridge = await startBridgeProcess({
    resource: { namespace: ns, name: 'live', kubeconfig },
    cli: options.cli,
    env: { LOG_LEVEL: 'info' },
  });
  try {
    const rate = 100;
    const testId = 31;
    const nodes = catchpoint.nodes.slice(0, 40).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
    const startMs = Date.now() - 3_600_000;
    const streamStart = performance.now();
    const stream = runPushStream({
      url: () => `${bridge.url}/push/${token}`,
      ratePerSecond: rate,
      durationMs: 5000,
      testId,
      nodes,
      startMs,
    });
    await sleep(2000);
    const watching = new AbortController();
    // Open (headers received) before the edit: the baseline is delivery, not connection setup.
    const watch = await watchForDimension(kc, ns, 'live', 'city', watching.signal);
    const editAt = performance.now();
    await apply(['node', 'country', 'city']);
    const watchAt = await watch.seenAt;
    watching.abort();
    const result = await stream;
    // Push i carries timestamp startMs + i and was sent at streamStart + i / rate.
    const byCity = await vm.waitForPoints(`liveedit[.]rtt[.]by_city[.]${testId}`, 1);
    const firstSentAt = Math.min(
      ...byCity.flatMap((s) => s.timestamps).map((ts) => streamStart + ((ts - startMs) * 1000) / rate),
    );
    return {
      editToDatapointMs: firstSentAt - editAt,
      editToWatchMs: watchAt - editAt,
      pushesPerSecond: rate,
      refused: result.refused,
    };
  } finally {
    await bridge.cleanup();
  }
}

export async function runOperatorBench(options: OperatorBenchOptions): Promise<OperatorBenchResult> {
  const { crs: count, log = console.error } = options;
  const replicas = validateCatchpointBridge(crBody('x', scaleSpec)).spec.deployment.replicas;
  // Baseline and operator pods both stay: room for twice the pods, plus slack.
  const nodes = Math.ceil((2 * count * replicas) / PODS_PER_NODE) + 1;
  const plane = await startControlPlane({ workloads: { nodes, podsPerNode: PODS_PER_NODE } });
  let operator: OperatorProcess | undefined;
  try {
    log(`  control plane with kube-controller-manager, kube-scheduler, kwok (${nodes} fake nodes)`);
    const baseline = await runBaseline(plane, count);
    const baselineAvailableMs = baseline.ms;
    log(
      `  baseline: ${count} CRs' children applied directly, all Deployments Available in ${Math.round(baselineAvailableMs)} ms; cores: ${coresLine(baseline.cores)}`,
    );

    operator = await startOperatorProcess(plane, options.cli);
    await sleep(1000);
    const rssIdleMB = rssMB(operator.pid);
    const admin = plane.kubeConfig;
    const namespaces = await namespacesWithSecrets(plane, 'bench', count);
    const crs = Array.from({ length: count }, (_, i) => ({
      ns: namespaces[i % namespaces.length]!,
      name: `b${i}`,
    }));
    let peak = rssIdleMB;
    const op = operator;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMB(op.pid));
    }, 200);
    const cpu = new CpuMeter(planePids(plane, { operator: op.pid }));
    const started = performance.now();
    await pool(crs, 32, async ({ ns, name }) => {
      await kubeRequest(admin, {
        method: 'POST',
        path: `${GROUP}/namespaces/${ns}/catchpointbridges`,
        body: crBody(name, scaleSpec),
      });
    });
    log(`  ${count} CRs created in ${Math.round(performance.now() - started)} ms`);
    const reconciledAllMs = await until('CRs Reconciled', started, count, () =>
      crsWithCondition(admin, namespaces, 'Reconciled'),
    );
    const readyAllMs = await until('CRs Ready', started, count, () =>
      crsWithCondition(admin, namespaces, 'Ready'),
    );
    clearInterval(sampler);
    const operatorCores = cpu.read();
    log(`  cores during that: ${coresLine(operatorCores)}`);
    log(
      `  all Reconciled in ${Math.round(reconciledAllMs)} ms, all Ready in ${Math.round(readyAllMs)} ms; operator warnings: ${operator.warnings.length}${operator.warnings[0] ? `, e.g. ${operator.warnings[0].slice(0, 300)}` : ''}`,
    );
    await sleep(2000); // let the last status-triggered passes settle
    const metrics = await (await fetch(`${operator.url}/metrics`)).text();
    const writes = metricSeries(metrics, 'catchpoint_operator_api_writes_total');
    log(
      `  writes per CR: ${Object.entries(writes)
        .map(([k, v]) => `${k} ${(v / count).toFixed(2)}`)
        .join(', ')}`,
    );
    const editToRoleMs = await editToRole(admin, crs[0]!.ns, crs[0]!.name);
    const liveEdit = await runLiveEdit(plane, options);
    log(
      `  live edit: first datapoint with the new dimension ${Math.round(liveEdit.editToDatapointMs)} ms after the edit (watch ${Math.round(liveEdit.editToWatchMs)} ms)`,
    );
    return {
      crs: count,
      replicas,
      baselineAvailableMs,
      reconciledAllMs,
      readyAllMs,
      writesPerCr: sum(writes) / count,
      writesPerCrBy: Object.fromEntries(Object.entries(writes).map(([k, v]) => [k, v / count])),
      readsPerCr: sum(metricSeries(metrics, 'catchpoint_operator_api_reads_total')) / count,
      reconcilesPerCr: sum(metricSeries(metrics, 'controller_runtime_reconcile_total')) / count,
      rssIdleMB,
      rssPeakMB: peak,
      editToRoleMs,
      liveEdit,
      cores: { baseline: baseline.cores, operator: operatorCores },
    };
  } finally {
    operator?.stop();
    await plane.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { crs: { type: 'string', default: '500' } } });
  const { compileCli } = await import('../test/harness/compiled-cli.ts');
  const [cli, vm, catchpoint] = await Promise.all([
    compileCli(),
    startVictoriaMetrics(),
    startFakeCatchpoint(),
  ]);
  try {
    const r = await runOperatorBench({ crs: Number(values.crs), cli, vm, catchpoint });
    console.log(JSON.stringify(r, null, 2));
  } finally {
    await Promise.all([vm.close(), catchpoint.close()]);
  }
}
