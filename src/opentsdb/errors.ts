/**
 * Coded errors of the OpenTSDB writers. Callers match on `err.code` (undici's advice: there may
 * be more than one copy of a module loaded, so `instanceof` is a convenience, not the contract).
 * Codes are stable and never reused; test/unit/opentsdb/errors.test.ts pins the list.
 */

/** Every code a writer may throw, with what it means for the caller. */
export const TsdbErrorCodes = {
  /** Connection refused/reset/closed, timeout, 5xx or 429: the TSDB cannot take data now. */
  UNAVAILABLE: 'CPB_ERR_TSDB_UNAVAILABLE',
  /**
   * The TLS handshake with an https endpoint failed: its certificate is not trusted or does not
   * name the host, or it wants a client certificate. Retried: fixing a Secret needs no restart.
   */
  TLS: 'CPB_ERR_TSDB_TLS',
  /** The TSDB answered with a status that means misconfiguration (401, 403, 404, 405, ...). */
  HTTP_STATUS: 'CPB_ERR_TSDB_HTTP_STATUS',
  /** The TSDB accepted the request but reported storage-side failures (throttle, HBase, sync timeout). */
  STORAGE: 'CPB_ERR_TSDB_STORAGE',
  /** The caller's AbortSignal fired before the batch settled. */
  ABORTED: 'CPB_ERR_TSDB_ABORTED',
  /** write() was called on a writer that is closed or closing. */
  CLOSED: 'CPB_ERR_TSDB_WRITER_CLOSED',
  /** The file writer could not append or fsync. */
  FILE_IO: 'CPB_ERR_TSDB_FILE_IO',
  /** Every endpoint of a failover writer failed for this batch. */
  ALL_ENDPOINTS_FAILED: 'CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED',
  /** The endpoint URL or writer options are invalid (not retryable: a configuration error). */
  BAD_ENDPOINT: 'CPB_ERR_TSDB_BAD_ENDPOINT',
} as const;

export type TsdbErrorCode = (typeof TsdbErrorCodes)[keyof typeof TsdbErrorCodes];

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
export class RetryableWriteError extends Error {
  override name = 'RetryableWriteError';
  readonly code: TsdbErrorCode;
  readonly retryable = true as const;
  readonly endpoint: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly tlsFailure: TlsFailure | undefined;

  constructor(code: TsdbErrorCode, message: string, options: RetryableWriteErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.endpoint = options.endpoint;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.tlsFailure = options.tlsFailure;
  }
}

/** A configuration error: retrying cannot help. */
export class TsdbConfigError extends Error {
  override name = 'TsdbConfigError';
  readonly code = TsdbErrorCodes.BAD_ENDPOINT;
  readonly retryable = false as const;
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

/** The `code` of a Node/undici error (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, ...), if any. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
