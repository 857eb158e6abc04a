/**
 * 15. The TSDB's certificate is not signed by the CA the bridge trusts (issue 15). nginx
 * terminates TLS in front of VictoriaMetrics with a certificate from one CA; the standalone bridge
 * is configured with tsdb.tls.caRef naming a Secret file that holds another CA. Under 100
 * pushes/s: every push is still acknowledged (spooled); every write fails verification and nothing
 * reaches the TSDB; the failure is reported where a standalone bridge reports it:
 * catchpoint_bridge_tsdb_tls_errors_total{reason="untrusted"} and a warning log line with code
 * CPB_ERR_TSDB_TLS naming the endpoint (without credentials) and the caRef (in a cluster the same
 * report goes to status.bridge.tsdbError, test/integration/bridge/tls.test.ts). Then the right CA
 * is written to the same Secret file while pushes go on: the bridge reloads it live (same process),
 * delivers everything, and the TLS errors stop. Time to recover: right CA written → every point
 * acknowledged under the wrong CA visible.
 *
 * Needs nginx (scripts/setup.sh installs nginx-light); without it the row is SKIPPED, loudly.
 */
import { existsSync } from 'node:fs';
import { NGINX_BINARY, type NginxTlsProxy, startNginxTlsProxy } from '../../harness/nginx.ts';
import { runPushStream } from '../../harness/push-stream.ts';
import { createTestPki } from '../../harness/test-pki.ts';
import { type FaultContext, pushSecrets, pushSpec } from '../lib/context.ts';
import { failureSummary, isAlive, logEntries, scrape, until, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row, skippedRow } from '../lib/report.ts';

const ID = '15';
const SCENARIO = 'TSDB certificate from another CA than tsdb.tls.caRef; right CA written live';
const RATE = 100;
const WRONG_CA_MS = 4000;
const AFTER_FIX_MS = 3000;
const TEST_ID = 15_001;

export async function wrongTsdbCa(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  if (!existsSync(NGINX_BINARY)) {
    const reason = `no ${NGINX_BINARY}: install nginx-light (scripts/setup.sh does)`;
    ctx.progress(`!!! ${ID}: SKIPPED, ${reason} !!!`);
    return skippedRow(ID, SCENARIO, reason, startedAt);
  }
  const pki = createTestPki();
  let nginx: NginxTlsProxy | undefined;
  try {
    const ca = pki.ca('tsdb-ca');
    const wrongCa = pki.ca('other-ca');
    nginx = await startNginxTlsProxy(ctx.vm.httpPutUrl, [
      { server: pki.issue(ca, 'tsdb', { ips: ['127.0.0.1'] }) },
    ]);
    return await run(ctx, nginx.urls[0]!, ca.cert, wrongCa.cert, startedAt);
  } finally {
    await nginx?.close();
    pki.close();
  }
}

