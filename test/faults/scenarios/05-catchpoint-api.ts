/**
 * 5. Catchpoint's REST API (the node directory) fails: down (HTML 503, then connections reset),
 * 401 (credentials refused), 429 (rate limited, Retry-After) — first before the bridge ever
 * loaded the directory, then during the run after it had. The push path never waits for the
 * directory: every push is answered 200, tagged from the push itself (NodeName → city, country;
 * no region, which only the directory knows) until the first load, and from the last known
 * directory afterwards. Once the API is back the directory loads (directory_nodes > 0) and the
 * series carry region. Time to recover: from the API back to directory_nodes > 0.
 *
 * Catchpoint v1 (OAuth client credentials) is used because its node list has the region.
 */

import { sanitizeTagValue } from '../../../src/opentsdb/sanitize.ts';
import {
  FAKE_V1_CLIENT_ID,
  FAKE_V1_CLIENT_SECRET,
  type FakeCatchpoint,
  type FakeNode,
  startFakeCatchpoint,
} from '../../harness/fake-catchpoint.ts';
import { type PushSpecimen, pushBody } from '../../harness/push-stream.ts';
import type { ExportedSeries } from '../../harness/victoria-metrics.ts';
import { type FaultContext, pushSecrets, pushSpec } from '../lib/context.ts';
import { countDelivery, scrape, until, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row } from '../lib/report.ts';

const PUSHES_PER_PHASE = 20;

type Fault = 'outage-503' | 'outage-reset' | 'unauthorized' | 'rate-limited';

interface Phase {
  testId: number;
  what: string;
  /** Whether the directory had loaded before this phase (its tags must then be the directory's). */
  directoryKnown: boolean;
}

export async function catchpointApiDown(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const api = await startFakeCatchpoint();
  try {
    return await run(ctx, api, claims, startedAt);
  } finally {
    // The v1 access tokens the bridge was issued are secrets too: the scan looks for them.
    const bearers = new Set(
      api.log.map((r) => r.authorization?.replace(/^Bearer /, '')).filter((b): b is string => !!b),
    );
    let i = 0;
    for (const b of bearers) ctx.secrets.set(`Catchpoint v1 access token #${++i}`, b);
    await api.close();
  }
}

