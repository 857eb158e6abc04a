/**
 * 11. A torn record at the end of the spool when the bridge starts (issue 18). A bridge takes a
 * push stream with the TSDB down and is SIGKILLed; then the test itself appends half a frame (a
 * frame header and part of a datapoint, no newline) to the last segment, as a crash mid-write
 * would leave it: a SIGKILL cannot be timed to land inside a write(2), so the torn bytes are the
 * test's, not the kill's. A bridge restarted on the same spool, with the TSDB back, must cut them
 * off (counted in catchpoint_bridge_spool_torn_tails_total, logged as a warning with code
 * CPB_ERR_SPOOL_TORN_TAIL naming the segment and the byte count), set nothing aside, deliver every
 * acknowledged push, and send the TSDB nothing it rejects. Time to recover: restarted bridge
 * listening → every point acknowledged before the kill visible.
 */
import { appendFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { frameRecord } from '../../../src/spool/wal.ts';
import type { BridgeProcess } from '../../harness/bridge-process.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, logEntries, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const ID = '11';
const RATE = 100;
const KILL_AFTER_MS = 3000;
const AFTER_RESTART_PUSHES = 100;
const TEST_ID = 11_001;

export async function tornTail(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const prefix = 'f11';
  const token = ctx.secret(`push token ${ID}`);
  const password = ctx.tsdbPassword(ID);
  const start = (label: string, spoolDir?: string): Promise<BridgeProcess> =>
    ctx.startBridge(label, {
      spec: pushSpec(ctx, { prefix, endpoint: vm.httpPutUrl }),
      secrets: pushSecrets(token, password),
      extraArgs: ['--drain', '1'],
      ...(spoolDir === undefined ? {} : { spoolDir }),
    });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const base = Date.now() - 3_600_000;

  const first = await start(ID);
  await vm.stop();
  ctx.progress(`${ID}: TSDB down, ${RATE} pushes/s, SIGKILL ${KILL_AFTER_MS / 1000} s in`);
  const controller = new AbortController();
  const stream = runPushStream({
    url: () => `${first.url}/push/${token}`,
    ratePerSecond: RATE,
    durationMs: 30_000,
    testId: TEST_ID,
    nodes,
    startMs: base,
    signal: controller.signal,
  });
  await sleep(KILL_AFTER_MS);
  const exit = await first.stop('SIGKILL');
  controller.abort();
  const before = await stream;

  // The torn write: a whole frame for a datapoint nobody pushed, cut before its end.
  const segments = (await readdir(first.spoolDir)).filter((n) => n.endsWith('.seg')).sort();
  const last = segments.at(-1);
  if (last === undefined) throw new Error(`no segment in ${first.spoolDir} after the stream`);
  const lastPath = join(first.spoolDir, last);
  const sizeBefore = (await stat(lastPath)).size;
  const tornTimestamp = base + 9_000_000;
  const record = JSON.stringify({
    metric: `${prefix}.rtt.by_node.${TEST_ID}`,
    timestamp: tornTimestamp,
    value: 1,
    tags: { nodeid: String(nodes[0]!.id) },
  });
  const frame = frameRecord(record);
  const torn = frame.slice(0, 16 + Math.floor(record.length / 2));
  await appendFile(lastPath, torn);
  const tornBytes = Buffer.byteLength(torn);
  ctx.progress(`${ID}: appended ${tornBytes} torn bytes to ${last} (${sizeBefore} bytes); restarting`);

  await vm.start();
  const second = await start(`${ID} (restart)`, first.spoolDir);
  const restartedAt = Date.now();
  // Delivery may already have removed the segment (the TSDB is up): then only the log says.
  const sizeAfterOpen = await stat(lastPath).then(
    (st) => st.size,
    () => undefined,
  );
  const regex = `${prefix}[.]rtt[.]by_node[.]${TEST_ID}`;
  // What was spooled before the kill is delivered while new pushes come in.
  const [recovered, more] = await Promise.all([
    waitForDelivery(vm, regex, before.acknowledged, 60_000),
    runPushStream({
      url: () => `${second.url}/push/${token}`,
      ratePerSecond: RATE,
      durationMs: (AFTER_RESTART_PUSHES * 1000) / RATE,
      testId: TEST_ID,
      nodes,
      startMs: base + 1_000_000,
    }),
  ]);
  const acked = [...before.acknowledged, ...more.acknowledged];
  const { count, completeAt } = await waitForDelivery(vm, regex, acked, 60_000);
  const after = await scrape(second.url);
  const tornWritten = (await vm.exportSeries(regex)).some((x) => x.timestamps.includes(tornTimestamp));
  const cut = logEntries(second.logs).find((e) => e.code === 'CPB_ERR_SPOOL_TORN_TAIL');
  const segmentNumber = Number.parseInt(last, 10);

  claims.check('SIGKILL killed it', exit.signal === 'SIGKILL', `exit ${JSON.stringify(exit)}`);
  claims.check(
    'pushes were acknowledged up to the kill',
    before.acknowledged.length >= (RATE * KILL_AFTER_MS) / 1000 / 2,
    `${before.acknowledged.length} acknowledged; after the kill: ${failureSummary(before.failures)}`,
  );
  const tornTotal = after.value('catchpoint_bridge_spool_torn_tails_total');
  claims.check(
    'the torn tail is cut on open, exactly the torn bytes: the segment is back to its size before the torn write',
    cut?.bytes === tornBytes && (sizeAfterOpen === undefined || sizeAfterOpen === sizeBefore),
    `${last}: ${sizeBefore} bytes + ${tornBytes} torn; ${String(cut?.bytes ?? 'no')} bytes cut; ` +
      (sizeAfterOpen === undefined
        ? 'the segment was delivered and removed before it could be measured'
        : `${sizeAfterOpen} bytes after the restart`),
  );
  claims.check(
    'the cut is counted: catchpoint_bridge_spool_torn_tails_total 1',
    tornTotal === 1,
    `spool_torn_tails_total ${tornTotal}`,
  );
  claims.check(
    'the cut is logged: warn, CPB_ERR_SPOOL_TORN_TAIL, with the segment and the byte count',
    cut !== undefined && cut.level === 'warn' && cut.bytes === tornBytes && cut.segment === segmentNumber,
    cut === undefined
      ? 'no log line with code CPB_ERR_SPOOL_TORN_TAIL'
      : `${String(cut.level)} "${String(cut.msg)}" segment ${String(cut.segment)}, ${String(cut.bytes)} bytes (the test wrote ${tornBytes} to segment ${segmentNumber})`,
  );
  claims.check(
    'the restart delivers every acknowledged push (acknowledged ⊆ delivered)',
    count.lost === 0 && completeAt !== undefined && recovered.completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} visible: the ${before.acknowledged.length} acknowledged before the kill ${formatMs((recovered.completeAt ?? restartedAt) - restartedAt)} after the restart, and the ${more.acknowledged.length}/${more.sent} after it`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  const rejected = after.value('catchpoint_bridge_datapoints_rejected_total');
  const setAside = after.value('catchpoint_bridge_spool_records_set_aside_total');
  claims.check(
    'the torn bytes never reach delivery: the TSDB rejects nothing, no record is set aside, the torn point is not written',
    rejected === 0 && setAside === 0 && !tornWritten,
    `datapoints_rejected_total ${rejected}, spool_records_set_aside_total ${setAside}, torn point in the TSDB: ${tornWritten}`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'nothing is written twice: the TSDB was down, so nothing had been delivered before the kill',
    count.duplicated <= retried,
    `${count.duplicated} duplicated (≤ ${retried} re-sent by the restarted bridge)`,
  );
  return makeRow(
    {
      id: ID,
      scenario: 'torn tail (written by the test) on the last segment after a SIGKILL; restart on the spool',
      sent: before.sent + more.sent,
      acknowledged: acked.length,
      refused: before.refused + more.refused,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: recovered.completeAt === undefined ? null : recovered.completeAt - restartedAt,
      recoverWhat: 'restarted bridge listening → every point acknowledged before the kill visible',
      notes: [
        `the torn bytes are written by the test, standing in for a crash mid-write (a SIGKILL cannot be timed to land inside a write): a frame header and half of a ${Buffer.byteLength(record)}-byte datapoint, no newline`,
        `${RATE} pushes/s, SIGKILL ${KILL_AFTER_MS / 1000} s in with the TSDB down; ${AFTER_RESTART_PUSHES} more pushes after the restart, the TSDB back`,
        `${count.unacknowledged} points delivered whose push got no 200 (spooled, answer lost to the SIGKILL): allowed`,
      ],
    },
    claims,
    startedAt,
  );
}