async function run(
  ctx: FaultContext,
  endpoint: string,
  rightCa: string,
  wrongCa: string,
  startedAt: number,
): Promise<Row> {
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret(`push token ${ID}`);
  const password = ctx.tsdbPassword(ID);
  const bridge = await ctx.startBridge(ID, {
    spec: pushSpec(ctx, {
      prefix: 'f15',
      endpoint,
      tsdbExtra: { tls: { caRef: { secretName: 'tsdb-ca', key: 'ca.crt' } } },
    }),
    secrets: { ...pushSecrets(token, password), 'tsdb-ca': { 'ca.crt': wrongCa } },
  });
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const regex = `f15[.]rtt[.]by_node[.]${TEST_ID}`;

  const base = Date.now() - 3_600_000;
  const stream = (durationMs: number, startMs: number) =>
    runPushStream({
      url: () => `${bridge.url}/push/${token}`,
      ratePerSecond: RATE,
      durationMs,
      testId: TEST_ID,
      nodes,
      startMs,
    });

  const rowsBefore = await vm.rowsInserted('opentsdbhttp');
  ctx.progress(`${ID}: ${RATE} pushes/s to a bridge that trusts the wrong CA`);
  const wrongPhase = await stream(WRONG_CA_MS, base);
  const wrong = await scrape(bridge.url);
  // Counted, not queried: VictoriaMetrics caches a query's empty answer for series that do not
  // exist yet (tag-filter cache) for several seconds, which would delay seeing the delivery.
  const writtenWhileWrong = (await vm.rowsInserted('opentsdbhttp')) - rowsBefore;
  const untrusted = wrong.value('catchpoint_bridge_tsdb_tls_errors_total', { reason: 'untrusted' });
  const tlsWhileWrong = wrong.value('catchpoint_bridge_tsdb_tls_errors_total');

  await bridge.writeSecret('tsdb-ca', 'ca.crt', rightCa);
  const fixedAt = Date.now();
  ctx.progress(`${ID}: the right CA written to the Secret file; pushing on`);
  // TLS errors as of the first successful write: none may follow.
  let tlsAtReload = Number.NaN;
  let reloadedAt: number | undefined;
  const [fixedPhase, recovered] = await Promise.all([
    stream(AFTER_FIX_MS, base + 1_000_000),
    (async () => {
      reloadedAt = await until(async () => {
        const m = await scrape(bridge.url);
        if (m.value('catchpoint_bridge_datapoints_written_total') === 0) return false;
        tlsAtReload = m.value('catchpoint_bridge_tsdb_tls_errors_total');
        return true;
      }, 20_000);
      // Queried only once something was written (see above).
      return waitForDelivery(vm, regex, wrongPhase.acknowledged, 30_000);
    })(),
  ]);
  const acked = [...wrongPhase.acknowledged, ...fixedPhase.acknowledged];
  const result = {
    sent: wrongPhase.sent + fixedPhase.sent,
    refused: wrongPhase.refused + fixedPhase.refused,
    failures: new Map([...wrongPhase.failures, ...fixedPhase.failures]),
  };
  const { count, completeAt } = await waitForDelivery(vm, regex, acked, 30_000);
  const drainedAt = await until(
    async () => (await scrape(bridge.url)).value('catchpoint_bridge_spool_bytes') === 0,
    10_000,
  );
  const after = await scrape(bridge.url);
  const tlsAfter = after.value('catchpoint_bridge_tsdb_tls_errors_total');
  const entries = logEntries(bridge.logs);
  // Delivery's line (at most one per 10 s) carries the reason; the writer's names the cause once.
  const warning = entries.find(
    (e) => e.code === 'CPB_ERR_TSDB_TLS' && e.level === 'warn' && e.component === 'delivery',
  );
  const writerWarning = entries.find(
    (e) => e.code === 'CPB_ERR_TSDB_TLS' && e.level === 'warn' && e.component === 'tsdb',
  );
  const tlsLines = entries.filter((e) => e.code === 'CPB_ERR_TSDB_TLS').map((e) => JSON.stringify(e));
  const applied = entries.find(
    (e) => e.msg === 'config generation applied' && Date.parse(String(e.time)) >= fixedAt,
  );
  const alive = isAlive(bridge.pid);

  claims.check(
    'every push is acknowledged (spooled) while the TSDB cannot be verified',
    result.refused === 0 && result.sent > 0,
    `${wrongPhase.acknowledged.length}/${wrongPhase.sent} × 200 with the wrong CA, ${fixedPhase.acknowledged.length}/${fixedPhase.sent} after the fix; others: ${failureSummary(result.failures)}`,
  );
  claims.check(
    'nothing reaches the TSDB while the CA is wrong, and the points wait in the spool',
    writtenWhileWrong === 0 &&
      wrong.value('catchpoint_bridge_datapoints_written_total') === 0 &&
      wrong.value('catchpoint_bridge_spool_bytes') > 0,
    `VictoriaMetrics received ${writtenWhileWrong} rows, datapoints_written_total ${wrong.value('catchpoint_bridge_datapoints_written_total')}, spool_bytes ${wrong.value('catchpoint_bridge_spool_bytes')} after ${WRONG_CA_MS / 1000} s`,
  );
  claims.check(
    'the failure is counted: catchpoint_bridge_tsdb_tls_errors_total{reason="untrusted"} > 0',
    untrusted > 0 && untrusted === tlsWhileWrong,
    `untrusted ${untrusted} of ${tlsWhileWrong} TLS errors after ${WRONG_CA_MS / 1000} s`,
  );
  claims.check(
    'the failure is logged (warn, CPB_ERR_TSDB_TLS) naming the endpoint without credentials and tsdb.tls.caRef',
    warning !== undefined &&
      String(warning.endpoint).startsWith(endpoint) &&
      /caRef/.test(String(warning.error)) &&
      tlsLines.every((l) => !l.includes(password) && !l.includes('BEGIN') && !l.includes('@127.0.0.1')),
    warning === undefined
      ? 'no delivery warning with code CPB_ERR_TSDB_TLS'
      : `"${String(warning.msg)}": endpoint ${String(warning.endpoint)}; ${String(warning.error).slice(0, 300)}` +
          (writerWarning === undefined
            ? ''
            : `; writer: "${String(writerWarning.msg)}", cause ${String(writerWarning.cause)}`) +
          `; ${tlsLines.length} line(s) with the code, none with the password or PEM material`,
  );
  claims.check(
    'the right CA written to the Secret file is picked up live: same process, a new config generation, writes succeed',
    reloadedAt !== undefined && alive && applied !== undefined,
    reloadedAt === undefined
      ? 'nothing written within 20 s of the fix'
      : `config generation ${String(applied?.generation ?? '—')} applied ${applied === undefined ? '—' : formatMs(Date.parse(String(applied.time)) - fixedAt)} and the first datapoint written ${formatMs(reloadedAt - fixedAt)} after the Secret file changed; pid ${bridge.pid} alive: ${alive}`,
  );
  claims.check(
    'nothing acknowledged is lost',
    count.lost === 0 && completeAt !== undefined && recovered.completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} acknowledged points visible: the ${wrongPhase.acknowledged.length} spooled under the wrong CA ${formatMs((recovered.completeAt ?? fixedAt) - fixedAt)} after the right CA was written`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  claims.check(
    'the TSDB rejects nothing, the spool drains, and the TLS errors stop',
    after.value('catchpoint_bridge_datapoints_rejected_total') === 0 &&
      drainedAt !== undefined &&
      tlsAfter === tlsAtReload,
    `datapoints_rejected_total ${after.value('catchpoint_bridge_datapoints_rejected_total')}; spool_bytes ${after.value('catchpoint_bridge_spool_bytes')}; TLS errors ${tlsWhileWrong} after ${WRONG_CA_MS / 1000} s, ${tlsAtReload} at the first successful write, ${tlsAfter} at the end`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'duplicates only from re-sent batches (at-least-once)',
    count.duplicated <= retried,
    `${count.duplicated} duplicated ≤ ${retried} datapoints re-sent`,
  );
  return makeRow(
    {
      id: ID,
      scenario: SCENARIO,
      sent: result.sent,
      acknowledged: acked.length,
      refused: result.refused,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: recovered.completeAt === undefined ? null : recovered.completeAt - fixedAt,
      recoverWhat:
        'right CA written to the Secret file → every point acknowledged under the wrong CA visible',
      notes: [
        `${RATE} pushes/s: ${WRONG_CA_MS / 1000} s with the wrong CA, ${AFTER_FIX_MS / 1000} s after the fix; nginx (TLS) in front of VictoriaMetrics, basic auth over TLS`,
        'the Secret directory is polled every second; delivery retries with backoff capped at 5 s, which bounds the time to recover',
      ],
    },
    claims,
    startedAt,
  );
}
