/**
 * The catchpoint area's coded errors. Their codes, messages and statuses are in the registry
 * (shared/errors.ts); these classes add what a caller needs besides the code.
 *
 * Messages are written for the person reading a 400 body or a log line. They never contain
 * credentials or access tokens, and they quote at most a short, truncated piece of the input.
 */
import { CATCHPOINT_API_ERRORS, CodedError, codesOf, type PushParseErrorCode } from '../shared/errors.ts';

export type { PushParseErrorCode };

export type CatchpointApiErrorCode = keyof typeof CATCHPOINT_API_ERRORS;

/**
 * A push the bridge cannot read. `path` names the field at fault in the push's own terms
 * ('Summary.Timestamp', 'TestDetails.TestId') or '' for the body as a whole; `message` is the
 * reason sent back to the client with the 400.
 */
export class PushParseError extends CodedError<PushParseErrorCode> {
  readonly path: string;

  constructor(code: PushParseErrorCode, path: string, message: string) {
    super(code, message);
    this.path = path;
  }
}

/**
 * An invalid template field map: a config error, found when the format is compiled (call
 * compileTemplate at config load to see it there rather than on the first push). Deliberately
 * not a TypeError, so it cannot be mistaken for a body-decoding failure.
 */
export class PushFormatError extends CodedError<'CPB_ERR_PUSH_FORMAT'> {
  readonly path: string;

  constructor(path: string, message: string) {
    super('CPB_ERR_PUSH_FORMAT', message);
    this.path = path;
  }
}

/** Invalid NodeDirectory / REST client options. */
export class CatchpointConfigError extends CodedError<'CPB_ERR_CATCHPOINT_CONFIG'> {
  constructor(message: string) {
    super('CPB_ERR_CATCHPOINT_CONFIG', message);
  }
}

/** Every code a CatchpointApiError carries, for hasCode. */
export const CATCHPOINT_API_ERROR_CODES = codesOf(CATCHPOINT_API_ERRORS);

export interface CatchpointApiErrorDetails {
  /** HTTP status of the answer that caused the error, when there was one. */
  status?: number;
  /** For 429: how long Catchpoint asked us to wait (Retry-After), in ms. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A failed call to Catchpoint's REST API. The message never holds credentials or tokens. */
export class CatchpointApiError extends CodedError<CatchpointApiErrorCode> {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: CatchpointApiErrorCode, message: string, details: CatchpointApiErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
  }
}

const QUOTE_MAX = 40;

/**
 * Describes a value for an error message without echoing much of it: strings and numbers are
 * quoted and cut to ~40 characters, containers are named, never dumped.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return `string ${quote(value)}`;
    case 'number':
      return `number ${quote(String(value))}`;
    case 'boolean':
      return `boolean ${value}`;
    case 'object':
      return Array.isArray(value) ? 'an array' : 'an object';
    default:
      return typeof value;
  }
}

/** JSON-quotes `text`, cut to ~40 characters with an ellipsis. */
export function quote(text: string): string {
  const cut = text.length > QUOTE_MAX ? `${text.slice(0, QUOTE_MAX)}…` : text;
  return JSON.stringify(cut);
}
