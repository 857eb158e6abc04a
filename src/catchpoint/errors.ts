/**
 * Coded errors of the catchpoint area. Callers match on `err.code` (never on `instanceof`, the
 * way undici asks), and codes are never reused for another meaning.
 *
 * Messages are written for the person reading a 400 body or a log line. They never contain
 * credentials or access tokens, and they quote at most a short, truncated piece of the input.
 */

/** Every code this area throws, with one line on what it means. */
export const CATCHPOINT_ERROR_CODES = {
  // Push parsing: the push is answered with 400 and the reason. Only the fields that identify a
  // run refuse it; optional ones in an unexpected shape are left out (push.ts, `dropped`).
  CPB_ERR_PUSH_EMPTY: 'The push body is empty.',
  CPB_ERR_PUSH_NOT_JSON: 'The push body is not valid JSON.',
  CPB_ERR_PUSH_NOT_OBJECT: 'The push body is JSON but not one object (an array or a scalar).',
  CPB_ERR_PUSH_FIELD_MISSING: 'A required field (TestId, NodeId, timestamp) is absent or empty.',
  CPB_ERR_PUSH_FIELD_TYPE: 'A required field has the wrong type (e.g. TestId is not an integer).',
  CPB_ERR_PUSH_FIELD_RANGE: 'A numeric field is out of range (e.g. TestId is 0 or beyond 2^53-1).',
  CPB_ERR_PUSH_TIMESTAMP:
    'The run timestamp is malformed: wrong length, not digits, not a real date, or ISO 8601 without a zone.',
  // Configuration of the push format (a template field map), found when the config loads.
  CPB_ERR_PUSH_FORMAT: 'The template field map is invalid (e.g. an empty path segment).',
  // Catchpoint REST API (node directory).
  CPB_ERR_CATCHPOINT_CONFIG:
    'The node directory options are invalid (e.g. v1 without clientId/clientSecret).',
  CPB_ERR_CATCHPOINT_AUTH:
    'Catchpoint refused the credentials (401/403): wrong key, secret, or IP not allowed.',
  CPB_ERR_CATCHPOINT_RATE_LIMITED: 'Catchpoint kept answering 429 after the allowed number of retries.',
  CPB_ERR_CATCHPOINT_UNAVAILABLE: 'Catchpoint could not be reached, timed out, or answered 5xx.',
  CPB_ERR_CATCHPOINT_BAD_RESPONSE: 'Catchpoint answered with a body the client does not understand.',
  CPB_ERR_CATCHPOINT_EMPTY_LIST: 'Catchpoint returned no nodes; the previous directory is kept.',
  CPB_ERR_CATCHPOINT_INTERNAL: 'An unexpected error (a bug) while refreshing the node directory.',
} as const;

export type CatchpointErrorCode = keyof typeof CATCHPOINT_ERROR_CODES;

export type PushParseErrorCode =
  | 'CPB_ERR_PUSH_EMPTY'
  | 'CPB_ERR_PUSH_NOT_JSON'
  | 'CPB_ERR_PUSH_NOT_OBJECT'
  | 'CPB_ERR_PUSH_FIELD_MISSING'
  | 'CPB_ERR_PUSH_FIELD_TYPE'
  | 'CPB_ERR_PUSH_FIELD_RANGE'
  | 'CPB_ERR_PUSH_TIMESTAMP';

export type CatchpointApiErrorCode =
  | 'CPB_ERR_CATCHPOINT_AUTH'
  | 'CPB_ERR_CATCHPOINT_RATE_LIMITED'
  | 'CPB_ERR_CATCHPOINT_UNAVAILABLE'
  | 'CPB_ERR_CATCHPOINT_BAD_RESPONSE'
  | 'CPB_ERR_CATCHPOINT_EMPTY_LIST';

/**
 * A push the bridge cannot read. `path` names the field at fault in the push's own terms
 * ('Summary.Timestamp', 'TestDetails.TestId') or '' for the body as a whole; `message` is the
 * reason sent back to the client with the 400.
 */
export class PushParseError extends Error {
  override readonly name = 'PushParseError';
  readonly code: PushParseErrorCode;
  readonly path: string;
  readonly statusCode = 400;

  constructor(code: PushParseErrorCode, path: string, message: string) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

/**
 * An invalid template field map: a config error, found when the format is compiled (call
 * compileTemplate at config load to see it there rather than on the first push). Deliberately
 * not a TypeError, so it cannot be mistaken for a body-decoding failure.
 */
export class PushFormatError extends Error {
  override readonly name = 'PushFormatError';
  readonly code = 'CPB_ERR_PUSH_FORMAT' as const;
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

/** Invalid NodeDirectory / REST client options. */
export class CatchpointConfigError extends TypeError {
  override readonly name = 'CatchpointConfigError';
  readonly code = 'CPB_ERR_CATCHPOINT_CONFIG' as const;
}

export interface CatchpointApiErrorDetails {
  /** HTTP status of the answer that caused the error, when there was one. */
  status?: number;
  /** For 429: how long Catchpoint asked us to wait (Retry-After), in ms. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A failed call to Catchpoint's REST API. The message never holds credentials or tokens. */
export class CatchpointApiError extends Error {
  override readonly name = 'CatchpointApiError';
  readonly code: CatchpointApiErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: CatchpointApiErrorCode, message: string, details: CatchpointApiErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
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
