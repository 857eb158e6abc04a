/**
 * 7. Catchpoint re-delivers a push it did not see acknowledged (up to 9 times). The same push
 * sent 10 times one after the other, and another sent 10 times at once, is answered 200 every
 * time and written once: VictoriaMetrics (which keeps duplicates, no -dedup flag here) holds one
 * sample per series. Time to recover: not applicable.
 */
import { type PushSpecimen, pushBody } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { countDelivery, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, makeRow, type Row } from '../lib/report.ts';

const TEST_ID = 7001;
const COPIES = 10;

export async function redelivery(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret('push token 7');
  const bridge = await ctx.startBridge('7', {
    spec: pushSpec(ctx, {
      prefix: 'f7',
      endpoint: vm.httpPutUrl,
      extra: { dimensions: ['node', 'city', 'country'], measurements: ['rtt', 'status'] },
    }),
    secrets: pushSecrets(token, ctx.tsdbPassword('7')),
  });
  const url = `${bridge.url}/push/${token}`;
  const [a, b] = ctx.catchpoint.nodes;
  const specimen = (node: NonNullable<typeof a>, offset: number): PushSpecimen => ({
    testId: TEST_ID,
    nodeId: node.id,
    nodeName: node.name,
    asn: node.asn,
    timestampMs: Date.UTC(2024, 5, 1, 12, 0, 0, offset),
    totalMs: 123 + offset,
  });
  const sequential = specimen(a!, 1);
  const concurrent = specimen(b!, 2);
  const post = async (p: PushSpecimen) => {
    const res = await fetch(url, {
      method: 'POST',
      body: pushBody(p),
      headers: { 'content-type': 'application/json' },
    });
    return { status: res.status, json: (await res.json()) as { datapoints?: number } };
  };

  const answers: Array<{ status: number; json: { datapoints?: number } }> = [];
  for (let i = 0; i < COPIES; i++) answers.push(await post(sequential));
  answers.push(...(await Promise.all(Array.from({ length: COPIES }, () => post(concurrent)))));
  const perPush = Math.max(...answers.map((a) => a.json.datapoints ?? 0));

  const { count } = await waitForDelivery(
    vm,
    `f7[.]rtt[.]by_node[.]${TEST_ID}`,
    [sequential, concurrent],
    20_000,
  );
  await sleep(500);
  const all = await vm.exportSeries('f7[.].*');
  let samples = 0;
  let extra = 0;
  for (const s of all) {
    samples += s.values.length;
    const distinct = new Set(s.timestamps).size;
    extra += s.timestamps.length - distinct;
  }
  const metrics = await scrape(bridge.url);
  const byNode = countDelivery(await vm.exportSeries(`f7[.]rtt[.]by_node[.]${TEST_ID}`), [
    sequential,
    concurrent,
  ]);

  claims.check(
    'every copy is answered 200',
    answers.every((a) => a.status === 200),
    `statuses: ${[...new Set(answers.map((a) => a.status))].join(', ')}`,
  );
  claims.check(
    'each push is written once (sequential and concurrent copies)',
    count.lost === 0 && extra === 0 && samples === 2 * perPush,
    `${samples} samples in ${all.length} series for 2 distinct pushes of ${perPush} datapoints each; ${extra} extra copies`,
  );
  claims.check(
    'the metrics count the re-deliveries',
    metrics.value('catchpoint_bridge_pushes_total', { outcome: 'duplicate' }) === 2 * (COPIES - 1) &&
      metrics.value('catchpoint_bridge_pushes_total', { outcome: 'accepted' }) === 2,
    `pushes_total accepted ${metrics.value('catchpoint_bridge_pushes_total', { outcome: 'accepted' })}, duplicate ${metrics.value('catchpoint_bridge_pushes_total', { outcome: 'duplicate' })}`,
  );
  return makeRow(
    {
      id: '7',
      scenario: `Catchpoint re-delivery: 1 push ×${COPIES} sequential, 1 ×${COPIES} concurrent`,
      sent: answers.length,
      acknowledged: answers.filter((a) => a.status === 200).length,
      refused: answers.filter((a) => a.status !== 200).length,
      expected: 2 * perPush,
      found: samples - extra,
      lost: 2 * perPush - (samples - extra),
      duplicated: extra,
      recoverMs: null,
      recoverWhat: '',
      notes: [
        `${perPush} datapoints per push (rtt and status × node, city, country); by_node: ${byNode.found}/${byNode.expected}`,
      ],
    },
    claims,
    startedAt,
  );
}
