/**
 * 1. The TSDB is down for 60 s under a steady push stream: every push is still acknowledged (the
 * spool absorbs the outage), nothing acknowledged is lost, and everything is visible shortly
 * after the TSDB returns. Time to recover: from the TSDB back up to every point visible.
 */
import { runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const RATE = 40;
const LEAD_MS = 2000;
const TAIL_MS = 2000;
const TEST_ID = 1001;

export async function tsdbDown(ctx: FaultContext, options: { outageMs: number }): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret('push token 1');
  const bridge = await ctx.startBridge('1', {
    spec: pushSpec(ctx, { prefix: 'f1', endpoint: vm.httpPutUrl }),
    secrets: pushSecrets(token, ctx.tsdbPassword('1')),
    extraArgs: ['--drain', '1'],
  });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const stream = runPushStream({
    url: () => `${bridge.url}/push/${token}`,
    ratePerSecond: RATE,
    durationMs: LEAD_MS + options.outageMs + TAIL_MS,
    testId: TEST_ID,
    nodes,
  });
  await sleep(LEAD_MS);
  await vm.stop();
  ctx.progress(`1: TSDB down for ${options.outageMs / 1000} s under ${RATE} pushes/s`);
  await sleep(options.outageMs / 2);
  const mid = await scrape(bridge.url);
  const spooledMid = mid.value('catchpoint_bridge_spool_bytes');
  await sleep(options.outageMs / 2);
  await vm.start();
  const backAt = Date.now();
  ctx.progress('1: TSDB back; waiting for every acknowledged point');
  const result = await stream;
  const { count, completeAt } = await waitForDelivery(
    vm,
    `f1[.]rtt[.]by_node[.]${TEST_ID}`,
    result.acknowledged,
    60_000,
  );
  const after = await scrape(bridge.url);

  claims.check(
    'every push is acknowledged while the TSDB is down',
    result.refused === 0,
    `${result.acknowledged.length}/${result.sent} answered 200; others: ${failureSummary(result.failures)}`,
  );
  claims.check(
    'the outage is absorbed by the spool',
    spooledMid > 0,
    `catchpoint_bridge_spool_bytes ${spooledMid} half-way through the outage`,
  );
  claims.check(
    'nothing acknowledged is lost: every point delivered after the TSDB returns',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} points visible ${formatMs((completeAt ?? backAt) - backAt)} after the TSDB came back`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'duplicates only from re-sent batches (at-least-once)',
    count.duplicated <= retried,
    `${count.duplicated} duplicated ≤ ${retried} datapoints re-sent`,
  );
  claims.check(
    'the spool drains',
    after.value('catchpoint_bridge_spool_bytes') === 0,
    `spool_bytes ${after.value('catchpoint_bridge_spool_bytes')} after delivery`,
  );
  return makeRow(
    {
      id: '1',
      scenario: `TSDB down ${options.outageMs / 1000} s under a steady stream`,
      sent: result.sent,
      acknowledged: result.acknowledged.length,
      refused: result.refused,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: completeAt === undefined ? null : completeAt - backAt,
      recoverWhat: 'TSDB back up → every acknowledged point visible in VictoriaMetrics',
      notes: [
        `${RATE} pushes/s for ${(LEAD_MS + options.outageMs + TAIL_MS) / 1000} s; VictoriaMetrics stopped (SIGINT) ${LEAD_MS / 1000} s in`,
        `datapoints_retried_total ${retried} (one failed attempt per batch per retry, backoff capped at 5 s)`,
      ],
    },
    claims,
    startedAt,
  );
}
