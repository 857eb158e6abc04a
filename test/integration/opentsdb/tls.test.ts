/**
 * HttpWriter over TLS against real servers: nginx (harness/nginx.ts) terminating TLS, with and
 * without client-certificate verification, in front of VictoriaMetrics; and a Node TLS server
 * that, like Go's or Envoy's, aborts the handshake when the client certificate is missing.
 * Certificates come from throwaway CAs (harness/test-pki.ts).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';
import { type HttpTlsSettings, HttpWriter } from '../../../src/opentsdb/http-writer.ts';
import { type NginxTlsProxy, startNginxTlsProxy } from '../../harness/nginx.ts';
import { createTestPki, type Pem, type TestPki } from '../../harness/test-pki.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../../harness/victoria-metrics.ts';
import { captureLogger, encodeAll, makePoints, uniquePrefix } from './support.ts';

let vm: VictoriaMetrics;
let pki: TestPki;
let nginx: NginxTlsProxy;
let ca: Pem;
let otherCa: Pem;
let client: Pem;
let strangerClient: Pem;
/** Certificate for 127.0.0.1 and localhost. */
let tlsUrl: string;
/** Certificate for tsdb.test only: connecting to 127.0.0.1 needs serverName. */
let namedUrl: string;
/** Wants a client certificate signed by `ca`. */
let mtlsUrl: string;

before(async () => {
  pki = createTestPki();
  ca = pki.ca('tsdb-ca');
  otherCa = pki.ca('other-ca');
  const server = pki.issue(ca, 'server', { dns: ['localhost'], ips: ['127.0.0.1'] });
  const named = pki.issue(ca, 'named', { dns: ['tsdb.test'] });
  client = pki.issue(ca, 'bridge', { client: true });
  strangerClient = pki.issue(otherCa, 'stranger', { client: true });
  vm = await startVictoriaMetrics();
  nginx = await startNginxTlsProxy(vm.httpPutUrl, [{ server }, { server: named }, { server, clientCa: ca }]);
  [tlsUrl, namedUrl, mtlsUrl] = nginx.urls as [string, string, string];
});
after(async () => {
  await nginx?.close();
  await vm?.close();
  pki?.close();
});

function writer(endpoint: string, tls: HttpTlsSettings) {
  const log = captureLogger();
  const w = new HttpWriter({
    endpoint,
    logger: log.logger,
    tls,
    connectTimeoutMs: 2_000,
    headersTimeoutMs: 5_000,
  });
  return { w, log };
}

async function tlsFailure(w: HttpWriter, points: string[]): Promise<RetryableWriteError> {
  try {
    await w.write(points);
  } catch (err) {
    assert.ok(err instanceof RetryableWriteError, String(err));
    assert.equal(err.code, 'CPB_ERR_TSDB_TLS', err.message);
    return err;
  }
  assert.fail('the write succeeded');
}

describe('HttpWriter over TLS', () => {
  it('with the right CA the points are written and read back from VictoriaMetrics', async () => {
    const prefix = uniquePrefix('tls_ok');
    const { w } = writer(tlsUrl, { ca: ca.cert });
    assert.deepEqual(await w.write(encodeAll(makePoints(prefix, 300))), { written: 300, rejected: [] });
    await w.close();
    await vm.waitForPoints(`${prefix}[.].*`, 300);
  });

  it('with another CA, or none, the handshake fails as untrusted, retryably, and names no secret', async () => {
    for (const tls of [{ ca: otherCa.cert }, {}]) {
      const { w, log } = writer(tlsUrl, tls);
      const err = await tlsFailure(w, encodeAll(makePoints(uniquePrefix('tls_bad_ca'), 5)));
      assert.equal(err.tlsFailure, 'untrusted');
      assert.equal(err.retryable, true);
      assert.match(err.message, /^https:\/\/127\.0\.0\.1:\d+: TLS: .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
      await w.close();
      assert.doesNotMatch(log.text() + err.message, /BEGIN|PRIVATE/);
    }
  });

  it('a certificate for another name needs serverName, which then works', async () => {
    const points = encodeAll(makePoints(uniquePrefix('tls_named'), 10));
    const plain = writer(namedUrl, { ca: ca.cert }).w;
    const err = await tlsFailure(plain, points);
    assert.equal(err.tlsFailure, 'name_mismatch');
    assert.match(
      err.message,
      /serverName.*127\.0\.0\.1 is not in the cert's list.*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    await plain.close();
    const named = writer(namedUrl, { ca: ca.cert, servername: 'tsdb.test' }).w;
    assert.equal((await named.write(points)).written, 10);
    await named.close();
  });

  it('mutual TLS: written with the client certificate; without it, or with a stranger one, a clear TLS error', async () => {
    const prefix = uniquePrefix('tls_mtls');
    const points = encodeAll(makePoints(prefix, 50));
    for (const tls of [
      { ca: ca.cert },
      { ca: ca.cert, cert: strangerClient.cert, key: strangerClient.key },
    ]) {
      const { w } = writer(mtlsUrl, tls);
      const err = await tlsFailure(w, points);
      assert.equal(err.tlsFailure, 'client_certificate');
      // nginx answers 400 "No required SSL certificate was sent" / "The SSL certificate error".
      assert.match(err.message, /SSL certificate/);
      await w.close();
    }
    const { w } = writer(mtlsUrl, { ca: ca.cert, cert: client.cert, key: client.key });
    assert.equal((await w.write(points)).written, 50);
    await w.close();
    await vm.waitForPoints(`${prefix}[.].*`, 50);
  });

  it('a server that aborts the handshake without a client certificate (TLS 1.3 alert) is a TLS error too', async () => {
    const server = pki.issue(ca, 'strict', { ips: ['127.0.0.1'] });
    const strict: Server = createServer(
      { key: server.key, cert: server.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
      (_req, res) => {
        res.writeHead(204);
        res.end();
      },
    );
    await new Promise<void>((resolve) => strict.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(strict.address() as { port: number }).port}`;
    try {
      const points = encodeAll(makePoints(uniquePrefix('tls_strict'), 3));
      const without = writer(url, { ca: ca.cert }).w;
      const err = await tlsFailure(without, points);
      assert.equal(err.tlsFailure, 'client_certificate');
      assert.match(err.message, /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED/);
      await without.close();
      const withCert = writer(url, { ca: ca.cert, cert: client.cert, key: client.key }).w;
      assert.equal((await withCert.write(points)).written, 3);
      await withCert.close();
    } finally {
      strict.closeAllConnections();
      await new Promise((resolve) => strict.close(resolve));
    }
  });
});
