/**
 * One Catchpoint Test Data Webhook push (one test run on one node) → CatchpointPush, as a pure
 * function. See docs/catchpoint.md §2 (default JSON v3–v5), §3 (templates), §6 (timestamps), §7
 * (failures). The push's type is in types.ts, template field maps are compiled by template.ts.
 *
 * Rules:
 *  - The body is one JSON object (Catchpoint never batches). Unknown keys are ignored and missing
 *    keys stay missing (never 0). Keys match case-insensitively.
 *  - Only the fields that decide a datapoint's identity are strict: TestId and NodeId are
 *    positive safe integers (JSON numbers or digit strings, leading zeros dropped) and the
 *    timestamp is required (§6). A push failing these gets a PushParseError, i.e. a 400 with the
 *    reason naming the field.
 *  - Optional fields are lenient: a NodeName, Asn or error code in a shape the bridge cannot read
 *    is left out and listed in `dropped` (the bridge counts and logs it), because the run's other
 *    values are still worth writing and a 400 would make Catchpoint resend the push nine times
 *    (§8.2) for nothing. Measurements are read later (readMeasurement, measurement.ts) and are
 *    lenient the same way.
 *
 * Failure status (errorCode is set iff the run failed, §7):
 *  - `Summary.Error.Code` (number or string) other than 0 → that code as a string. Text ("DNS
 *    Failure") is kept as it is; mapping sanitises it into a tag value.
 *  - No usable Code, but one of the primary failure flags set (Connection, Dns, Load, Ssl,
 *    SystemLimit, Timeout, Transaction) → 'unknown': the run failed, the code was not sent.
 *  - Only `Error.Any` / `Error.LoadObjects` → no errorCode. Those flag failed *child requests*
 *    while the test itself succeeded (the web-chrome-v4 sample: the page loaded, one object
 *    failed), and the seed bridge also reported such runs as ok since it keyed on Error.Code.
 *  - Templates: the errorCode field may hold a code or a boolean flag: "", "0", "False" → ok;
 *    "True" → 'unknown'; any other text → that text.
 *  - An error code that is neither (an object, an array, 1.5) is dropped, and the run's status is
 *    then unknown (errorCode undefined, `dropped` naming it): mapping writes no status for it
 *    rather than guess ok or failed.
 */
import { describeValue, PushFormatError, PushParseError } from './errors.ts';
import { compilePath, isObject, type PathStep, readStep, resolvePath } from './path.ts';
import { kPushBody, kPushSummary, kPushTemplate } from './symbols.ts';
import { compileTemplate } from './template.ts';
import { isDigits, parseCatchpointTimestamp, parseTemplateTimestamp } from './timestamp.ts';
import type { CatchpointPush, CompiledTemplate, DroppedField, JsonObject, PushFormat } from './types.ts';

/**
 * Parses one push. Throws PushParseError (code, path, message) for a body the bridge cannot
 * use, and PushFormatError only for an invalid template field map (a config error).
 */
export function parsePush(body: Buffer | string, format: PushFormat): CatchpointPush {
  const root = parseBody(body);
  if (format.type === 'json') return fromDefaultJson(root);
  if (format.type === 'template') return fromTemplate(root, compileTemplate(format.fields));
  throw new PushFormatError(
    'type',
    `unknown push format type ${JSON.stringify((format as { type: unknown }).type)}`,
  );
}

/** Whether the run's status could not be read: an unreadable error code and no failure flag. */
export function statusUnknown(push: CatchpointPush): boolean {
  return push.errorCode === undefined && push.dropped !== undefined && push.dropped.some(isErrorCode);
}

function isErrorCode(d: DroppedField): boolean {
  return d.field === 'errorCode';
}

const MAX_REASON = 120;

function parseBody(body: Buffer | string): JsonObject {
  // Invalid UTF-8 decodes to U+FFFD here; it can only fail later as bad JSON or a bad field.
  let text = typeof body === 'string' ? body : body.toString('utf8');
  // .NET serialisers may prefix a byte order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (text.trim().length === 0) throw new PushParseError('CPB_ERR_PUSH_EMPTY', '', 'body is empty');
    const reason = err instanceof Error ? err.message : String(err);
    const cut = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
    throw new PushParseError('CPB_ERR_PUSH_NOT_JSON', '', `body is not valid JSON: ${cut}`);
  }
  if (!isObject(value)) {
    throw new PushParseError(
      'CPB_ERR_PUSH_NOT_OBJECT',
      '',
      `body must be one JSON object (one test run per push), got ${describeValue(value)}`,
    );
  }
  return value;
}

