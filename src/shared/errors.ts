/**
 * Every error code the bridge and the operator raise on purpose, in one registry, the way
 * fastify's lib/errors.js holds all of its: a code (`CPB_ERR_<AREA>_<PROBLEM>`, stable, never
 * reused for another meaning), a default message (what the code means, for the reader of a log
 * line or a 4xx body) and the HTTP status where a request is answered with it. Each area's union
 * of codes is derived from its group below, so a code cannot be thrown, matched or documented
 * without being listed here; docs/errors.md has a row for each (test/unit/docs/errors.test.ts).
 *
 * One rule tells errors apart: their `code`, through hasCode(). Never `instanceof`: more than one
 * copy of a module can be loaded (undici's advice), and a code is the contract the docs, the
 * alerts and the push responses share. The classes exist to carry an area's extra fields.
 */

interface ErrorDefinition {
  readonly message: string;
  /** The HTTP status a request is answered with when this is why it failed. */
  readonly statusCode?: number;
}

/** A push that cannot be read (push.ts, timestamp.ts): answered 400 with the reason. */
export const PUSH_PARSE_ERRORS = {
  CPB_ERR_PUSH_EMPTY: { message: 'The push body is empty.', statusCode: 400 },
  CPB_ERR_PUSH_NOT_JSON: { message: 'The push body is not valid JSON.', statusCode: 400 },
  CPB_ERR_PUSH_NOT_OBJECT: {
    message: 'The push body is JSON but not one object (an array or a scalar).',
    statusCode: 400,
  },
  CPB_ERR_PUSH_FIELD_MISSING: {
    message: 'A required field (TestId, NodeId, timestamp) is absent or empty.',
    statusCode: 400,
  },
  CPB_ERR_PUSH_FIELD_TYPE: {
    message: 'A required field has the wrong type (e.g. TestId is not an integer).',
    statusCode: 400,
  },
  CPB_ERR_PUSH_FIELD_RANGE: {
    message: 'A numeric field is out of range (e.g. TestId is 0 or beyond 2^53-1).',
    statusCode: 400,
  },
  CPB_ERR_PUSH_TIMESTAMP: {
    message:
      'The run timestamp is malformed: wrong length, not digits, not a real date, or ISO 8601 without a zone.',
    statusCode: 400,
  },
} as const satisfies Record<string, ErrorDefinition>;

export type PushParseErrorCode = keyof typeof PUSH_PARSE_ERRORS;
export const PUSH_PARSE_ERROR_CODES = codesOf(PUSH_PARSE_ERRORS);

/** The Bridge's own refusals, and the unexpected failures (bugs) of the bridge process. */
export const BRIDGE_ERRORS = {
  CPB_ERR_PUSH_UNAUTHORIZED: { message: 'The push carries no token, or a wrong one.', statusCode: 401 },
  CPB_ERR_PUSH_ENCODING: { message: 'The push body is not valid UTF-8.', statusCode: 400 },
  CPB_ERR_NOT_CONFIGURED: {
    message: 'The bridge has no valid config yet (it waits for its CatchpointBridge or a Secret).',
    statusCode: 503,
  },
  CPB_ERR_HANDOFF_INVALID: {
    message: 'A peer handed over a record that is not a datapoint OpenTSDB would take.',
    statusCode: 400,
  },
  CPB_ERR_CATCHPOINT_INTERNAL: {
    message: 'An unexpected error (a bug) while refreshing the node directory.',
  },
  CPB_ERR_INTERNAL: { message: 'An unexpected failure while handling a request (a bug).', statusCode: 500 },
} as const satisfies Record<string, ErrorDefinition>;

/** The write-ahead spool (spool/wal.ts). */
export const SPOOL_ERRORS = {
  CPB_ERR_SPOOL_FULL: { message: 'The spool reached spool.maxBytes.', statusCode: 503 },
  CPB_ERR_SPOOL_DISK: {
    message:
      "The spool's filesystem cannot take the append (full, over quota, failing, or below the reserve).",
    statusCode: 503,
  },
  CPB_ERR_SPOOL_CLOSED: { message: 'The spool is closed (the bridge is stopping).', statusCode: 503 },
  CPB_ERR_SPOOL_RECORD: { message: 'A record is empty, holds a newline, or is over 64 KiB.' },
  CPB_ERR_SPOOL_RECORD_SET_ASIDE: {
    message: 'A corrupt record in the middle of a segment was copied to set-aside/ and stepped over.',
  },
  CPB_ERR_SPOOL_TORN_TAIL: { message: 'A torn last record (a crash mid-write) was cut off on open.' },
} as const satisfies Record<string, ErrorDefinition>;

/** Configuration that cannot be used: a spec, the values behind its references, options derived from it. */
export const CONFIG_ERRORS = {
  CPB_ERR_INVALID_SPEC: { message: 'The CatchpointBridge spec fails its schema or CEL rules.' },
  CPB_ERR_SECRET_MISSING: {
    message: 'A referenced Secret or ConfigMap, or a key in it, is absent or empty.',
  },
  CPB_ERR_TLS_MATERIAL: { message: 'TLS material (a CA bundle, a certificate or key) does not parse.' },
  CPB_ERR_CONFIG_NOT_FOUND: { message: "The bridge's CatchpointBridge does not exist." },
  CPB_ERR_CATCHPOINT_CONFIG: {
    message: 'The node directory options are invalid (e.g. v1 without clientId/clientSecret).',
  },
  CPB_ERR_PUSH_FORMAT: { message: 'The template field map is invalid (e.g. an empty path segment).' },
} as const satisfies Record<string, ErrorDefinition>;

