/**
 * The write-path checks of OpenTSDB 2.x, in the order it runs them (IncomingDataPoint.validate,
 * PutDataPointRpc.processDataPoint, Tags.parseLong/looksLikeInteger, TSDB.addPoint,
 * TSDB.checkTimestampAndTags, IncomingDataPoints.checkMetricAndTags, Tags.validateString), with
 * the same error strings, so a point refused here is a point real OpenTSDB would refuse.
 *
 * The strict contract server (test/harness/strict-opentsdb.ts) calls validateIncoming() on what it
 * parsed off the wire; writers call validatePointForOpenTsdb() before sending over protocols that
 * give no per-point answer (telnet, file). "Unknown metric" is server state and is not checked here.
 *
 * Two rules are stricter than OpenTSDB, because VictoriaMetrics drops such rows silently: tag
 * values must be JSON strings and timestamps must be integers (Jackson would coerce both).
 */
import type { Datapoint } from './datapoint.ts';
import { firstIllegalCodeUnit } from './sanitize.ts';

/** `tsd.storage.max_tags` default (Const.MAX_NUM_TAGS). */
export const DEFAULT_MAX_TAGS = 8;

/** Timestamps below 2^32 are seconds, from 2^32 on milliseconds (Const.SECOND_MASK). */
const SECOND_LIMIT = 4294967296;
const MIN_MS = 1_000_000_000_000;
const MAX_MS = 9_999_999_999_999;
const LONG_MAX = 2n ** 63n - 1n;
const LONG_MIN = -(2n ** 63n);
const TWO_POW_63 = 2 ** 63;

/** Java Double.parseDouble's decimal grammar (hex floats left out: no writer sends them). */
const JAVA_FLOAT = /^[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?)$/;

export const VALUE_PARSE_ERROR = 'Unable to parse value to a number';

/** Tags.looksLikeInteger: no '.', 'e' or 'E' means the 64-bit integer path. */
function looksLikeInteger(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e || c === 0x65 || c === 0x45) return false;
  }
  return true;
}

/** Tags.parseLong: optional sign, at most 19 digits, inside the signed 64-bit range. */
function parsesAsLong(text: string): boolean {
  const n = text.length;
  const signed = text.charCodeAt(0) === 0x2b || text.charCodeAt(0) === 0x2d;
  const digits = signed ? n - 1 : n;
  if (digits < 1 || digits > 19) return false;
  for (let i = signed ? 1 : 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  const v = BigInt(text.charCodeAt(0) === 0x2b ? text.slice(1) : text);
  return v >= LONG_MIN && v <= LONG_MAX;
}

/**
 * The reason OpenTSDB refuses this value text (as it arrived: a JSON number's source text or a
 * JSON string, or a telnet word), or undefined when it stores it.
 */
export function checkValueText(text: string, metric: string, timestamp: number): string | undefined {
  if (looksLikeInteger(text)) return parsesAsLong(text) ? undefined : VALUE_PARSE_ERROR;
  const trimmed = text.trim();
  if (!JAVA_FLOAT.test(trimmed)) return VALUE_PARSE_ERROR;
  const last = trimmed.charCodeAt(trimmed.length - 1);
  // Java accepts a trailing f/F/d/D type suffix; Number() does not.
  const v = Number(last > 0x39 ? trimmed.slice(0, -1) : trimmed);
  if (!Number.isFinite(v))
    return `value is NaN or Infinite: ${text} for metric=${metric} timestamp=${timestamp}`;
  return undefined;
}

function checkNumberValue(v: number, metric: string, timestamp: number): string | undefined {
  if (!Number.isFinite(v)) {
    // JSON.stringify writes null for these, which OpenTSDB reports as "Empty value"; say what it is.
    return `value is NaN or Infinite: ${v} for metric=${metric} timestamp=${timestamp}`;
  }
  // JSON.stringify prints integers below 1e21 as plain digits: the integer path, which overflows.
  if (Number.isInteger(v) && Math.abs(v) >= TWO_POW_63 && Math.abs(v) < 1e21) return VALUE_PARSE_ERROR;
  return undefined;
}

function checkName(what: string, s: string): string | undefined {
  if (s.length === 0) return `Invalid ${what}: empty string`;
  const bad = firstIllegalCodeUnit(s);
  if (bad === -1) return undefined;
  return `Invalid ${what} ("${s}"): illegal character: ${s[bad]}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates one incoming point the way OpenTSDB's HTTP path does. `value` is the value's text
 * (the source text of a JSON number, or a JSON string), `null`/`undefined` when absent, or a
 * number when the caller only has the parsed value.
 */
export function validateIncoming(
  metric: unknown,
  timestamp: unknown,
  value: string | number | null | undefined,
  tags: unknown,
  maxTags: number,
): string | undefined {
  if (metric === undefined || metric === null || metric === '') return 'Metric name was empty';
  if (typeof metric !== 'string') return 'Invalid metric name: not a string';
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp <= 0) {
    return 'Invalid timestamp';
  }
  if (value === undefined || value === null || value === '') return 'Empty value';
  if (!isPlainObject(tags)) return 'Missing tags';
  let tagCount = 0;
  for (const _ in tags) tagCount++;
  if (tagCount === 0) return 'Missing tags';

  const valueError =
    typeof value === 'number'
      ? checkNumberValue(value, metric, timestamp)
      : typeof value === 'string'
        ? checkValueText(value, metric, timestamp)
        : VALUE_PARSE_ERROR;
  if (valueError !== undefined) return valueError;

  if (timestamp >= SECOND_LIMIT && (timestamp < MIN_MS || timestamp > MAX_MS)) {
    return `bad timestamp=${timestamp} for metric=${metric}`;
  }
  if (tagCount > maxTags) return `Too many tags: ${tagCount} maximum allowed: ${maxTags}`;

  const metricError = checkName('metric name', metric);
  if (metricError !== undefined) return metricError;
  for (const key in tags) {
    const keyError = checkName('tag name', key);
    if (keyError !== undefined) return keyError;
    const tagValue = tags[key];
    if (typeof tagValue !== 'string') return `Invalid tag value for ${key}: not a string`;
    const valueNameError = checkName('tag value', tagValue);
    if (valueNameError !== undefined) return valueNameError;
  }
  return undefined;
}

/**
 * The reason real OpenTSDB would refuse this point, or undefined when it would store it (given
 * that its metric exists or auto_create_metrics is on). The timestamp is checked as sent, i.e. as
 * epoch milliseconds.
 */
export function validatePointForOpenTsdb(
  p: Datapoint,
  maxTags: number = DEFAULT_MAX_TAGS,
): string | undefined {
  // A decoded spool line may carry the exponent-form string wireValue() produces.
  return validateIncoming(p.metric, p.timestamp, p.value as number | string, p.tags, maxTags);
}
