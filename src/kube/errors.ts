/**
 * Errors of the Kubernetes layer, and helpers that classify any error a Kubernetes call can throw:
 * our own coded errors (from request.ts), client-node's `ApiException` (typed API clients) and the
 * plain `Error` with `.statusCode` that client-node's `Watch` reports.
 *
 * Codes and their meaning are in the registry (shared/errors.ts). Callers match on `err.code`
 * (hasCode) or on the HTTP status (the `is*` helpers), never on the class.
 *
 * Safety: client-node's ApiException message embeds the raw response body and headers, and a body
 * can be a Secret. Log errors only through describeKubeError(), which never copies either.
 */
import { CodedError, hasCode, type KUBE_ERRORS } from '../shared/errors.ts';

export type KubeErrorCode = keyof typeof KUBE_ERRORS;

/** The longest API-server message we keep; validation messages of big objects can be huge. */
const MAX_MESSAGE_CHARS = 1024;

/** A `metav1.Status` as the API server returns it with an error status. */
export interface KubeStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: { name?: string; group?: string; kind?: string; retryAfterSeconds?: number };
}

export class KubeError<C extends KubeErrorCode = KubeErrorCode> extends CodedError<C> {}

export interface KubeApiErrorInit {
  statusCode: number;
  /** `METHOD /path` of the request (no query string: it may carry continue tokens). */
  request: string;
  status?: KubeStatus | undefined;
  retryAfterMs?: number | undefined;
}

/** The API server answered with a non-2xx status. The message holds the server's Status message only. */
export class KubeApiError extends KubeError<'CPB_ERR_KUBE_API'> {
  /** The API server's HTTP status. */
  override readonly statusCode: number;
  /** `metav1.Status.reason`: NotFound, Conflict, AlreadyExists, Expired, Forbidden, Invalid, ... */
  readonly reason: string | undefined;
  /** The server's own message (truncated), without our request prefix. */
  readonly serverMessage: string;
  /** From Retry-After or Status.details.retryAfterSeconds (429 and some 5xx). */
  readonly retryAfterMs: number | undefined;

  constructor(init: KubeApiErrorInit) {
    const serverMessage = truncate(init.status?.message ?? `HTTP ${init.statusCode}`);
    const reason = init.status?.reason || undefined;
    super(
      'CPB_ERR_KUBE_API',
      `${init.request}: ${init.statusCode}${reason ? ` ${reason}` : ''}: ${serverMessage}`,
    );
    this.statusCode = init.statusCode;
    this.reason = reason;
    this.serverMessage = serverMessage;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/**
 * The HTTP status behind an error, for our errors, client-node's ApiException (`code: number`)
 * and client-node Watch errors (`statusCode`). Network errors have none (their `code` is a string).
 * A watch ERROR event is turned into a KubeApiError by the informer, so it is covered too.
 */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { statusCode: status, code } = err as { statusCode?: unknown; code?: unknown };
  if (typeof status === 'number') return status;
  if (typeof code === 'number') return code;
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
/** 410 Gone: a watch or continue token resourceVersion is too old; relist from scratch. */
export const isGone = (err: unknown): boolean => statusCode(err) === 410;
export const isForbidden = (err: unknown): boolean => statusCode(err) === 403;

export interface KubeErrorDescription {
  /** HTTP status, when the API server answered. */
  code?: number;
  /** `metav1.Status.reason`, or our error code / the network error code when there was no answer. */
  reason?: string;
  message: string;
}

/**
 * A log-safe summary of any error from a Kubernetes call. Built from the parsed Status message
 * only: never the raw body or headers (Secret data, tokens), never client-node's ApiException
 * message (which embeds both).
 */
export function describeKubeError(err: unknown): KubeErrorDescription {
  if (isCodedApiError(err)) {
    const e = err as KubeApiError;
    return withReason({ code: e.statusCode, message: e.serverMessage }, e.reason);
  }
  const status = statusCode(err);
  if (status !== undefined && isApiException(err)) {
    const parsed = parseStatus((err as { body?: unknown }).body);
    return withReason(
      { code: status, message: truncate(parsed?.message ?? `HTTP ${status}`) },
      parsed?.reason,
    );
  }
  if (typeof err === 'object' && err !== null) {
    const { code, message, cause } = err as { code?: unknown; message?: unknown; cause?: unknown };
    const text = truncate(typeof message === 'string' ? message : String(err));
    if (status !== undefined) return { code: status, message: text };
    const causeCode =
      typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
    const reason = typeof code === 'string' ? code : typeof causeCode === 'string' ? causeCode : undefined;
    return withReason({ message: text }, reason);
  }
  return { message: truncate(String(err)) };
}

/** Reads a Status from a response body (string or already parsed); undefined if it is not one. */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, code, reason, message, details } = value as Record<string, unknown>;
  if (kind !== undefined && kind !== 'Status') return undefined;
  return {
    ...(typeof kind === 'string' ? { kind } : {}),
    ...(typeof code === 'number' ? { code } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof details === 'object' && details !== null ? { details: details as KubeStatus['details'] } : {}),
  };
}

function isCodedApiError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    hasCode(err, 'CPB_ERR_KUBE_API') &&
    typeof (err as { statusCode?: unknown }).statusCode === 'number'
  );
}

/** client-node's ApiException: numeric `code` plus `body` and `headers` (which we must not log). */
function isApiException(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'body' in err
  );
}

function withReason(description: KubeErrorDescription, reason: string | undefined): KubeErrorDescription {
  return reason ? { ...description, reason } : description;
}

function truncate(text: string): string {
  return text.length <= MAX_MESSAGE_CHARS ? text : `${text.slice(0, MAX_MESSAGE_CHARS)}…`;
}