// Steps for the default JSON, compiled once. Their hints learn the body's casing (path.ts).
function step(key: string): PathStep {
  return compilePath(key)![0]!;
}
const TEST_ID = step('TestId');
const NODE_ID = step('NodeId');
const NODE_NAME = step('NodeName');
const ASN = step('Asn');
const SUMMARY = step('Summary');
const TIMESTAMP = step('Timestamp');
const TEST_RUNTIME = step('TestRuntime');
const ERROR = step('Error');
const CODE = step('Code');
const FAILURE_FLAGS = ['Connection', 'Dns', 'Load', 'Ssl', 'SystemLimit', 'Timeout', 'Transaction'].map(step);

function fromDefaultJson(root: JsonObject): CatchpointPush {
  const testId = parseId(readStep(root, TEST_ID), 'TestId');
  const nodeId = parseId(readStep(root, NODE_ID), 'NodeId');
  const rawSummary = readStep(root, SUMMARY);
  let summary: JsonObject | undefined;
  if (isObject(rawSummary)) summary = rawSummary;
  else if (rawSummary !== undefined && rawSummary !== null) {
    throw new PushParseError(
      'CPB_ERR_PUSH_FIELD_TYPE',
      'Summary',
      `Summary must be an object, got ${describeValue(rawSummary)}`,
    );
  }
  const timestampMs = defaultJsonTimestamp(root, summary);
  const dropped: DroppedField[] = [];
  return makePush(
    testId,
    nodeId,
    optionalNodeName(readStep(root, NODE_NAME), 'NodeName', dropped),
    optionalAsn(readStep(root, ASN), 'Asn', dropped),
    timestampMs,
    summary === undefined ? undefined : defaultJsonErrorCode(summary, dropped),
    dropped,
    root,
    summary,
    undefined,
  );
}

/** Summary.Timestamp, or the top-level TestRuntime (v4+) only when Summary.Timestamp is absent. */
function defaultJsonTimestamp(root: JsonObject, summary: JsonObject | undefined): number {
  let path = 'Summary.Timestamp';
  let value = summary === undefined ? undefined : readStep(summary, TIMESTAMP);
  if (value === undefined || value === null) {
    path = 'TestRuntime';
    value = readStep(root, TEST_RUNTIME);
  }
  if (value === undefined || value === null) {
    throw new PushParseError(
      'CPB_ERR_PUSH_FIELD_MISSING',
      'Summary.Timestamp',
      'Summary.Timestamp is missing (and there is no TestRuntime)',
    );
  }
  if (typeof value !== 'string') {
    throw new PushParseError(
      'CPB_ERR_PUSH_TIMESTAMP',
      path,
      `${path} must be a string of 17 digits yyyyMMddHHmmssSSS (UTC), got ${describeValue(value)}`,
    );
  }
  return parseCatchpointTimestamp(value, path);
}

function defaultJsonErrorCode(summary: JsonObject, dropped: DroppedField[]): string | undefined {
  const error = readStep(summary, ERROR);
  if (error === undefined || error === null) return undefined;
  // Per-host records carry Error as a bare code (50200); accept that shape here too.
  if (!isObject(error)) return optionalErrorCode(error, 'Summary.Error', dropped);
  const code = optionalErrorCode(readStep(error, CODE), 'Summary.Error.Code', dropped);
  if (code !== undefined) return code;
  for (const flag of FAILURE_FLAGS) {
    if (isSet(readStep(error, flag))) return 'unknown';
  }
  return undefined;
}

function isSet(flag: unknown): boolean {
  if (typeof flag === 'number') return flag !== 0 && !Number.isNaN(flag);
  if (typeof flag === 'boolean') return flag;
  if (typeof flag === 'string') return flag === '1' || flag.toLowerCase() === 'true';
  return false;
}

function fromTemplate(root: JsonObject, template: CompiledTemplate): CatchpointPush {
  const testId = parseId(resolvePath(root, template.testId.steps), template.testId.path);
  const nodeId = parseId(resolvePath(root, template.nodeId.steps), template.nodeId.path);
  const tsPath = template.timestamp.path;
  const tsValue = resolvePath(root, template.timestamp.steps);
  if (isAbsent(tsValue)) {
    throw new PushParseError('CPB_ERR_PUSH_FIELD_MISSING', tsPath, `${tsPath} is missing or empty`);
  }
  const timestampMs = parseTemplateTimestamp(tsValue, tsPath);
  const dropped: DroppedField[] = [];
  const { nodeName, asn, errorCode } = template;
  return makePush(
    testId,
    nodeId,
    nodeName === undefined
      ? undefined
      : optionalNodeName(resolvePath(root, nodeName.steps), nodeName.path, dropped),
    asn === undefined ? undefined : optionalAsn(resolvePath(root, asn.steps), asn.path, dropped),
    timestampMs,
    errorCode === undefined
      ? undefined
      : optionalErrorCode(resolvePath(root, errorCode.steps), errorCode.path, dropped),
    dropped,
    root,
    undefined,
    template,
  );
}

/** Templates render unmeasured values as "" (§3.1): absent, like a missing key. */
function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim().length === 0);
}

