/**
 * Run timestamps. Catchpoint writes `Summary.Timestamp` (and `TestRuntime`, `${timestamp}`) as 17
 * digits `yyyyMMddHHmmssSSS` in UTC (notes §6.2: Catchpoint's own integration appends `Z`; the
 * seed bridge read it as local time, which shifted every point by the host's offset). We keep
 * the milliseconds: OpenTSDB takes ms timestamps and retries of one run must dedupe exactly.
 *
 * Templates may carry an epoch instead (`${timestampepoch}`, or a hand-written generator): 10
 * digits = seconds, 13 digits = milliseconds. Any other length is an error rather than a guess.
 * They may also carry ISO 8601 with a zone: `2024-05-02T21:20:44.798Z` or `…+05:30`. An ISO time
 * without a zone is refused: it could be any of 26 hours, and guessing UTC is the seed's bug.
 *
 * isDigits, the ASCII digit check, is here too: push.ts and node-mapping.ts read ids and ASNs
 * with it.
 */
import { DateTime } from 'luxon';
import { describeValue, PushParseError, quote } from './errors.ts';

const CODE = 'CPB_ERR_PUSH_TIMESTAMP';
const UTC = { zone: 'utc' } as const;

/** True when every character of `text` is an ASCII digit (and there is at least one). */
export function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Integer value of text[start, end), all digits (checked by the caller). */
function digitsAt(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) n = n * 10 + (text.charCodeAt(i) - 48);
  return n;
}

/**
 * Parses 17 digits `yyyyMMddHHmmssSSS` (UTC) to epoch ms. The digits are sliced by hand (no
 * regex, no format compilation per call) and luxon validates the calendar (Feb 30, hour 24).
 * Throws PushParseError naming `path`.
 */
export function parseCatchpointTimestamp(text: string, path: string): number {
  if (text.length !== 17 || !isDigits(text)) {
    throw new PushParseError(
      CODE,
      path,
      `${path} must be 17 digits yyyyMMddHHmmssSSS (UTC), got ${quote(text)}`,
    );
  }
  const hour = digitsAt(text, 8, 10);
  // luxon accepts ISO 8601's 24:00:00.000 as the next midnight; Catchpoint never writes it.
  if (hour > 23) throw notADate(text, path);
  let dt: DateTime;
  try {
    dt = DateTime.fromObject(
      {
        year: digitsAt(text, 0, 4),
        month: digitsAt(text, 4, 6),
        day: digitsAt(text, 6, 8),
        hour,
        minute: digitsAt(text, 10, 12),
        second: digitsAt(text, 12, 14),
        millisecond: digitsAt(text, 14, 17),
      },
      UTC,
    );
  } catch {
    // Only reached when someone set luxon's Settings.throwOnInvalid globally.
    throw notADate(text, path);
  }
  if (!dt.isValid) throw notADate(text, path);
  return checkRange(dt.toMillis(), text, path);
}

/**
 * Template timestamps: 17 digits as above, an epoch as 10 digits (seconds) or 13 digits (ms), as
 * a string or an unquoted JSON number, or ISO 8601 text with `Z` or an offset.
 */
export function parseTemplateTimestamp(value: unknown, path: string): number {
  let text: string;
  if (typeof value === 'string') {
    text = value.trim();
  } else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    text = String(value);
  } else {
    throw new PushParseError(
      CODE,
      path,
      `${path} must be a string of 17 digits (yyyyMMddHHmmssSSS), an epoch of 10 or 13 digits or ISO 8601 with a zone, got ${describeValue(value)}`,
    );
  }
  if (text.length === 17) return parseCatchpointTimestamp(text, path);
  if ((text.length === 10 || text.length === 13) && isDigits(text)) {
    const n = Number(text);
    return checkRange(text.length === 10 ? n * 1000 : n, text, path);
  }
  if (text.length > 10 && text.charCodeAt(4) === 45 /* - */ && isDigits(text.slice(0, 4))) {
    return parseIsoTimestamp(text, path);
  }
  throw new PushParseError(
    CODE,
    path,
    `${path} must be 17 digits (yyyyMMddHHmmssSSS), an epoch of 10 (s) or 13 (ms) digits, or ISO 8601 with a zone (2024-05-02T21:20:44Z), got ${quote(text)}`,
  );
}

/** What ends an ISO 8601 time that carries its zone: `Z`, or an offset `+05:30`, `-0800`, `+02`. */
const ISO_ZONE = /(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * ISO 8601 date and time with a zone (luxon reads it, with fractions of any length and week or
 * ordinal dates). A date alone, or a time without a zone, is refused naming `path`.
 */
function parseIsoTimestamp(text: string, path: string): number {
  const t = text.indexOf('T');
  if (t < 0) throw notAnIsoDate(text, path);
  if (!ISO_ZONE.test(text.slice(t + 1))) {
    throw new PushParseError(
      CODE,
      path,
      `${path} ${quote(text)} has no time zone: an ISO 8601 timestamp needs a time and Z or an offset (2024-05-02T21:20:44Z, 2024-05-02T23:20:44+02:00)`,
    );
  }
  let dt: DateTime;
  try {
    dt = DateTime.fromISO(text, { setZone: true });
  } catch {
    // Only reached when someone set luxon's Settings.throwOnInvalid globally.
    throw notAnIsoDate(text, path);
  }
  if (!dt.isValid) throw notAnIsoDate(text, path);
  return checkRange(dt.toMillis(), text, path);
}

function notAnIsoDate(text: string, path: string): PushParseError {
  return new PushParseError(
    CODE,
    path,
    `${path} ${quote(text)} is not a valid ISO 8601 date and time (2024-05-02T21:20:44Z)`,
  );
}

function notADate(text: string, path: string): PushParseError {
  return new PushParseError(
    CODE,
    path,
    `${path} ${quote(text)} is not a valid date (yyyyMMddHHmmssSSS, UTC)`,
  );
}

/** OpenTSDB has no time before 1970; a pre-epoch run time can only be a broken template. */
function checkRange(ms: number, text: string, path: string): number {
  if (ms < 0) throw new PushParseError(CODE, path, `${path} ${quote(text)} is before 1970`);
  return ms;
}
