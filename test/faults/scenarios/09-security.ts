/**
 * 9. Security.
 *  - A push with a wrong, empty or old token (replaced longer ago than push.tokenRotationOverlap)
 *    is answered 401 (404 for an empty path segment) and writes nothing.
 *  - The token comparison takes as long whether 0 or 30 leading characters match: two wrong
 *    tokens of the real one's length, sent interleaved in random order over one keep-alive
 *    connection, have the same median latency within max(15 %, 200 µs); the same comparison
 *    between two halves of one candidate's samples gives the noise floor, reported alongside.
 *  - No secret value used anywhere in the suite (push tokens, API keys, client secrets, access
 *    tokens the Catchpoint stand-in issued, TSDB passwords and their basic-auth header) and no
 *    push URL carrying a token appears in any log line of any bridge or operator process the
 *    suite ran, in any CatchpointBridge status, or in any Event of the namespaces it used.
 * Run last: the scan covers everything the earlier scenarios produced.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'undici';
import { type PushSpecimen, pushBody } from '../../harness/push-stream.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { countDelivery, median, scrape, until, waitForDelivery } from '../lib/measure.ts';
import { Claims, makeRow, type Row } from '../lib/report.ts';

const OVERLAP_MS = 2000;
const TIMING_SAMPLES = 1500;
const TIMING_ATTEMPTS = 3;
/** A push URL with something in the token position other than the route pattern. */
const PUSH_URL = /\/push\/(?!:token\b|<token>)[^\s"'<>\\/?#]+/;

export async function security(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const { vm } = ctx;
  const oldToken = ctx.secret('push token 9 (rotated out)');
  const bridge = await ctx.startBridge('9', {
    spec: pushSpec(ctx, {
      prefix: 'f9',
      endpoint: vm.httpPutUrl,
      extra: { push: { tokenSecretRef: { name: 'push' }, tokenRotationOverlap: `${OVERLAP_MS / 1000}s` } },
    }),
    secrets: pushSecrets(oldToken, ctx.tsdbPassword('9')),
  });
  const node = ctx.catchpoint.nodes[0]!;
  let seq = 0;
  const specimen = (testId: number): PushSpecimen => ({
    testId,
    nodeId: node.id,
    nodeName: node.name,
    asn: node.asn,
    timestampMs: Date.UTC(2024, 6, 1) + seq++,
    totalMs: 9,
  });
  const post = async (path: string, p: PushSpecimen) => {
    const res = await fetch(`${bridge.url}${path}`, {
      method: 'POST',
      body: pushBody(p),
      headers: { 'content-type': 'application/json' },
    });
    const text = await res.text();
    let json: { code?: unknown; reason?: unknown } | undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  };
  let sent = 0;
  const acked: PushSpecimen[] = [];
  let refused = 0;
  /** Sends `n` pushes to `path`, returns their statuses. */
  const burst = async (path: string, testId: number, n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = specimen(testId);
      const r = await post(path, p);
      sent++;
      if (r.status === 200) acked.push(p);
      else refused++;
      statuses.push(r.status);
      if (r.status === 401 && !(typeof r.json?.code === 'string' && typeof r.json.reason === 'string')) {
        statuses.push(-1);
      }
    }
    return statuses;
  };
  const only = (statuses: number[], allowed: number[]) =>
    statuses.length > 0 && statuses.every((s) => allowed.includes(s));

  // ---- wrong, empty and old tokens ------------------------------------------------------------------
  const wrong = `${oldToken.slice(0, -8)}${randomBytes(4).toString('hex')}`;
  const wrongStatuses = await burst(`/push/${wrong}`, 9001, 10);
  const emptyStatuses = [...(await burst('/push/', 9002, 5)), ...(await burst('/push', 9002, 5))];
  const rootStatuses = await burst('/', 9003, 5);
  const oddStatuses = [
    ...(await burst(`/push/${encodeURIComponent(`${oldToken}/../x`)}`, 9003, 2)),
    ...(await burst(`/push/${oldToken.toUpperCase()}`, 9003, 2)),
    ...(await burst(`/push/${oldToken}%00`, 9003, 2)),
    ...(await burst(`/push/${oldToken}%20`, 9003, 2)),
  ];

  const newToken = ctx.secret('push token 9 (current)');
  await bridge.writeSecret('push', 'token', newToken);
  // Poll with pushes under the new token until the bridge has picked up the Secret change.
  const rotatedAt = await until(
    async () => (await burst(`/push/${newToken}`, 9000, 1))[0] === 200,
    10_000,
    50,
  );
  const duringOverlap = await burst(`/push/${oldToken}`, 9004, 3);
  await sleep(Math.max(0, (rotatedAt ?? Date.now()) + OVERLAP_MS + 1500 - Date.now()));
  const oldStatuses = await burst(`/push/${oldToken}`, 9005, 10);

  claims.check(
    'a wrong token is refused: 401 with {code, reason}',
    only(wrongStatuses, [401]),
    wrongStatuses.join(','),
  );
  claims.check(
    'an empty token is refused: 401 or 404',
    only(emptyStatuses, [401, 404]),
    emptyStatuses.join(','),
  );
  claims.check(
    'no token (POST /) is refused when a token is configured',
    only(rootStatuses, [401, 404]),
    rootStatuses.join(','),
  );
  claims.check(
    'near-miss tokens (case, suffixes, encoded path) are refused',
    only(oddStatuses, [401, 404]),
    oddStatuses.join(','),
  );
  claims.check(
    `a rotated-out token works during the overlap (${OVERLAP_MS / 1000} s), is refused after it`,
    rotatedAt !== undefined && only(duringOverlap, [200]) && only(oldStatuses, [401]),
    `new token live after the Secret change: ${rotatedAt !== undefined}; old token during the overlap: ${duringOverlap.join(',')}; after: ${oldStatuses.join(',')}`,
  );

  // Nothing refused was written: wait for a last good push, then look for the refused ones.
  const marker = specimen(9006);
  const markerStatus = (await post(`/push/${newToken}`, marker)).status;
  sent++;
  if (markerStatus === 200) acked.push(marker);
  const { count } = await waitForDelivery(vm, 'f9[.]rtt[.]by_node[.].*', acked, 20_000);
  const written = await vm.exportSeries('f9[.].*[.](9001|9002|9003|9005)');
  const metrics = await scrape(bridge.url);
  const unauthorizedCount = metrics.value('catchpoint_bridge_pushes_total', { outcome: 'unauthorized' });
  claims.check(
    'refused pushes wrote nothing',
    written.length === 0 && count.lost === 0,
    `${written.length} series from refused pushes; ${count.found}/${count.expected} accepted pushes written; pushes_total{outcome="unauthorized"} ${unauthorizedCount}`,
  );

  // ---- timing of the token comparison --------------------------------------------------------------
  ctx.progress('9: timing the token comparison (0 vs 30 matching leading characters)');
  const attempts: string[] = [];
  let timingPass = false;
  for (let attempt = 1; attempt <= TIMING_ATTEMPTS && !timingPass; attempt++) {
    const t = await timeTokens(bridge.url, newToken);
    const limit = Math.max(0.15 * t.median, 200);
    timingPass = t.diff < limit;
    attempts.push(
      `attempt ${attempt}: median ${t.m0.toFixed(0)} µs (0 chars match) vs ${t.m30.toFixed(0)} µs (30 chars match), ` +
        `|Δ| ${t.diff.toFixed(0)} µs, limit ${limit.toFixed(0)} µs, noise floor (same candidate, two halves) ${t.noise.toFixed(0)} µs`,
    );
  }
  claims.check(
    'token comparison time does not depend on how much of a prefix matched',
    timingPass,
    attempts.join('; '),
  );

  // ---- the secret scan -----------------------------------------------------------------------------
  const findings = scan(ctx);
  const lines = ctx.logs.reduce((a, s) => a + s.lines.length, 0);
  const items = ctx.snapshots.reduce((a, s) => a + s.items.length, 0);
  const selfTest =
    scanText('x', `{"msg":"${newToken}"}`, new Map([['t', newToken]])).length === 1 &&
    PUSH_URL.test(`POST /push/${newToken}`);
  claims.check(
    'no secret value and no push URL with a token in any log line, CR status or Event',
    selfTest && findings.length === 0 && lines > 0,
    findings.length === 0
      ? `${ctx.secrets.size} secret values searched in ${lines} log lines of ${ctx.logs.length} processes ` +
          `(${ctx.logs.map((s) => `${s.label}: ${s.lines.length}`).join(', ')}) and ${items} API objects ` +
          `(${ctx.snapshots.map((s) => `${s.label}: ${s.items.length}`).join('; ') || 'none: scenario 8 did not run'})`
      : findings.slice(0, 5).join(' | '),
  );

  const final = countDelivery(await vm.exportSeries('f9[.]rtt[.]by_node[.].*'), acked);
  return makeRow(
    {
      id: '9',
      scenario: 'security: bad tokens, timing, secrets in logs/status/Events',
      sent,
      acknowledged: acked.length,
      refused,
      expected: final.expected,
      found: final.found,
      lost: final.lost,
      duplicated: final.duplicated,
      recoverMs: null,
      recoverWhat: '',
      notes: [`${TIMING_SAMPLES} requests per candidate per attempt, interleaved in random order`],
    },
    claims,
    startedAt,
  );
}

