/**
 * Tells a failed TLS handshake from other connection errors, by the codes Node gives: OpenSSL's
 * X.509 verification results (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, ...), Node's
 * own host name check (ERR_TLS_CERT_ALTNAME_INVALID) and OpenSSL's errors and alerts from the
 * server (ERR_SSL_*). Each becomes a bounded TlsFailure for metrics and a sentence that says
 * which field of tsdb.tls to look at.
 */
import type { TlsFailure } from './errors.ts';

export interface TlsFailureInfo {
  failure: TlsFailure;
  /** Node's code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT. */
  code: string;
  /** One line, no OpenSSL source paths, no certificate content. */
  description: string;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
]);
const EXPIRED = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);
const NAME_MISMATCH = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
  'HOSTNAME_MISMATCH',
]);
/** Alerts a server sends about our certificate (or the lack of one). */
const CLIENT_CERT_ALERT =
  /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;

const DESCRIPTIONS: Record<TlsFailure, string> = {
  untrusted:
    "the server's certificate is not signed by a CA of tsdb.tls.caRef (or, without it, a public root)",
  name_mismatch: "the server's certificate does not name the endpoint's host (see tsdb.tls.serverName)",
  expired: "the server's certificate has expired or is not valid yet",
  client_certificate:
    'the server wants a client certificate it trusts (tsdb.tls.clientCertSecretRef) and did not get one',
  handshake: 'TLS handshake failed',
};

export function classifyTlsCode(code: string): TlsFailure | undefined {
  if (UNTRUSTED.has(code)) return 'untrusted';
  if (EXPIRED.has(code)) return 'expired';
  if (NAME_MISMATCH.has(code)) return 'name_mismatch';
  if (CLIENT_CERT_ALERT.test(code)) return 'client_certificate';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') return 'handshake';
  return undefined;
}

/** The TLS failure behind `err` (itself or a cause a few levels down), or undefined. */
export function tlsFailureOf(err: unknown): TlsFailureInfo | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    const failure = typeof code === 'string' ? classifyTlsCode(code) : undefined;
    if (failure !== undefined) return describeTlsFailure(failure, code as string, current as Error);
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function describeTlsFailure(failure: TlsFailure, code: string, err?: Error): TlsFailureInfo {
  let description = DESCRIPTIONS[failure];
  // Node's altname message names the host and the certificate's names: the useful part.
  if (failure === 'name_mismatch' && err?.message) description += `: ${err.message.trim()}`;
  else if (code.endsWith('ALERT_HANDSHAKE_FAILURE'))
    description += ' (a TLS 1.2 server that wants a client certificate answers this too)';
  return { failure, code, description: `${description} (${code})` };
}
