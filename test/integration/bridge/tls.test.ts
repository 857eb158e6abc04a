/**
 * TLS to the TSDB through the whole bridge, as it runs standalone: a manifest and a Secret
 * directory read by FileConfigSource (the CA bundle as a ConfigMap from the same directory), the
 * Bridge, and nginx requiring a client certificate in front of a real VictoriaMetrics. A wrong CA
 * or client certificate is reported (metric, status.bridge report, no secret material) while the
 * spool keeps every point; fixing the Secret or ConfigMap (same spec, new data) rebuilds the
 * writer live and every acknowledged point arrives.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bridge } from '../../../src/bridge/bridge.ts';
import type { ResolvedConfig } from '../../../src/bridge/config.ts';
import { FileConfigSource } from '../../../src/bridge/file-config-source.ts';
import { bridgeReport } from '../../../src/bridge/status-reporter.ts';
import { manifest } from '../../harness/bridge-process.ts';
import { type NginxTlsProxy, startNginxTlsProxy } from '../../harness/nginx.ts';
import { pushBody } from '../../harness/push-stream.ts';
import { createTestPki, type TestPki } from '../../harness/test-pki.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';
import { captureLogger } from '../opentsdb/support.ts';

const PASSWORD = 'hunter2-basic-auth-password';
const PREFIX = 'tlsbridge';
const TEST_ID = 7301;

let vm: VictoriaMetrics;
let pki: TestPki;
let nginx: NginxTlsProxy;
let dir: string;

before(async () => {
  pki = createTestPki();
  vm = await startVictoriaMetrics();
  dir = await mkdtemp(join(tmpdir(), 'cpb-tls-bridge-'));
});
after(async () => {
  await nginx?.close();
  await vm?.close();
  pki?.close();
  await rm(dir, { recursive: true, force: true });
});

async function writeKey(object: string, key: string, value: string): Promise<void> {
  await mkdir(join(dir, 'secrets', object), { recursive: true });
  await writeFile(join(dir, 'secrets', object, key), value);
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('tls', () => {
  it('a wrong CA or client certificate is reported and loses nothing; the fixed Secret applies live', async () => {
    const ca = pki.ca('tsdb-ca');
    const wrongCa = pki.ca('wrong-ca');
    const server = pki.issue(ca, 'tsdb', { ips: ['127.0.0.1'] });
    const client = pki.issue(ca, 'bridge', { client: true });
    const renewed = pki.issue(ca, 'bridge-renewed', { client: true });
    const stranger = pki.issue(wrongCa, 'stranger', { client: true });
    nginx = await startNginxTlsProxy(vm.httpPutUrl, [{ server, clientCa: ca }]);
    const endpoint = nginx.urls[0] as string;
    const withCredentials = endpoint.replace('https://', `https://bridge:${PASSWORD}@`);

    // Start with a CA bundle that did not sign the server's certificate.
    await writeKey('cp', 'apiKey', 'k');
    await writeKey('tsdb-ca', 'ca.crt', wrongCa.cert);
    await writeKey('tsdb-client', 'tls.crt', client.cert);
    await writeKey('tsdb-client', 'tls.key', client.key);
    const configFile = join(dir, 'bridge.yaml');
    await writeFile(
      configFile,
      manifest('tls', {
        catchpoint: { baseURL: 'http://127.0.0.1:9', credentialsSecretRef: { name: 'cp' } },
        dimensions: ['node'],
        measurements: ['rtt'],
        naming: { prefix: PREFIX },
        tsdb: {
          endpoints: [withCredentials],
          batchMaxDelay: '20ms',
          timeout: '2s',
          tls: { caRef: { configMapName: 'tsdb-ca' }, clientCertSecretRef: { name: 'tsdb-client' } },
        },
      }),
    );

    const log = captureLogger();
    const refused: Error[] = [];
    const source = new FileConfigSource({ configFile, secretsDir: join(dir, 'secrets'), pollMs: 100 });
    const ref: { bridge?: Bridge } = {};
    const first = await source.start(
      (config: ResolvedConfig) => ref.bridge?.apply(config),
      (err) => refused.push(err),
    );
    const bridge = await Bridge.create(first, {
      spoolDir: join(dir, 'spool'),
      logger: log.logger,
      processMetrics: false,
    });
    ref.bridge = bridge;
    bridge.start();

    let sent = 0;
    const push = async (n: number) => {
      for (let i = 0; i < n; i++, sent++) {
        const body = pushBody({
          testId: TEST_ID,
          nodeId: 312,
          nodeName: 'New York - Level3',
          asn: 3356,
          timestampMs: Date.UTC(2024, 0, 1) + sent * 60_000,
          totalMs: 10 + sent,
        });
        // No push token configured here: a push without one is taken.
        const result = await bridge.acceptPush({
          token: undefined,
          body: Buffer.from(body),
          noTokenReason: '',
        });
        assert.equal(result.status, 200, result.reason);
        assert.equal(result.datapoints, 1);
      }
    };
    const tlsErrors = async (reason: string) => {
      const text = await bridge.metrics.registry.metrics();
      const line = text
        .split('\n')
        .find((l) =>
          l.startsWith(`catchpoint_bridge_tsdb_tls_errors_total{endpoint="${endpoint}",reason="${reason}"}`),
        );
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const delivered = async (count: number) => {
      const series = await vm.waitForPoints(`${PREFIX}[.]rtt[.]by_node[.]${TEST_ID}`, count, 30_000);
      const timestamps = series.flatMap((s) => s.timestamps);
      assert.equal(new Set(timestamps).size, count, 'every acknowledged point, once');
    };
    const noSecrets = (text: string) => {
      for (const secret of [PASSWORD, 'BEGIN', 'PRIVATE KEY', client.key.split('\n')[1] as string])
        assert.ok(!text.includes(secret), `no secret material (${secret.slice(0, 12)}...)`);
    };

    try {
      // 1. Wrong CA: refused, reported, spooled.
      await push(20);
      const report = await until('the TLS error in the report', () => {
        const r = bridgeReport(bridge);
        return r.tsdbError?.code === 'CPB_ERR_TSDB_TLS' ? r : undefined;
      });
      assert.equal(report.tsdbError?.endpoint, endpoint, 'the endpoint without its credentials');
      assert.match(
        report.tsdbError?.message ?? '',
        /not signed by a CA of tsdb\.tls\.caRef.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
      );
      assert.match(report.tsdbError?.since ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      noSecrets(JSON.stringify(report));
      assert.ok((await tlsErrors('untrusted')) > 0);
      assert.ok(bridge.spoolBytes > 0, 'the points wait in the spool');

      // 2. The right CA in the same ConfigMap key: the writer is rebuilt, everything arrives.
      await writeKey('tsdb-ca', 'ca.crt', ca.cert);
      await delivered(20);
      await until('the report to clear', () =>
        bridgeReport(bridge).tsdbError === undefined ? true : undefined,
      );

      // 3. A client certificate the server's CA did not sign: nginx refuses it.
      await writeKey('tsdb-client', 'tls.crt', stranger.cert);
      await writeKey('tsdb-client', 'tls.key', stranger.key);
      await until('the new client certificate', () =>
        bridge.config.tsdbTls?.cert === stranger.cert.trim() ? true : undefined,
      );
      await push(15);
      const refusedCert = await until('the client certificate error', () => {
        const e = bridgeReport(bridge).tsdbError;
        return e?.code === 'CPB_ERR_TSDB_TLS' ? e : undefined;
      });
      assert.match(refusedCert.message, /SSL certificate/);
      assert.ok((await tlsErrors('client_certificate')) > 0);

      // 4. A bundle that is no PEM is refused as a config; the running one stays.
      await writeKey('tsdb-ca', 'ca.crt', 'not a certificate');
      const bad = await until('the refused config', () =>
        refused.find((e) => /holds no PEM/.test(e.message)),
      );
      assert.equal((bad as { code?: string }).code, 'CPB_ERR_TLS_MATERIAL');
      assert.match(bad.message, /ConfigMap tsdb-ca, key ca\.crt\) holds no PEM certificate/);
      await writeKey('tsdb-ca', 'ca.crt', ca.cert);

      // 5. A renewed certificate from the right CA: the 15 waiting points and new ones arrive.
      await writeKey('tsdb-client', 'tls.crt', renewed.cert);
      await writeKey('tsdb-client', 'tls.key', renewed.key);
      await push(5);
      await delivered(40);
      await until('the report to clear', () =>
        bridgeReport(bridge).tsdbError === undefined ? true : undefined,
      );
      noSecrets(log.text());
    } finally {
      await source.stop();
      await bridge.close(1_000);
    }
  });
});
