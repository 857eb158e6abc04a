/**
 * 8. The API server restarts while the operator (in process, as its ServiceAccount with the
 * chart's RBAC) reconciles 100 CatchpointBridges created in a burst, each with its own push-token
 * Secret. Claims: every CR ends Reconciled=True; no hot loop — successful reconciles stay
 * bounded (≤ 5 per CR), failed ones (while the API server is away) within the work queue's global
 * retry budget, and once settled the operator writes nothing more over a 5 s window. Time to
 * recover: from the API server back to all 100 Reconciled=True.
 *
 * Afterwards every CR's status and every Event in the namespaces used are kept for 9's scan.
 */
import { applyObject } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import type { RunningOperator } from '../../../src/operator/main.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { installOperatorRbac, startOperator, writeSecret } from '../../harness/operator.ts';
import { type FaultContext, sleep, TSDB_USER } from '../lib/context.ts';
import { until } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, NO_COUNTS, type Row } from '../lib/report.ts';

const CRS = 100;
const MAX_RECONCILES_PER_CR = 5;
const QUIET_WINDOW_MS = 5000;
/** The work queue's defaults (src/kube/work-queue.ts) and the operator's workers. */
const RETRY_BURST = 100;
const RETRY_QPS = 10;
const WORKERS = 4;

type Cr = {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
};

