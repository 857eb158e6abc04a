/**
 * Operator scale: N CatchpointBridges applied at once against the real API server, time until
 * every one is reconciled (children applied, status written), API requests per CR, operator RSS,
 * and time from a CR edit to its effect on the Role. The operator runs as a real process, as its
 * ServiceAccount, with the chart's RBAC.
 *
 *   node bench/operator.bench.ts [--count 500]
 *
 * "Ready" needs a kubelet to start the pods; the test control plane has none, so this measures
 * Reconciled=True (everything the operator does) and says so.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyObject } from '../src/kube/apply.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installOperatorRbac } from '../test/harness/operator.ts';

export interface OperatorBenchResult {
  crs: number;
  reconciledAllMs: number;
  writesPerCr: number;
  readsPerCr: number;
  reconcilesPerCr: number;
  rssIdleMB: number;
  rssPeakMB: number;
  editToRoleMs: number;
}

const cli = join(import.meta.dirname, '../src/cli.ts');

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function runOperatorBench(
  count: number,
  log: (s: string) => void = console.log,
): Promise<OperatorBenchResult> {
  const plane = await startControlPlane();
  const operator = { pid: 0, url: '', kill: (_s: NodeJS.Signals) => {} };
  const warnings: string[] = [];
  try {
    const opNs = await plane.createNamespace('bench-op');
    await installOperatorRbac(plane, opNs);
    const kubeconfig = await plane.kubeconfigFileForServiceAccount(opNs, 'operator');
    const child = spawn(
      process.execPath,
      [
        cli,
        'operator',
        '--image',
        'img:bench',
        '--leader-elect',
        'false',
        '--listen-metrics',
        '127.0.0.1:0',
        '--workers',
        '8',
      ],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    operator.pid = child.pid!;
    operator.kill = (s) => child.kill(s);
    operator.url = await new Promise<string>((resolve, reject) => {
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
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdleMB = rssMB(operator.pid);
    const admin = plane.kubeConfig;

    const namespaces = await Promise.all(
      Array.from({ length: Math.max(1, Math.ceil(count / 50)) }, (_, i) =>
        plane.createNamespace(`bench-${i}`),
      ),
    );
    for (const ns of namespaces) {
      for (const [name, data] of [
        ['cp', { apiKey: 'k' }],
        ['push', { token: 't' }],
      ] as const) {
        await applyObject(
          admin,
          { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data } as never,
          { fieldManager: 'bench' },
        );
      }
    }
    const crs = Array.from({ length: count }, (_, i) => ({
      ns: namespaces[i % namespaces.length]!,
      name: `b${i}`,
    }));
    let peak = rssIdleMB;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMB(operator.pid));
    }, 200);
    const started = performance.now();
    await pool(crs, 32, async ({ ns, name }) => {
      await kubeRequest(admin, {
        method: 'POST',
        path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
        body: {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          metadata: { name },
          spec: {
            catchpoint: { credentialsSecretRef: { name: 'cp' } },
            push: { tokenSecretRef: { name: 'push' } },
            tsdb: { endpoints: ['http://tsdb:4242'] },
          },
        },
      });
    });
    log(`  ${count} CRs created in ${Math.round(performance.now() - started)} ms`);
    let reconciled = 0;
    for (;;) {
      const lists = await Promise.all(
        namespaces.map((ns) =>
          kubeRequest<{
            items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
          }>(admin, {
            path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
          }),
        ),
      );
      reconciled = lists
        .flatMap((l) => l.items)
        .filter((cr) =>
          cr.status?.conditions?.some((c) => c.type === 'Reconciled' && c.status === 'True'),
        ).length;
      if (reconciled >= count || performance.now() - started > 300_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const reconciledAllMs = performance.now() - started;
    clearInterval(sampler);
    log(`  operator warnings: ${warnings.length}${warnings[0] ? `, e.g. ${warnings[0].slice(0, 400)}` : ''}`);
    if (reconciled < count) throw new Error(`only ${reconciled}/${count} reconciled after 300 s`);
    await new Promise((r) => setTimeout(r, 2000)); // let the last status-triggered passes settle
    const metrics = await (await fetch(`${operator.url}/metrics`)).text();
    const writes = metricSum(metrics, 'catchpoint_operator_api_writes_total');
    const reads = metricSum(metrics, 'catchpoint_operator_api_reads_total');
    const reconciles = metricSum(metrics, 'controller_runtime_reconcile_total');

    // Live edit: the Role follows a renamed Secret.
    const target = crs[0]!;
    await applyObject(
      admin,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'cp2', namespace: target.ns },
        stringData: { apiKey: 'k' },
      } as never,
      { fieldManager: 'bench' },
    );
    const editAt = performance.now();
    await kubeRequest(admin, {
      method: 'PATCH',
      path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${target.ns}/catchpointbridges/${target.name}`,
      contentType: 'application/merge-patch+json',
      body: { spec: { catchpoint: { credentialsSecretRef: { name: 'cp2' } } } },
    });
    for (;;) {
      const role = await kubeRequest<{ rules: Array<{ resources: string[]; resourceNames?: string[] }> }>(
        admin,
        {
          path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${target.ns}/roles/cpb-${target.name}`,
        },
      );
      if (role.rules.some((r) => r.resources[0] === 'secrets' && r.resourceNames?.includes('cp2'))) break;
      if (performance.now() - editAt > 30_000) throw new Error('the Role never followed the edit');
      await new Promise((r) => setTimeout(r, 20));
    }
    const editToRoleMs = performance.now() - editAt;
    return {
      crs: count,
      reconciledAllMs,
      writesPerCr: writes / count,
      readsPerCr: reads / count,
      reconcilesPerCr: reconciles / count,
      rssIdleMB,
      rssPeakMB: peak,
      editToRoleMs,
    };
  } finally {
    operator.kill('SIGTERM');
    await plane.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '500' } } });
  const r = await runOperatorBench(Number(values.count));
  console.log(JSON.stringify(r, null, 2));
}
