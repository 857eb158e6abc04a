/**
 * 2. The TSDB hangs (VictoriaMetrics SIGSTOPped: the kernel still accepts connections, nothing
 * answers, every write times out after tsdb.timeout 2 s) under a push stream. Claims: the bridge's
 * memory stays bounded (VmRSS sampled from /proc), pushes are still acknowledged promptly (the
 * only backpressure is the spool limit, far away here), and everything is delivered once the TSDB
 * resumes. Time to recover: from SIGCONT to every point visible.
 */
import { type PushSpecimen, pushBody, runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, mb, median, quantile, rssBytes, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const RATE = 100;
const LEAD_MS = 3000;
const PAUSE_MS = 25_000;
const TAIL_MS = 2000;
const TEST_ID = 2001;
/**
 * The bridge runs from its sources here: ~140 MB resident idle (~34 MB of it type stripping; the
 * image's compiled bridge ~110 MB). The bound is 256 MB absolute and at most +48 MB over the
 * bridge's own peak before the hang.
 */
const RSS_LIMIT = 256 * 2 ** 20;
const RSS_OVER_BASELINE = 48 * 2 ** 20;
/** Allowed rise of peak RSS from the first to the second half of the hang. */
const RSS_GROWTH_LIMIT = 16 * 2 ** 20;

export async function tsdbSlow(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret('push token 2');
  const bridge = await ctx.startBridge('2', {
    spec: pushSpec(ctx, { prefix: 'f2', endpoint: vm.httpPutUrl }),
    secrets: pushSecrets(token, ctx.tsdbPassword('2')),
    extraArgs: ['--drain', '1'],
  });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const url = `${bridge.url}/push/${token}`;

  const rss: Array<{ at: number; bytes: number }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const bytes = await rssBytes(bridge.pid);
      if (bytes !== undefined) rss.push({ at: Date.now(), bytes });
      await sleep(250);
    }
  })();

  const streamStart = Date.now() - 3_600_000;
  const stream = runPushStream({
    url: () => url,
    ratePerSecond: RATE,
    durationMs: LEAD_MS + PAUSE_MS + TAIL_MS,
    testId: TEST_ID,
    nodes,
    startMs: streamStart,
  });
  await sleep(LEAD_MS);
  vm.pause();
  const pausedAt = Date.now();
  ctx.progress(`2: TSDB paused (SIGSTOP) for ${PAUSE_MS / 1000} s under ${RATE} pushes/s`);

  // Probes: single pushes timed on their own while the TSDB hangs.
  const probes: PushSpecimen[] = [];
  const probeLatency: number[] = [];
  let probeRefused = 0;
  for (let i = 0; Date.now() - pausedAt < PAUSE_MS - 1000; i++) {
    const node = nodes[i % nodes.length]!;
    const p: PushSpecimen = {
      testId: TEST_ID,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: streamStart + 10_000_000 + i,
      totalMs: 7,
    };
    const t0 = performance.now();
    const res = await fetch(url, {
      method: 'POST',
      body: pushBody(p),
      headers: { 'content-type': 'application/json' },
    });
    await res.arrayBuffer();
    probeLatency.push(performance.now() - t0);
    if (res.status === 200) probes.push(p);
    else probeRefused++;
    await sleep(500);
  }
  const spooledAtEnd = (await scrape(bridge.url)).value('catchpoint_bridge_spool_bytes');
  await sleep(Math.max(0, PAUSE_MS - (Date.now() - pausedAt)));
  vm.resume();
  const resumedAt = Date.now();
  ctx.progress('2: TSDB resumed (SIGCONT); waiting for every acknowledged point');
  const result = await stream;
  const acked = [...result.acknowledged, ...probes];
  const { count, completeAt } = await waitForDelivery(vm, `f2[.]rtt[.]by_node[.]${TEST_ID}`, acked, 60_000);
  sampling = false;
  await sampler;
  const after = await scrape(bridge.url);

  const during = rss.filter((s) => s.at >= pausedAt && s.at <= resumedAt);
  const half = pausedAt + (resumedAt - pausedAt) / 2;
  const peak = (xs: typeof rss) => Math.max(0, ...xs.map((s) => s.bytes));
  const firstHalfPeak = peak(during.filter((s) => s.at < half));
  const secondHalfPeak = peak(during.filter((s) => s.at >= half));
  const overallPeak = peak(rss);
  const beforePeak = peak(rss.filter((s) => s.at < pausedAt));

  claims.check(
    `bridge RSS stays under ${mb(RSS_LIMIT)} and within +${mb(RSS_OVER_BASELINE)} of its peak before the hang`,
    overallPeak > 0 && overallPeak < RSS_LIMIT && overallPeak - beforePeak < RSS_OVER_BASELINE,
    `peak ${mb(overallPeak)} over ${rss.length} samples (before the hang ${mb(beforePeak)})`,
  );
  claims.check(
    'RSS does not keep growing while the TSDB hangs',
    during.length > 10 && secondHalfPeak - firstHalfPeak < RSS_GROWTH_LIMIT,
    `peak ${mb(firstHalfPeak)} in the first half of the hang, ${mb(secondHalfPeak)} in the second (limit +${mb(RSS_GROWTH_LIMIT)})`,
  );
  claims.check(
    'every push is acknowledged while the TSDB hangs (backpressure only via the spool limit)',
    result.refused === 0 && probeRefused === 0,
    `${result.acknowledged.length}/${result.sent} stream pushes and ${probes.length}/${probes.length + probeRefused} probes answered 200; others: ${failureSummary(result.failures)}`,
  );
  const p50 = median(probeLatency);
  const p95 = quantile(probeLatency, 0.95);
  claims.check(
    'acknowledgements stay prompt: they never wait for the TSDB',
    p95 < 500,
    `probe latency median ${formatMs(p50)}, p95 ${formatMs(p95)} (TSDB timeout 2 s)`,
  );
  claims.check(
    'points wait in the spool, on disk',
    spooledAtEnd > 0,
    `catchpoint_bridge_spool_bytes ${spooledAtEnd} near the end of the hang`,
  );
  claims.check(
    'nothing acknowledged is lost: everything delivered after the TSDB resumes',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} points visible ${formatMs((completeAt ?? resumedAt) - resumedAt)} after SIGCONT`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'duplicates only from re-sent batches (at-least-once)',
    count.duplicated <= retried,
    `${count.duplicated} duplicated ≤ ${retried} datapoints re-sent (a request that timed out was still in the hung TSDB's socket buffer and got stored when it resumed)`,
  );
  return makeRow(
    {
      id: '2',
      scenario: `TSDB hung (SIGSTOP) ${PAUSE_MS / 1000} s, timeout 2 s`,
      sent: result.sent + probes.length + probeRefused,
      acknowledged: acked.length,
      refused: result.refused + probeRefused,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: completeAt === undefined ? null : completeAt - resumedAt,
      recoverWhat: 'SIGCONT → every acknowledged point visible',
      notes: [
        `${RATE} pushes/s plus a timed probe push every ~0.5 s during the hang`,
        `RSS: before ${mb(beforePeak)}, hang 1st half ${mb(firstHalfPeak)}, 2nd half ${mb(secondHalfPeak)}, peak ${mb(overallPeak)}; least-squares slope over the 2nd half ${slopeMbPerMin(during.filter((x) => x.at >= half)).toFixed(1)} MB/min`,
        `datapoints_retried_total ${retried}`,
      ],
    },
    claims,
    startedAt,
  );
}

/** Least-squares slope of RSS over time, MB per minute. */
function slopeMbPerMin(samples: Array<{ at: number; bytes: number }>): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((a, s) => a + s.at, 0) / n;
  const my = samples.reduce((a, s) => a + s.bytes, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.at - mx) * (s.bytes - my);
    den += (s.at - mx) ** 2;
  }
  return den === 0 ? 0 : ((num / den) * 60_000) / 2 ** 20;
}