// Every push gets the same property order, so V8 sees one object shape.
function makePush(
  testId: string,
  nodeId: string,
  nodeName: string | undefined,
  asn: string | undefined,
  timestampMs: number,
  errorCode: string | undefined,
  dropped: DroppedField[],
  body: JsonObject,
  summary: JsonObject | undefined,
  template: CompiledTemplate | undefined,
): CatchpointPush {
  return {
    testId,
    nodeId,
    nodeName,
    asn,
    timestampMs,
    errorCode,
    dropped: dropped.length === 0 ? undefined : dropped,
    [kPushBody]: body,
    [kPushSummary]: summary,
    [kPushTemplate]: template,
  };
}

const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER).length;

/** A positive safe integer id, from a JSON number or a string of digits. */
function parseId(value: unknown, path: string): string {
  if (isAbsent(value))
    throw new PushParseError('CPB_ERR_PUSH_FIELD_MISSING', path, `${path} is missing or empty`);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new PushParseError(
        'CPB_ERR_PUSH_FIELD_TYPE',
        path,
        `${path} must be an integer, got ${describeValue(value)}`,
      );
    }
    if (value < 1 || value > Number.MAX_SAFE_INTEGER) throw outOfRange(value, path);
    return String(value);
  }
  if (typeof value === 'string') {
    const text = value.trim();
    if (!isDigits(text)) {
      throw new PushParseError(
        'CPB_ERR_PUSH_FIELD_TYPE',
        path,
        `${path} must be a positive integer or a string of digits, got ${describeValue(value)}`,
      );
    }
    let start = 0;
    while (start < text.length - 1 && text.charCodeAt(start) === 48) start++;
    if (text.length - start > MAX_SAFE_DIGITS) throw outOfRange(value, path);
    const n = Number(text.slice(start));
    if (n < 1 || n > Number.MAX_SAFE_INTEGER) throw outOfRange(value, path);
    return String(n);
  }
  throw new PushParseError(
    'CPB_ERR_PUSH_FIELD_TYPE',
    path,
    `${path} must be a positive integer or a string of digits, got ${describeValue(value)}`,
  );
}

function outOfRange(value: unknown, path: string): PushParseError {
  return new PushParseError(
    'CPB_ERR_PUSH_FIELD_RANGE',
    path,
    `${path} must be between 1 and ${Number.MAX_SAFE_INTEGER}, got ${describeValue(value)}`,
  );
}

/** A NodeName, or undefined when absent (or blank); any other shape is dropped. */
function optionalNodeName(value: unknown, path: string, dropped: DroppedField[]): string | undefined {
  if (typeof value === 'string') {
    const name = value.trim();
    return name.length === 0 ? undefined : name;
  }
  if (value !== undefined && value !== null) dropped.push(drop('nodeName', path, value));
  return undefined;
}

function drop(field: DroppedField['field'], path: string, value: unknown): DroppedField {
  return { field, path, value: describeValue(value) };
}

/** An ASN, or undefined when absent, blank or 0 (no ASN); anything else unreadable is dropped. */
function optionalAsn(value: unknown, path: string, dropped: DroppedField[]): string | undefined {
  const asn = parseAsn(value);
  if (asn === undefined && !isAbsent(value) && value !== 0 && value !== '0') {
    dropped.push(drop('asn', path, value));
  }
  return asn;
}

const MAX_ASN = 4294967295; // 32-bit AS numbers (RFC 6793)

/** 16509, "16509" or "AS16509" → '16509'; anything else (including AS0) → undefined. */
function parseAsn(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1 && value <= MAX_ASN ? String(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  let text = value.trim();
  if (
    text.length > 2 &&
    (text.charCodeAt(0) | 32) === 97 /* a */ &&
    (text.charCodeAt(1) | 32) === 115 /* s */
  ) {
    text = text.slice(2);
  }
  if (text.length > 10 || !isDigits(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= MAX_ASN ? String(n) : undefined;
}

/**
 * An error code or flag → the code string, or undefined for "no failure". A value that is neither
 * a code, a flag nor text (an object, an array, a fraction) is dropped, leaving the status unknown.
 */
function optionalErrorCode(value: unknown, path: string, dropped: DroppedField[]): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return value === 0 ? undefined : String(value);
  } else if (typeof value === 'boolean') {
    return value ? 'unknown' : undefined;
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (text.length === 0) return undefined;
    if (isDigits(text)) {
      let start = 0;
      while (start < text.length && text.charCodeAt(start) === 48) start++;
      // "0", "000": WinHTTP code 0 is None
      return start === text.length ? undefined : text.slice(start);
    }
    const lower = text.length === 4 || text.length === 5 ? text.toLowerCase() : '';
    if (lower === 'false') return undefined;
    if (lower === 'true') return 'unknown';
    // Readable text ("DNS Failure"): the code as Catchpoint wrote it; mapping makes it a tag value.
    return text;
  }
  dropped.push(drop('errorCode', path, value));
  return undefined;
}
