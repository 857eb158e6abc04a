/**
 * 13. Catchpoint re-delivers pushes to a bridge that restarted in between (issue 15). 20
 * distinct pushes are acknowledged and delivered; the bridge is stopped (SIGTERM) and started
 * again on the same spool directory; the same 20 pushes are sent again, then one new push. The
 * de-duplication window is journaled in <spool>/dedupe/ and restored on start, so every copy is
 * answered 200 and counted as a duplicate, and nothing is written twice: VictoriaMetrics (no
 * -dedup flag here) keeps every copy it is sent, so one sample per series proves it. The new push
 * is still written. Time to recover: not applicable.
 */
import { type PushSpecimen, pushBody } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { logEntries, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, makeRow, type Row } from '../lib/report.ts';

const ID = '13';
const TEST_ID = 13_001;
const PUSHES = 20;

export async function redeliveryAfterRestart(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const prefix = 'f13';
  const token = ctx.secret(`push token ${ID}`);
  const password = ctx.tsdbPassword(ID);
  const spec = pushSpec(ctx, {
    prefix,
    endpoint: vm.httpPutUrl,
    extra: { dimensions: ['node', 'city', 'country'], measurements: ['rtt', 'status'] },
  });
  const first = await ctx.startBridge(ID, { spec, secrets: pushSecrets(token, password) });
  const nodes = ctx.catchpoint.nodes.slice(0, PUSHES);
  const pushes: PushSpecimen[] = nodes.map((n, i) => ({
    testId: TEST_ID,
    nodeId: n.id,
    nodeName: n.name,
    asn: n.asn,
    timestampMs: Date.UTC(2024, 7, 1, 12, 0, 0, i),
    totalMs: 100 + i,
  }));
  const post = async (url: string, p: PushSpecimen) => {
    const res = await fetch(`${url}/push/${token}`, {
      method: 'POST',
      body: pushBody(p),
      headers: { 'content-type': 'application/json' },
    });
    return { status: res.status, json: (await res.json()) as { datapoints?: number } };
  };

  const firstAnswers = [];
  for (const p of pushes) firstAnswers.push(await post(first.url, p));
  const perPush = Math.max(...firstAnswers.map((a) => a.json.datapoints ?? 0));
  const delivered = await waitForDelivery(vm, `${prefix}[.]rtt[.]by_node[.]${TEST_ID}`, pushes, 20_000);
  const stop = await first.stop('SIGTERM');
  ctx.progress(
    `${ID}: ${PUSHES} pushes delivered; restarted (SIGTERM) on the same spool; sending them again`,
  );

  const second = await ctx.startBridge(`${ID} (restart)`, {
    spec,
    secrets: pushSecrets(token, password),
    spoolDir: first.spoolDir,
  });
  const again = [];
  for (const p of pushes) again.push(await post(second.url, p));
  const fresh: PushSpecimen = { ...pushes[0]!, timestampMs: Date.UTC(2024, 7, 1, 12, 0, 1, 0), totalMs: 99 };
  const freshAnswer = await post(second.url, fresh);
  const all = [...pushes, fresh];
  await waitForDelivery(vm, `${prefix}[.]rtt[.]by_node[.]${TEST_ID}`, all, 20_000);
  // Give a wrongly re-written copy time to land before counting.
  await sleep(1000);
  const series = await vm.exportSeries(`${prefix}[.].*`);
  let samples = 0;
  let extra = 0;
  for (const s of series) {
    samples += s.values.length;
    extra += s.timestamps.length - new Set(s.timestamps).size;
  }
  const metrics = await scrape(second.url);
  const restored = logEntries(second.logs).find((e) => e.msg === 'de-duplication window restored');

  claims.check(
    'the first copies are acknowledged and delivered before the restart',
    firstAnswers.every((a) => a.status === 200) && delivered.count.lost === 0,
    `${firstAnswers.filter((a) => a.status === 200).length}/${PUSHES} × 200, ${delivered.count.found}/${PUSHES} by_node points visible; stop ${JSON.stringify(stop)}`,
  );
  claims.check(
    'the restarted bridge restores the de-duplication window from <spool>/dedupe/',
    restored !== undefined && Number(restored.keys) >= PUSHES,
    restored === undefined
      ? 'no "de-duplication window restored" log line'
      : `"${String(restored.msg)}", keys ${String(restored.keys)}`,
  );
  claims.check(
    'every re-delivered copy is answered 200 and counted as a duplicate, none accepted again',
    again.every((a) => a.status === 200) &&
      metrics.value('catchpoint_bridge_pushes_total', { outcome: 'duplicate' }) === PUSHES &&
      metrics.value('catchpoint_bridge_pushes_total', { outcome: 'accepted' }) === 1,
    `statuses ${[...new Set(again.map((a) => a.status))].join(', ')}; restarted bridge's pushes_total: duplicate ${metrics.value('catchpoint_bridge_pushes_total', { outcome: 'duplicate' })}, accepted ${metrics.value('catchpoint_bridge_pushes_total', { outcome: 'accepted' })} (the new push)`,
  );
  const expected = all.length * perPush;
  claims.check(
    'each push is written once across the restart (one sample per series and timestamp)',
    extra === 0 && samples === expected,
    `${samples} samples in ${series.length} series for ${all.length} distinct pushes of ${perPush} datapoints each (${expected}); ${extra} extra copies`,
  );
  claims.check(
    'a new push after the restart is still accepted and written',
    freshAnswer.status === 200 && (freshAnswer.json.datapoints ?? 0) === perPush,
    `status ${freshAnswer.status}, ${freshAnswer.json.datapoints ?? 0} datapoints`,
  );
  const sent = firstAnswers.length + again.length + 1;
  const acknowledged = [...firstAnswers, ...again, freshAnswer].filter((a) => a.status === 200).length;
  return makeRow(
    {
      id: ID,
      scenario: `Catchpoint re-delivery after a restart (SIGTERM): ${PUSHES} pushes sent again to the restarted bridge`,
      sent,
      acknowledged,
      refused: sent - acknowledged,
      expected,
      found: samples - extra,
      lost: expected - (samples - extra),
      duplicated: extra,
      recoverMs: null,
      recoverWhat: '',
      notes: [
        `${perPush} datapoints per push (rtt and status × node, city, country); the journal is written without fsync (at most 50 ms after a push) and at close, so a SIGKILL may forget the last keys: at worst one duplicate write, never a lost point`,
      ],
    },
    claims,
    startedAt,
  );
}
