/**
 * The OpenTSDB writers' coded errors. Their codes, messages and statuses are in the registry
 * (shared/errors.ts); these classes add what the delivery loop needs: whether to send the batch
 * again, the endpoint, the TSDB's status and Retry-After, and what a TLS failure was about.
 */
import { CodedError, type TSDB_ERRORS } from '../shared/errors.ts';

export type TsdbErrorCode = keyof typeof TSDB_ERRORS;

/**
 * What a TLS handshake failure was about (tls-failure.ts): `untrusted` (no CA of the bundle signed
 * it), `name_mismatch` (the certificate does not name the host: tsdb.tls.serverName),
 * `expired` (or not yet valid), `client_certificate` (the server wants one, or refused ours),
 * `handshake` (anything else: protocol versions, ciphers, plain HTTP on the port).
 */
export type TlsFailure = 'untrusted' | 'name_mismatch' | 'expired' | 'client_certificate' | 'handshake';

export interface RetryableWriteErrorOptions {
  cause?: unknown;
  /** Redacted endpoint (never carries credentials). */
  endpoint?: string;
  /** HTTP status when the TSDB answered. */
  status?: number;
  /** A hint from the writer: do not try this endpoint again before this many ms. */
  retryAfterMs?: number;
  /** With code TLS: what failed, a bounded label for metrics. */
  tlsFailure?: TlsFailure;
}

/**
 * Nothing of the batch may be counted as delivered: send it again later (possibly elsewhere).
 * Some points may in fact have been stored (a request that succeeded before a later one
 * failed, or bytes a telnet peer read before dying); OpenTSDB treats byte-identical rewrites as
 * idempotent, so a resend is at-least-once, never lossy.
 */
export class RetryableWriteError extends CodedError<TsdbErrorCode> {
  readonly retryable = true as const;
  readonly endpoint: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly tlsFailure: TlsFailure | undefined;

  constructor(code: TsdbErrorCode, message: string, options: RetryableWriteErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.endpoint = options.endpoint;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.tlsFailure = options.tlsFailure;
  }
}

/** A configuration error: retrying cannot help. */
export class TsdbConfigError extends CodedError<'CPB_ERR_TSDB_BAD_ENDPOINT'> {
  readonly retryable = false as const;
  constructor(message: string, options?: ErrorOptions) {
    super('CPB_ERR_TSDB_BAD_ENDPOINT', message, options);
  }
}

/** True for any error a writer threw that means "send this batch again later". */
export function isRetryableWriteError(err: unknown): err is RetryableWriteError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { retryable?: unknown }).retryable === true &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}
