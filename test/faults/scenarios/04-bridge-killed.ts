/**
 * 4. The bridge is stopped (SIGTERM) or killed (SIGKILL) in the middle of a push stream, then
 * started again on the same spool directory.
 *
 * The SIGKILL guarantee: with spool.durability fsync (the default), a push is answered 200 only
 * after its datapoints were written to the spool and fdatasync'ed (group commit), so a process
 * killed at any instant has every acknowledged push on disk, and a restart on the same spool
 * delivers it. Delivery is at least once: the spool's cursor (first record not yet delivered) is
 * persisted after the TSDB accepted a batch, at most every second, so a kill re-sends what was
 * delivered since the last cursor write. OpenTSDB stores an identical re-write as a no-op;
 * VictoriaMetrics (without -dedup.minScrapeInterval) keeps both copies, which the table counts.
 *
 * Rows: 4a SIGTERM and 4b SIGKILL with the TSDB down (nothing can have been delivered: every
 * acknowledged push is only in the spool), 4c SIGKILL with the TSDB up (a batch in flight or
 * delivered since the last cursor write is sent twice). Time to recover: from the restarted
 * bridge listening to every acknowledged point visible.
 */
import type { BridgeProcess } from '../../harness/bridge-process.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const RATE = 100;
const KILL_AFTER_MS = 3000;

interface Variant {
  id: string;
  signal: 'SIGTERM' | 'SIGKILL';
  tsdbDown: boolean;
  testId: number;
}

const VARIANTS: Variant[] = [
  { id: '4a', signal: 'SIGTERM', tsdbDown: true, testId: 4001 },
  { id: '4b', signal: 'SIGKILL', tsdbDown: true, testId: 4002 },
  { id: '4c', signal: 'SIGKILL', tsdbDown: false, testId: 4003 },
];

export async function bridgeKilled(ctx: FaultContext): Promise<Row[]> {
  const rows: Row[] = [];
  for (const v of VARIANTS) rows.push(await variant(ctx, v));
  return rows;
}

async function variant(ctx: FaultContext, v: Variant): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const prefix = `f${v.id}`;
  const token = ctx.secret(`push token ${v.id}`);
  const password = ctx.tsdbPassword(v.id);
  const start = (label: string, spoolDir?: string): Promise<BridgeProcess> =>
    ctx.startBridge(label, {
      spec: pushSpec(ctx, { prefix, endpoint: vm.httpPutUrl }),
      secrets: pushSecrets(token, password),
      extraArgs: ['--drain', '1'],
      ...(spoolDir === undefined ? {} : { spoolDir }),
    });
  const first = await start(v.id);
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  if (v.tsdbDown) await vm.stop();
  const controller = new AbortController();
  const stream = runPushStream({
    url: () => `${first.url}/push/${token}`,
    ratePerSecond: RATE,
    durationMs: 30_000,
    testId: v.testId,
    nodes,
    signal: controller.signal,
  });
  await sleep(KILL_AFTER_MS);
  const before = await scrape(first.url);
  ctx.progress(`${v.id}: ${v.signal} mid-stream (TSDB ${v.tsdbDown ? 'down' : 'up'})`);
  const exit = await first.stop(v.signal);
  controller.abort();
  const result = await stream;
  if (v.tsdbDown) await vm.start();
  const second = await start(`${v.id} (restart)`, first.spoolDir);
  const restartedAt = Date.now();
  const { count, completeAt } = await waitForDelivery(
    vm,
    `${prefix}[.]rtt[.]by_node[.]${v.testId}`,
    result.acknowledged,
    60_000,
  );
  const after = await scrape(second.url);

  if (v.signal === 'SIGTERM') {
    claims.check(
      'SIGTERM is a graceful stop: exit code 0 after the drain budget',
      exit.code === 0,
      `exit ${JSON.stringify(exit)}`,
    );
  } else {
    claims.check('SIGKILL killed it', exit.signal === 'SIGKILL', `exit ${JSON.stringify(exit)}`);
  }
  claims.check(
    'pushes were acknowledged up to the kill',
    result.acknowledged.length >= (RATE * KILL_AFTER_MS) / 1000 / 2,
    `${result.acknowledged.length} acknowledged; refused or unanswered after the ${v.signal}: ${failureSummary(result.failures)}`,
  );
  claims.check(
    'the restart on the same spool delivers every acknowledged push (acknowledged ⊆ delivered)',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} visible ${formatMs((completeAt ?? restartedAt) - restartedAt)} after the restart`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  if (v.tsdbDown) {
    claims.check(
      'nothing is written twice: the TSDB was down, so nothing had been delivered before the kill',
      count.duplicated <= retried,
      `${count.duplicated} duplicated (≤ ${retried} re-sent by the restarted bridge)`,
    );
  } else {
    // The cursor is written at most 1 s after a delivered batch: a kill re-sends at most ~1 s
    // of deliveries plus the batch in flight. 2 s of traffic bounds it with room for a slow box.
    const bound = 2 * RATE + retried;
    claims.check(
      'at-least-once: re-sent points bounded by the cursor sync interval (1 s) + the batch in flight',
      count.duplicated <= bound,
      `${count.duplicated} duplicated ≤ ${bound} (2 s of traffic at ${RATE}/s + ${retried} re-sent); ` +
        `${before.value('catchpoint_bridge_datapoints_written_total')} written before the kill`,
    );
  }
  return makeRow(
    {
      id: v.id,
      scenario: `bridge ${v.signal} mid-stream, TSDB ${v.tsdbDown ? 'down' : 'up'}; restart on the spool`,
      sent: result.sent,
      acknowledged: result.acknowledged.length,
      refused: result.refused,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: completeAt === undefined ? null : completeAt - restartedAt,
      recoverWhat: 'restarted bridge listening → every acknowledged point visible',
      notes: [
        `${RATE} pushes/s, ${v.signal} ${KILL_AFTER_MS / 1000} s in`,
        `${count.unacknowledged} points delivered whose push got no 200 (spooled, answer lost to the ${v.signal}): allowed`,
      ],
    },
    claims,
    startedAt,
  );
}