/** Runs `fn` over `items` with at most `n` at a time, retrying each call a few times (the API server may be restarting). */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      for (let attempt = 0; ; attempt++) {
        try {
          await fn(item);
          break;
        } catch (err) {
          if (attempt >= 30) throw err;
          await sleep(500);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}

export async function apiServerRestart(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const plane = await ctx.controlPlane();
  const admin = plane.kubeConfig;
  const opNs = await plane.createNamespace('faults-operator');
  const ns = await plane.createNamespace('faults-crs');
  ctx.namespaces.push(opNs, ns);
  const operatorKc = await installOperatorRbac(plane, opNs);
  // The operator's ServiceAccount token is a credential too: 9 looks for it.
  const saToken = operatorKc.getCurrentUser()?.token;
  if (saToken) ctx.secrets.set('operator ServiceAccount token', saToken);

  const lines: string[] = [];
  ctx.logs.push({ label: 'operator 8', lines });
  const logger = createLogger(
    { level: 'debug' },
    {
      write(chunk: string) {
        for (const l of chunk.split('\n')) if (l.length > 0) lines.push(l);
      },
    },
  );
  let operator: RunningOperator | undefined = await startOperator(operatorKc, { logger });
  const total = async (m: 'apiWrites' | 'reconcileTotal') =>
    (await operator!.metrics[m].get()).values.reduce((a, v) => a + v.value, 0);
  try {
    const names = Array.from({ length: CRS }, (_, i) => `b${String(i).padStart(3, '0')}`);
    await writeSecret(admin, ns, 'catchpoint-api', { apiKey: ctx.secret('8 Catchpoint API key') });
    await writeSecret(admin, ns, 'tsdb', { username: TSDB_USER, password: ctx.tsdbPassword('8') });
    await pool(names, 8, (name) =>
      writeSecret(admin, ns, `push-${name}`, { token: ctx.secret(`8 push token ${name}`) }),
    );

    ctx.progress(`8: creating ${CRS} CatchpointBridges`);
    await pool(names, 8, (name) =>
      applyObject(
        admin,
        {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          metadata: { name, namespace: ns },
          spec: {
            catchpoint: { api: 'v2', credentialsSecretRef: { name: 'catchpoint-api' } },
            push: { tokenSecretRef: { name: `push-${name}` } },
            tsdb: {
              endpoints: ['http://opentsdb.monitoring:4242'],
              auth: { secretRef: { name: 'tsdb', usernameKey: 'username', passwordKey: 'password' } },
            },
            deployment: { replicas: 1 },
          },
        },
        { fieldManager: 'faults' },
      ),
    );
    const listCrs = async () =>
      (
        await kubeRequest<{ items: Cr[] }>(admin, {
          path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
        })
      ).items;
    const reconciled = (items: Cr[]) =>
      items.filter((cr) => cr.status?.conditions?.some((c) => c.type === 'Reconciled' && c.status === 'True'))
        .length;

    // When reconciles fail: sampled, to bound the retries by the work queue's global budget.
    let errors = 0;
    let firstErrorAt: number | undefined;
    let lastErrorAt: number | undefined;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = (await operator!.metrics.reconcileErrors.get()).values.reduce((a, v) => a + v.value, 0);
        if (now > errors) {
          firstErrorAt ??= Date.now();
          lastErrorAt = Date.now();
          errors = now;
        }
        await sleep(100);
      }
    })();

    // Restart mid-way: some CRs reconciled, most still queued or in flight.
    let atRestart = 0;
    await until(
      async () => {
        atRestart = reconciled(await listCrs());
        return atRestart >= CRS / 4;
      },
      15_000,
      50,
    );
    const reconcilesAtRestart = await total('reconcileTotal');
    ctx.progress(`8: restarting the API server (${atRestart}/${CRS} reconciled so far)`);
    const restartAt = Date.now();
    await plane.restartApiServer();
    const backAt = Date.now();
    ctx.progress(`8: API server back after ${formatMs(backAt - restartAt)}; waiting for every CR`);

    let last = 0;
    const allAt = await until(
      async () => {
        last = reconciled(await listCrs());
        return last === CRS;
      },
      180_000,
      500,
    );
    claims.check(
      `all ${CRS} CRs are Reconciled=True after the restart`,
      allAt !== undefined,
      allAt === undefined
        ? `${last}/${CRS} after 180 s`
        : `${formatMs(allAt - backAt)} after the API server came back`,
    );

    // Settled: no write for 3 s (at most 60 s), then the quiet window.
    let previous = await total('apiWrites');
    let stableSince = Date.now();
    const settleDeadline = Date.now() + 60_000;
    while (Date.now() - stableSince < 3000 && Date.now() < settleDeadline) {
      await sleep(250);
      const now = await total('apiWrites');
      if (now !== previous) {
        previous = now;
        stableSince = Date.now();
      }
    }
    const writesBefore = await total('apiWrites');
    const reconcilesBefore = await total('reconcileTotal');
    await sleep(QUIET_WINDOW_MS);
    const writesAfter = await total('apiWrites');
    const reconcilesAfter = await total('reconcileTotal');
    claims.check(
      `no hot loop: once settled, no API write in ${QUIET_WINDOW_MS / 1000} s`,
      writesAfter === writesBefore,
      `api writes ${writesBefore} → ${writesAfter}; reconciles ${reconcilesBefore} → ${reconcilesAfter} in the window`,
    );
    sampling = false;
    await sampler;
    const byResult = new Map<string, number>();
    for (const v of (await operator.metrics.reconcileTotal.get()).values) {
      byResult.set(String(v.labels.result), (byResult.get(String(v.labels.result)) ?? 0) + v.value);
    }
    const reconciles = await total('reconcileTotal');
    const failed = byResult.get('error') ?? 0;
    const succeeded = reconciles - failed;
    claims.check(
      `no reconcile loop: successful reconciles ≤ ${MAX_RECONCILES_PER_CR} per CR`,
      succeeded <= MAX_RECONCILES_PER_CR * CRS,
      `${succeeded} for ${CRS} CRs (${(succeeded / CRS).toFixed(2)} per CR)`,
    );
    // A failed reconcile is retried with per-key backoff (100 ms × 2^n) under a global token bucket
    // (burst 100, then 10/s). Each CR may also fail once on an entry queued before the outage or
    // added by a watch event (not rate limited, as in client-go), and 4 workers have one in flight.
    const failingSec = firstErrorAt === undefined ? 0 : ((lastErrorAt ?? firstErrorAt) - firstErrorAt) / 1000;
    const budget = Math.ceil(CRS + RETRY_BURST + RETRY_QPS * failingSec + WORKERS);
    claims.check(
      "failed reconciles while the API server is away stay within the work queue's retry budget",
      failed <= budget,
      `${failed} failed over ${failingSec.toFixed(1)} s ≤ ${budget} (${CRS} CRs + burst ${RETRY_BURST} + ${RETRY_QPS}/s + ${WORKERS} in flight)`,
    );
    const settledAfter = lastErrorAt === undefined ? 0 : lastErrorAt - backAt;
    claims.check(
      'reconciles stop failing soon after the API server is back',
      settledAfter < 15_000,
      lastErrorAt === undefined
        ? 'no failed reconcile'
        : `last failure ${formatMs(settledAfter)} after it was back`,
    );
    const writesByKind = new Map<string, number>();
    for (const v of (await operator.metrics.apiWrites.get()).values) {
      const k = `${v.labels.verb} ${v.labels.kind}`;
      writesByKind.set(k, (writesByKind.get(k) ?? 0) + v.value);
    }

    // For 9: every status and Event the operator wrote.
    const crs = await listCrs();
    ctx.snapshots.push({
      label: `CatchpointBridge status in ${ns}`,
      items: crs.map((cr) => JSON.stringify({ name: cr.metadata.name, status: cr.status })),
    });
    for (const n of [ns, opNs]) {
      const events = await kubeRequest<{ items: unknown[] }>(admin, {
        path: `/api/v1/namespaces/${n}/events`,
      });
      ctx.snapshots.push({ label: `Events in ${n}`, items: events.items.map((e) => JSON.stringify(e)) });
    }
    return makeRow(
      {
        id: '8',
        scenario: `API server restarted while the operator reconciles ${CRS} CRs`,
        ...NO_COUNTS,
        recoverMs: allAt === undefined ? null : allAt - backAt,
        recoverWhat: `API server ready again → all ${CRS} CRs Reconciled=True`,
        notes: [
          `reconciles in total ${reconciles} (${(reconciles / CRS).toFixed(2)} per CR: ${[...byResult].map(([r, n]) => `${r} ${n}`).join(', ')})`,
          `restart began with ${atRestart}/${CRS} CRs reconciled (${reconcilesAtRestart} reconciles done); the API server was away ${formatMs(backAt - restartAt)}`,
          `failed reconciles by cause: ${failureCauses(lines)}`,
          `API writes by kind: ${[...writesByKind].map(([k, n]) => `${k} ${n}`).join(', ')}`,
        ],
      },
      claims,
      startedAt,
    );
  } finally {
    await operator?.stop();
    operator = undefined;
  }
}

/** The operator's "reconcile failed" log lines, counted by error code/reason. */
function failureCauses(lines: string[]): string {
  const causes = new Map<string, number>();
  for (const line of lines) {
    if (!line.includes('reconcile failed')) continue;
    try {
      const entry = JSON.parse(line) as { code?: unknown; reason?: unknown };
      const key = [entry.code, entry.reason].filter((x) => x !== undefined).join(' ') || 'unknown';
      causes.set(key, (causes.get(key) ?? 0) + 1);
    } catch {
      // not JSON
    }
  }
  return (
    [...causes]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ') || 'none'
  );
}