async function run(ctx: FaultContext, api: FakeCatchpoint, claims: Claims, startedAt: number): Promise<Row> {
  const { vm } = ctx;
  const token = ctx.secret('push token 5');
  const nodes = api.nodes.filter((n) => n.region.length > 0 && n.status.name === 'Active').slice(0, 10);

  const setFault = (fault: Fault | undefined) => {
    api.clearFaults();
    api.setV1({ clientSecret: FAKE_V1_CLIENT_SECRET });
    if (fault === 'outage-503')
      api.setFaults({ outage: { count: Number.POSITIVE_INFINITY, mode: 'status', status: 503 } });
    if (fault === 'outage-reset')
      api.setFaults({ outage: { count: Number.POSITIVE_INFINITY, mode: 'destroy' } });
    if (fault === 'rate-limited')
      api.setFaults({ rateLimit: { count: Number.POSITIVE_INFINITY, retryAfterSec: 1 } });
    if (fault === 'unauthorized') {
      // The bridge's client secret is no longer valid, and its access token is revoked.
      api.setV1({ clientSecret: `revoked-${Date.now()}` });
      api.expireTokens();
    }
  };
  /** Waits until the API has answered `n` more requests with the fault's failure. */
  const exercised = async (fault: Fault, n: number) => {
    const failed = (r: (typeof api.log)[number]) =>
      fault === 'outage-503'
        ? r.status === 503
        : fault === 'outage-reset'
          ? r.status === 'destroyed'
          : fault === 'rate-limited'
            ? r.status === 429
            : r.status === 401;
    const base = api.log.filter(failed).length;
    return until(() => api.log.filter(failed).length >= base + n, 20_000, 50);
  };

  setFault('outage-503');
  const bridge = await ctx.startBridge('5', {
    spec: pushSpec(ctx, {
      prefix: 'f5',
      endpoint: vm.httpPutUrl,
      extra: {
        catchpoint: {
          api: 'v1',
          baseURL: api.url,
          credentialsSecretRef: { name: 'cp' },
          refreshInterval: '2s',
          unknownNodeRefreshInterval: '1s',
        },
        dimensions: ['node', 'city', 'country', 'region'],
        naming: { prefix: 'f5', layout: 'tags' },
      },
    }),
    secrets: {
      ...pushSecrets(token, ctx.tsdbPassword('5')),
      cp: { clientId: FAKE_V1_CLIENT_ID, clientSecret: FAKE_V1_CLIENT_SECRET },
    },
  });
  const url = `${bridge.url}/push/${token}`;
  const base = Date.now() - 3_600_000;
  const sent: PushSpecimen[] = [];
  const acked: PushSpecimen[] = [];
  const phases: Phase[] = [];
  let loadedSize = -1;
  const directoryNodes = async () => (await scrape(bridge.url)).value('catchpoint_bridge_directory_nodes');

  const pushPhase = async (testId: number, what: string, directoryKnown: boolean) => {
    phases.push({ testId, what, directoryKnown });
    let refused = 0;
    for (let i = 0; i < PUSHES_PER_PHASE; i++) {
      const node = nodes[i % nodes.length]!;
      const p: PushSpecimen = {
        testId,
        nodeId: node.id,
        nodeName: node.name,
        asn: node.asn,
        timestampMs: base + testId * 1000 + i,
        totalMs: 20 + i,
      };
      sent.push(p);
      const res = await fetch(url, {
        method: 'POST',
        body: pushBody(p),
        headers: { 'content-type': 'application/json' },
      });
      await res.arrayBuffer();
      if (res.status === 200) acked.push(p);
      else refused++;
    }
    const dn = await directoryNodes();
    claims.check(
      `${what}: every push answered 200`,
      refused === 0,
      `${PUSHES_PER_PHASE - refused}/${PUSHES_PER_PHASE} (directory_nodes ${dn})`,
    );
    if (!directoryKnown) claims.check(`${what}: the directory is empty`, dn === 0, `directory_nodes ${dn}`);
    else
      claims.check(
        `${what}: the last known directory is kept`,
        dn > 0 && dn === loadedSize,
        `directory_nodes ${dn}`,
      );
  };

  // At start: the API has never answered.
  ctx.progress('5: Catchpoint API down (503) at start');
  await exercised('outage-503', 1);
  await pushPhase(5001, 'API down (503) at start', false);
  setFault('unauthorized');
  ctx.progress('5: Catchpoint API 401 at start');
  await exercised('unauthorized', 1);
  await pushPhase(5002, 'API 401 at start', false);
  setFault('rate-limited');
  ctx.progress('5: Catchpoint API 429 at start');
  await exercised('rate-limited', 2);
  await pushPhase(5003, 'API 429 at start', false);

  setFault(undefined);
  const backAt = Date.now();
  const loadedAt = await until(async () => (await directoryNodes()) > 0, 30_000, 50);
  claims.check(
    'the directory loads once the API is back',
    loadedAt !== undefined,
    loadedAt === undefined
      ? 'directory_nodes still 0 after 30 s'
      : `directory_nodes > 0 after ${formatMs(loadedAt - backAt)}`,
  );
  loadedSize = await directoryNodes();
  await pushPhase(5004, 'API back', true);

  // During the run: the directory has loaded, then the API fails again.
  for (const [fault, testId, what] of [
    ['outage-reset', 5005, 'API down (connections reset) during the run'],
    ['unauthorized', 5006, 'API 401 during the run'],
    ['rate-limited', 5007, 'API 429 during the run'],
  ] as Array<[Fault, number, string]>) {
    setFault(fault);
    ctx.progress(`5: ${what}`);
    await exercised(fault, fault === 'rate-limited' ? 2 : 1);
    await pushPhase(testId, what, true);
  }
  setFault(undefined);
  const okBefore = api.log.filter((r) => r.endpoint === 'v1-nodes' && r.status === 200).length;
  const reloaded = await until(
    () => api.log.filter((r) => r.endpoint === 'v1-nodes' && r.status === 200).length > okBefore,
    30_000,
    50,
  );
  claims.check('the directory reloads after the API recovers again', reloaded !== undefined);

  const { count } = await waitForDelivery(vm, 'f5[.]rtt', acked, 30_000);
  const series = await vm.exportSeries('f5[.]rtt');
  checkTags(claims, series, phases, new Map(nodes.map((n) => [n.id, n])));
  const final = countDelivery(series, acked);
  claims.check(
    'every acknowledged push is written',
    count.lost === 0,
    count.lost === 0 ? `${count.found}/${count.expected}` : `${count.lost} missing`,
  );
  return makeRow(
    {
      id: '5',
      scenario: 'Catchpoint API down / 401 / 429 at start and during the run',
      sent: sent.length,
      acknowledged: acked.length,
      refused: sent.length - acked.length,
      expected: final.expected,
      found: final.found,
      lost: final.lost,
      duplicated: final.duplicated,
      recoverMs: loadedAt === undefined ? null : loadedAt - backAt,
      recoverWhat: 'API answering again → directory_nodes > 0 (refreshInterval 2 s caps the retry backoff)',
      notes: [
        `v1 API; phases of ${PUSHES_PER_PHASE} pushes: ${phases.map((p) => p.what).join('; ')}`,
        `API requests: ${api.requests.total} (token ${api.requests.token}, nodes ${api.requests.v1Nodes})`,
      ],
    },
    claims,
    startedAt,
  );
}

/** Fallback tags before the first load (city, country; no region), directory tags after. */
function checkTags(
  claims: Claims,
  series: ExportedSeries[],
  phases: Phase[],
  nodes: Map<number, FakeNode>,
): void {
  for (const phase of phases) {
    const mine = series.filter((s) => s.metric.testid === String(phase.testId));
    const problems: string[] = [];
    for (const s of mine) {
      const node = nodes.get(Number(s.metric.nodeid));
      if (node === undefined) {
        problems.push(`unknown node ${s.metric.nodeid}`);
        continue;
      }
      // The country's spelling may differ between the push's ISO code and the v1 directory.
      if (!s.metric.country) problems.push(`node ${node.id} has no country tag`);
      const want: Record<string, string | undefined> = {
        city: sanitizeTagValue(node.city),
        region: phase.directoryKnown ? sanitizeTagValue(node.region) : undefined,
      };
      for (const [k, v] of Object.entries(want)) {
        if (s.metric[k] !== v) problems.push(`node ${node.id} ${k}=${s.metric[k]} (want ${v})`);
      }
    }
    claims.check(
      `${phase.what}: ${phase.directoryKnown ? 'directory tags (region)' : 'fallback tags from NodeName (city, country, no region)'}`,
      mine.length > 0 && problems.length === 0,
      problems.length === 0 ? `${mine.length} series checked` : problems.slice(0, 3).join('; '),
    );
  }
}
