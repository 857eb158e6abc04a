/**
 * 3. The spool limit is reached (spool.maxBytes 64Ki, TSDB down): the push endpoint answers 503
 * with Retry-After and a reason, never 200 for a push it could not spool; everything it did
 * acknowledge is delivered once the TSDB returns, and pushes are acknowledged again. Time to
 * recover: from the TSDB back to every acknowledged point visible.
 */
import { pushBody, runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec } from '../lib/context.ts';
import { failureSummary, scrape, until, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const RATE = 100;
const FULL_PHASE_MS = 10_000;
const RECOVERY_PHASE_MS = 6000;
const TEST_ID = 3001;

export async function spoolFull(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret('push token 3');
  const bridge = await ctx.startBridge('3', {
    spec: pushSpec(ctx, {
      prefix: 'f3',
      endpoint: vm.httpPutUrl,
      extra: {
        spool: { maxBytes: '64Ki' },
        // /readyz wants room for 4 bodies of maxBodyBytes: with the default 1 MiB a 64 KiB spool is never ready.
        push: { tokenSecretRef: { name: 'push' }, maxBodyBytes: 4096 },
      },
    }),
    secrets: pushSecrets(token, ctx.tsdbPassword('3')),
    extraArgs: ['--drain', '1'],
  });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const url = `${bridge.url}/push/${token}`;
  const base = Date.now() - 3_600_000;

  await vm.stop();
  ctx.progress(`3: TSDB down, ${RATE} pushes/s into a 64 KiB spool`);
  const full = await runPushStream({
    url: () => url,
    ratePerSecond: RATE,
    durationMs: FULL_PHASE_MS,
    testId: TEST_ID,
    nodes,
    startMs: base,
  });
  // One more push, looked at closely: the spool is full now.
  const node = nodes[0]!;
  const probe = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: pushBody({
      testId: TEST_ID,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: base + 5_000_000,
      totalMs: 1,
    }),
  });
  const probeBody = (await probe.json().catch(() => ({}))) as { code?: string; reason?: string };
  const retryAfter = probe.headers.get('retry-after');
  const readyWhileFull = (await fetch(`${bridge.url}/readyz`)).status;
  const metricsFull = await scrape(bridge.url);

  await vm.start();
  const backAt = Date.now();
  ctx.progress('3: TSDB back; pushing on');
  const recovery = await runPushStream({
    url: () => url,
    ratePerSecond: RATE,
    durationMs: RECOVERY_PHASE_MS,
    testId: TEST_ID,
    nodes,
    startMs: base + 1_000_000,
  });
  // The first 200 after the TSDB came back (the spool had room again).
  const firstOk =
    recovery.acknowledged.length > 0 ? recovery.acknowledged[0]!.timestampMs - (base + 1_000_000) : -1;
  const acked = [...full.acknowledged, ...recovery.acknowledged];
  if (probe.status === 200) {
    acked.push({
      testId: TEST_ID,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: base + 5_000_000,
      totalMs: 1,
    });
  }
  const { count, completeAt } = await waitForDelivery(vm, `f3[.]rtt[.]by_node[.]${TEST_ID}`, acked, 60_000);
  const drainedAt = await until(
    async () => (await scrape(bridge.url)).value('catchpoint_bridge_spool_bytes') === 0,
    10_000,
  );
  const after = await scrape(bridge.url);
  const readyAfter = (await fetch(`${bridge.url}/readyz`)).status;

  const n503 = full.failures.get(503) ?? 0;
  claims.check(
    'a full spool answers 503 (and only that)',
    n503 > 0 && n503 === full.refused,
    `${full.acknowledged.length} acknowledged, then ${n503} × 503 of ${full.sent} while the TSDB was down; others: ${failureSummary(full.failures)}`,
  );
  claims.check(
    'the 503 says why and when to retry',
    probe.status === 503 &&
      probeBody.code === 'CPB_ERR_SPOOL_FULL' &&
      typeof probeBody.reason === 'string' &&
      retryAfter !== null,
    `status ${probe.status}, code ${probeBody.code}, reason ${JSON.stringify(probeBody.reason)}, Retry-After ${retryAfter}`,
  );
  claims.check(
    'a full spool makes /readyz fail (a load balancer sends pushes elsewhere)',
    readyWhileFull === 503 && readyAfter === 200,
    `/readyz ${readyWhileFull} while full, ${readyAfter} after`,
  );
  claims.check(
    'the metrics count every refusal',
    metricsFull.value('catchpoint_bridge_pushes_total', { outcome: 'refused_spool_full' }) ===
      n503 + (probe.status === 503 ? 1 : 0),
    `pushes_total{outcome="refused_spool_full"} ${metricsFull.value('catchpoint_bridge_pushes_total', { outcome: 'refused_spool_full' })}`,
  );
  claims.check(
    'pushes are acknowledged again once the TSDB is back',
    recovery.acknowledged.length > 0 && firstOk >= 0,
    `${recovery.acknowledged.length}/${recovery.sent} answered 200 in the ${RECOVERY_PHASE_MS / 1000} s after; first 200 ~${formatMs(firstOk * (1000 / RATE))} after the TSDB came back`,
  );
  claims.check(
    'nothing acknowledged is lost',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} acknowledged points visible ${formatMs((completeAt ?? backAt) - backAt)} after the TSDB came back`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  claims.check(
    'no refused push was written',
    count.unacknowledged === 0,
    `${count.unacknowledged} points in the TSDB that no acknowledged push explains`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'duplicates only from re-sent batches (at-least-once)',
    count.duplicated <= retried,
    `${count.duplicated} duplicated ≤ ${retried} datapoints re-sent`,
  );
  claims.check(
    'the spool drains',
    drainedAt !== undefined,
    `spool_bytes ${after.value('catchpoint_bridge_spool_bytes')}`,
  );
  const sent = full.sent + 1 + recovery.sent;
  return makeRow(
    {
      id: '3',
      scenario: 'spool full (maxBytes 64Ki), TSDB down',
      sent,
      acknowledged: acked.length,
      refused: sent - acked.length,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: completeAt === undefined ? null : completeAt - backAt,
      recoverWhat: 'TSDB back up → every acknowledged point visible',
      notes: [
        `${RATE} pushes/s: ${FULL_PHASE_MS / 1000} s with the TSDB down, then ${RECOVERY_PHASE_MS / 1000} s with it back`,
        `recovery phase: ${failureSummary(recovery.failures)} refused before the spool had room again`,
      ],
    },
    claims,
    startedAt,
  );
}
