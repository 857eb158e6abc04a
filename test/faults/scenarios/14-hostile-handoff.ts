/**
 * 14. Hostile hand-off (issue 15). POST /internal/handoff is how a stopping replica hands its
 * undelivered points to a peer (src/bridge/handoff.ts): NDJSON records, the push token as a bearer
 * token, each record checked before anything is spooled. Here a running bridge takes a normal push
 * stream (100/s) while, interleaved, it is sent hand-offs no peer would send: records that are not
 * JSON objects, a garbage line, an object that is no OpenTSDB datapoint, a record over the 64 KiB
 * record limit, a good record followed by a bad one, a body announced over the 16 MiB request
 * limit, no token and a wrong token. Claims: each is refused with its 4xx (400, 413, 401) and a
 * {code, reason}; nothing of a refused hand-off is written (not even its good first record); a
 * well-formed hand-off is accepted and written (the route works: the refusals are about content);
 * the normal stream is answered 200 throughout and every acknowledged push is delivered; the TSDB
 * rejects nothing and the process stays up. Time to recover: not applicable.
 */
import { connect } from 'node:net';
import { HANDOFF_PATH } from '../../../src/bridge/handoff.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, isAlive, scrape, waitForDelivery } from '../lib/measure.ts';
import { Claims, makeRow, type Row } from '../lib/report.ts';

const ID = '14';
const RATE = 100;
const STREAM_MS = 5000;
const ROUNDS = 4;
const TEST_ID = 14_001;
const PREFIX = 'f14';
/** Written by no accepted request: any series under it is a leak. */
const REFUSED_METRIC = `${PREFIX}.handoff.refused`;
const ACCEPTED_METRIC = `${PREFIX}.handoff.ok`;

interface HostileCase {
  label: string;
  /** Expected status. */
  status: number;
  body: () => string | Buffer;
  /** Bearer token: the push token unless given ('' for none). */
  token?: string;
  /** Announce a body of this many bytes (Content-Length) without sending it. */
  announce?: number;
}

/**
 * Sends request headers announcing `length` body bytes over a raw socket, sends no body, and reads
 * the answer: what a server that refuses by Content-Length says before the body arrives.
 */
function announceBody(
  baseUrl: string,
  path: string,
  token: string,
  length: number,
): Promise<{ status: number; coded: boolean; code: unknown }> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let response = '';
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? -1);
      let json: { code?: unknown; reason?: unknown } = {};
      try {
        json = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as typeof json;
      } catch {
        // no JSON body
      }
      resolve({
        status,
        coded: typeof json.code === 'string' && typeof json.reason === 'string',
        code: json.code ?? response.split('\r\n')[0],
      });
    };
    socket.setTimeout(10_000, done);
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString('utf8');
      const headerEnd = response.indexOf('\r\n\r\n');
      const declared = /\r\ncontent-length: (\d+)/i.exec(response);
      if (headerEnd >= 0 && declared !== null && response.length - headerEnd - 4 >= Number(declared[1]))
        done();
    });
    socket.on('end', done);
    socket.on('error', done);
    socket.write(
      [
        `POST ${path} HTTP/1.1`,
        `Host: ${url.host}`,
        'Content-Type: application/x-ndjson',
        ...(token === '' ? [] : [`Authorization: Bearer ${token}`]),
        `Content-Length: ${length}`,
        '',
        '',
      ].join('\r\n'),
    );
  });
}