interface Timing {
  m0: number;
  m30: number;
  median: number;
  diff: number;
  noise: number;
}

/** Median latency (µs) of 401s for a token sharing 0 vs 30 leading characters with the real one. */
async function timeTokens(url: string, real: string): Promise<Timing> {
  const flip = (c: string) => (c === 'a' ? 'b' : 'a');
  const zero = `${flip(real[0]!)}${real.slice(1, -6)}${randomBytes(3).toString('hex')}`;
  const thirty = `${real.slice(0, 30)}${flip(real[30]!)}${real.slice(31, -6)}${randomBytes(3).toString('hex')}`;
  const client = new Client(url, { pipelining: 1, keepAliveTimeout: 30_000 });
  const once = async (token: string) => {
    const t0 = process.hrtime.bigint();
    const res = await client.request({
      method: 'POST',
      path: `/push/${token}`,
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    await res.body.dump();
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (res.statusCode !== 401) throw new Error(`timing probe answered ${res.statusCode}`);
    return us;
  };
  try {
    for (let i = 0; i < 200; i++) await once(i % 2 === 0 ? zero : thirty);
    const s0: number[] = [];
    const s30: number[] = [];
    for (let i = 0; i < TIMING_SAMPLES; i++) {
      if (Math.random() < 0.5) {
        s0.push(await once(zero));
        s30.push(await once(thirty));
      } else {
        s30.push(await once(thirty));
        s0.push(await once(zero));
      }
    }
    const m0 = median(s0);
    const m30 = median(s30);
    const noise = Math.abs(
      median(s0.filter((_, i) => i % 2 === 0)) - median(s0.filter((_, i) => i % 2 === 1)),
    );
    return { m0, m30, median: median([...s0, ...s30]), diff: Math.abs(m0 - m30), noise };
  } finally {
    await client.close();
  }
}

function scanText(where: string, text: string, secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [label, value] of secrets) {
    if (value.length >= 8 && text.includes(value)) found.push(`${label} in ${where}`);
  }
  const url = PUSH_URL.exec(text);
  if (url !== null) found.push(`a push URL with a token in ${where}`);
  return found;
}

function scan(ctx: FaultContext): string[] {
  const findings: string[] = [];
  for (const source of ctx.logs) {
    source.lines.forEach((line, i) => {
      findings.push(...scanText(`${source.label} log line ${i + 1}`, line, ctx.secrets));
    });
  }
  for (const snap of ctx.snapshots) {
    snap.items.forEach((item, i) => {
      findings.push(...scanText(`${snap.label} #${i + 1}`, item, ctx.secrets));
    });
  }
  return findings;
}