/** A failed call to Catchpoint's REST API (catchpoint/). */
export const CATCHPOINT_API_ERRORS = {
  CPB_ERR_CATCHPOINT_AUTH: {
    message: 'Catchpoint refused the credentials (401/403): wrong key, secret, or IP not allowed.',
  },
  CPB_ERR_CATCHPOINT_RATE_LIMITED: {
    message: 'Catchpoint kept answering 429 after the allowed number of retries.',
  },
  CPB_ERR_CATCHPOINT_UNAVAILABLE: { message: 'Catchpoint could not be reached, timed out, or answered 5xx.' },
  CPB_ERR_CATCHPOINT_BAD_RESPONSE: {
    message: 'Catchpoint answered with a body the client does not understand.',
  },
  CPB_ERR_CATCHPOINT_EMPTY_LIST: { message: 'Catchpoint returned no nodes; the previous directory is kept.' },
} as const satisfies Record<string, ErrorDefinition>;

/** The OpenTSDB writers (opentsdb/). */
export const TSDB_ERRORS = {
  CPB_ERR_TSDB_UNAVAILABLE: {
    message: 'Connection refused, reset or closed, a timeout, 5xx or 429: the TSDB cannot take data now.',
  },
  CPB_ERR_TSDB_TLS: {
    message: "The TLS handshake failed: the TSDB's certificate is not trusted or does not name the host.",
  },
  CPB_ERR_TSDB_HTTP_STATUS: {
    message: 'The TSDB answered with a status that means misconfiguration (401, 404…).',
  },
  CPB_ERR_TSDB_STORAGE: { message: 'The TSDB took the request but reported storage-side failures.' },
  CPB_ERR_TSDB_ABORTED: {
    message: 'The write was aborted before the batch settled (a stop or a config change).',
  },
  CPB_ERR_TSDB_WRITER_CLOSED: { message: 'A write was made on a writer that is closed or closing.' },
  CPB_ERR_TSDB_FILE_IO: { message: 'The file writer could not append or fsync.' },
  CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED: {
    message: 'Every endpoint of a failover writer failed for this batch.',
  },
  CPB_ERR_TSDB_BAD_ENDPOINT: {
    message: 'The endpoint URL or writer options are invalid (a configuration error).',
  },
} as const satisfies Record<string, ErrorDefinition>;

/** The Kubernetes layer (kube/). */
export const KUBE_ERRORS = {
  CPB_ERR_KUBE_API: { message: 'The API server answered with a non-2xx status.' },
  CPB_ERR_KUBE_UNAVAILABLE: {
    message: 'No answer from the API server: refused, reset, TLS failure or timeout.',
  },
  CPB_ERR_KUBE_ABORTED: { message: "The caller's AbortSignal fired." },
  CPB_ERR_KUBE_BAD_RESPONSE: { message: 'A 2xx answer that cannot be read (not JSON, not a watch event).' },
  CPB_ERR_KUBE_BAD_OBJECT: {
    message: 'An object that cannot be sent (no apiVersion, kind, name or namespace).',
  },
  CPB_ERR_KUBE_UNKNOWN_KIND: { message: 'Discovery does not know the kind (CRD not installed, or a typo).' },
  CPB_ERR_KUBE_BAD_OPTIONS: {
    message: 'Options that cannot work (e.g. leader-election durations out of order).',
  },
  CPB_ERR_KUBE_STOPPED: { message: 'An informer or leader elector was stopped before it could start.' },
} as const satisfies Record<string, ErrorDefinition>;

export const ERRORS = {
  ...PUSH_PARSE_ERRORS,
  ...BRIDGE_ERRORS,
  ...SPOOL_ERRORS,
  ...CONFIG_ERRORS,
  ...CATCHPOINT_API_ERRORS,
  ...TSDB_ERRORS,
  ...KUBE_ERRORS,
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** The status the registry gives `code`, when it has one. */
export function statusOf(code: ErrorCode): number | undefined {
  const definition: ErrorDefinition = ERRORS[code];
  return definition.statusCode;
}

/**
 * The base of every coded error: `code` from the registry, `statusCode` where the code has one,
 * and the registry's message unless the thrower says more. Areas extend it with their fields.
 */
export class CodedError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly statusCode: number | undefined;

  constructor(code: C, message: string = ERRORS[code].message, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusOf(code);
  }
}

/** The `code` of any error: one of ours, or Node's and undici's (`ECONNREFUSED`, `UND_ERR_…`). */
export function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The codes of one of the registry's groups (e.g. every KUBE_ERRORS code), for hasCode. */
export function codesOf<G extends Readonly<Record<string, ErrorDefinition>>>(
  group: G,
): Array<keyof G & ErrorCode> {
  return Object.keys(group) as Array<keyof G & ErrorCode>;
}

/**
 * The one way to tell errors apart: true when `err` carries one of `codes`. An area's extra
 * fields come with its code: a caller that needs them casts to the area's class after this.
 */
export function hasCode<C extends ErrorCode>(err: unknown, ...codes: readonly C[]): err is CodedError<C> {
  const code = codeOf(err);
  return code !== undefined && (codes as readonly string[]).includes(code);
}