export async function hostileHandoff(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret(`push token ${ID}`);
  const bridge = await ctx.startBridge(ID, {
    spec: pushSpec(ctx, { prefix: PREFIX, endpoint: vm.httpPutUrl }),
    secrets: pushSecrets(token, ctx.tsdbPassword(ID)),
  });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  let seq = 0;
  const point = (metric: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      metric,
      timestamp: Date.UTC(2024, 8, 1) + seq++,
      value: 1,
      tags: { nodeid: '14' },
      ...extra,
    });
  const cases: HostileCase[] = [
    {
      label: 'records that are not JSON objects (array, number, string, null)',
      status: 400,
      body: () => '[1,2,3]\n42\n"x"\nnull\n',
    },
    {
      label: 'a garbage line',
      status: 400,
      body: () => Buffer.from([0x00, 0xff, 0x7b, 0x7b, 0x20, 0x67, 0x61, 0x72, 0x62, 0x0a]),
    },
    {
      label: 'a JSON object that is no OpenTSDB datapoint',
      status: 400,
      body: () => `${JSON.stringify({ metric: 'has space', timestamp: 'now', value: 'x', tags: {} })}\n`,
    },
    {
      label: 'a record over 64 KiB',
      status: 413,
      body: () => `${point(REFUSED_METRIC, { tags: { nodeid: '14', pad: 'p'.repeat(70_000) } })}\n`,
    },
    {
      label: 'a good record, then a bad one',
      status: 400,
      body: () => `${point(REFUSED_METRIC)}\n{"metric":\n`,
    },
    { label: 'no token', status: 401, token: '', body: () => `${point(REFUSED_METRIC)}\n` },
    {
      label: 'a wrong token',
      status: 401,
      token: `${token.slice(0, -4)}zzzz`,
      body: () => `${point(REFUSED_METRIC)}\n`,
    },
  ];
  // Announced, not sent: the bridge answers 413 before reading a byte of it, and closes the
  // connection, which a client still uploading 16 MiB would see as a reset rather than the 413.
  const huge: HostileCase = {
    label: 'a body over the 16 MiB request limit (Content-Length 16 MiB + 1)',
    status: 413,
    body: () => '',
    announce: (16 << 20) + 1,
  };
  const handoff = async (c: HostileCase) => {
    const auth = c.token ?? token;
    if (c.announce !== undefined) return announceBody(bridge.url, HANDOFF_PATH, auth, c.announce);
    try {
      const res = await fetch(`${bridge.url}${HANDOFF_PATH}`, {
        method: 'POST',
        body: c.body(),
        headers: {
          'content-type': 'application/x-ndjson',
          ...(auth === '' ? {} : { authorization: `Bearer ${auth}` }),
        },
      });
      const json = (await res.json().catch(() => ({}))) as { code?: unknown; reason?: unknown };
      return {
        status: res.status,
        coded: typeof json.code === 'string' && typeof json.reason === 'string',
        code: json.code,
      };
    } catch (err) {
      return { status: -1, coded: false, code: (err as Error).message };
    }
  };

  ctx.progress(`${ID}: ${RATE} pushes/s with hostile hand-offs interleaved`);
  const stream = runPushStream({
    url: () => `${bridge.url}/push/${token}`,
    ratePerSecond: RATE,
    durationMs: STREAM_MS,
    testId: TEST_ID,
    nodes,
  });
  const results = new Map<string, Array<{ status: number; coded: boolean; code: unknown }>>();
  const record = (c: HostileCase, r: { status: number; coded: boolean; code: unknown }) =>
    results.set(c.label, [...(results.get(c.label) ?? []), r]);
  let good: { status: number } | undefined;
  const goodRecords = [point(ACCEPTED_METRIC), point(ACCEPTED_METRIC)];
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) record(c, await handoff(c));
    if (round === 0) record(huge, await handoff(huge));
    if (round === 1) {
      good = await handoff({ label: 'good', status: 200, body: () => `${goodRecords.join('\n')}\n` });
    }
    await sleep(STREAM_MS / ROUNDS / 2);
  }
  const result = await stream;
  const { count, completeAt } = await waitForDelivery(
    vm,
    `${PREFIX}[.]rtt[.]by_node[.]${TEST_ID}`,
    result.acknowledged,
    30_000,
  );
  const goodSeries = await vm
    .waitForPoints(`${PREFIX}[.]handoff[.]ok`, goodRecords.length, 10_000)
    .catch(() => []);
  const leaked = await vm.exportSeries(`${PREFIX}[.]handoff[.]refused`);
  const metrics = await scrape(bridge.url);
  const healthz = (await fetch(`${bridge.url}/healthz`)).status;

  const wrong: string[] = [];
  let hostileSent = 0;
  for (const c of [...cases, huge]) {
    for (const r of results.get(c.label) ?? []) {
      hostileSent++;
      if (r.status !== c.status || !r.coded) {
        wrong.push(`${c.label}: ${r.status} ${String(r.code)} (want ${c.status})`);
      }
    }
  }
  claims.check(
    'every hostile hand-off is refused with its 4xx and a {code, reason}: 400 bad records, 413 too large, 401 bad token',
    wrong.length === 0 && hostileSent > 0,
    wrong.length === 0
      ? `${hostileSent} refused as expected: ${[...cases, huge].map((c) => `${c.label} → ${[...new Set((results.get(c.label) ?? []).map((r) => `${r.status} ${r.code ?? ''}`.trim()))].join('/')}`).join('; ')}`
      : wrong.slice(0, 5).join('; '),
  );
  claims.check(
    'nothing of a refused hand-off is written (not even the good record before a bad one)',
    leaked.length === 0,
    `${leaked.length} series under ${REFUSED_METRIC}`,
  );
  const goodSamples = goodSeries.reduce((n, s) => n + s.values.length, 0);
  claims.check(
    'a well-formed hand-off is accepted and written (the refusals are about content)',
    good?.status === 200 && goodSamples === goodRecords.length,
    `status ${good?.status}; ${goodSamples}/${goodRecords.length} records in the TSDB`,
  );
  claims.check(
    'the push stream is answered 200 throughout',
    result.refused === 0,
    `${result.acknowledged.length}/${result.sent} × 200; others: ${failureSummary(result.failures)}`,
  );
  claims.check(
    'nothing acknowledged is lost',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} acknowledged points visible`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  const rejected = metrics.value('catchpoint_bridge_datapoints_rejected_total');
  const setAside = metrics.value('catchpoint_bridge_spool_records_set_aside_total');
  const alive = isAlive(bridge.pid);
  claims.check(
    'the TSDB rejects nothing, nothing is set aside, the process stays up',
    rejected === 0 && setAside === 0 && alive && healthz === 200,
    `datapoints_rejected_total ${rejected}, spool_records_set_aside_total ${setAside}; pid ${bridge.pid} alive: ${alive}, /healthz ${healthz}`,
  );
  const sent = result.sent + hostileSent + 1;
  const acknowledged = result.acknowledged.length + (good?.status === 200 ? 1 : 0);
  return makeRow(
    {
      id: ID,
      scenario: 'hostile hand-offs (POST /internal/handoff) interleaved with a push stream',
      sent,
      acknowledged,
      refused: sent - acknowledged,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: null,
      recoverWhat: '',
      notes: [
        `sent counts ${result.sent} pushes, ${hostileSent} hostile hand-offs and 1 good one; dp columns are the push stream's by_node points`,
        `${RATE} pushes/s for ${STREAM_MS / 1000} s; ${ROUNDS} rounds of the ${cases.length} hostile hand-offs, one body announced over 16 MiB`,
      ],
    },
    claims,
    startedAt,
  );
}
