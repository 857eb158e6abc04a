import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyTlsCode, tlsFailureOf } from '../../../src/opentsdb/tls-failure.ts';

describe('TLS failures', () => {
  it("are told apart by Node's codes", () => {
    const cases: Array<[string, string | undefined]> = [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted'],
      ['CERT_HAS_EXPIRED', 'expired'],
      ['CERT_NOT_YET_VALID', 'expired'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'name_mismatch'],
      ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client_certificate'],
      ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'client_certificate'],
      ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'client_certificate'],
      ['ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE', 'handshake'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'handshake'],
      ['ECONNREFUSED', undefined],
      ['UND_ERR_SOCKET', undefined],
    ];
    for (const [code, failure] of cases) assert.equal(classifyTlsCode(code), failure, code);
  });

  it('are found in a cause chain, described without OpenSSL source paths', () => {
    const tls = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const info = tlsFailureOf(new Error('wrapped', { cause: tls }));
    assert.equal(info?.failure, 'untrusted');
    assert.match(info?.description ?? '', /tsdb\.tls\.caRef.*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
    const altname = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: ",
      ),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    );
    assert.match(
      tlsFailureOf(altname)?.description ?? '',
      /serverName.*127\.0\.0\.1 is not in the cert's list/,
    );
    const alert = Object.assign(
      new Error('40FD:error:0A000410:SSL routines:../deps/openssl/ssl/rec_layer_s3.c:918'),
      {
        code: 'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE',
      },
    );
    assert.doesNotMatch(tlsFailureOf(alert)?.description ?? '', /deps|\.c:/);
    assert.equal(tlsFailureOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), undefined);
  });
});
