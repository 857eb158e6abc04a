/**
 * Names and values made safe for OpenTSDB before they are encoded.
 *
 * OpenTSDB's `Tags.validateString` accepts `a-z A-Z 0-9 - _ . /` and every UTF-16 code unit for
 * which Java's `Character.isLetter` is true. It checks code units, not code points, so letters
 * outside the BMP (surrogate pairs) are refused; a JS `/\p{L}/u` test on code points would be too
 * permissive. This module answers the same question per code unit from a lookup table, and the
 * strict test server (test/harness/strict-opentsdb.ts) uses the same table through
 * validate.ts, so client and contract server cannot drift apart.
 */

/** Default cap on a sanitised name, in UTF-16 code units. OpenTSDB has no limit; VM truncates at 16 KiB. */
export const MAX_NAME_LENGTH = 256;

const UNDERSCORE = 0x5f;

// 1 = allowed in a name; 2 = allowed in a name but not inside one metric segment ('.', '/').
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) ASCII_CLASS[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) ASCII_CLASS[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) ASCII_CLASS[c] = 1;
ASCII_CLASS[0x2d] = 1; // -
ASCII_CLASS[UNDERSCORE] = 1; // _
ASCII_CLASS[0x2e] = 2; // .
ASCII_CLASS[0x2f] = 2; // /

// Built on first use: ASCII-only traffic never pays the ~7 ms it takes to classify the BMP.
let bmpLetters: Uint8Array | undefined;

function letterTable(): Uint8Array {
  if (bmpLetters === undefined) {
    // Java's isLetter is the general categories Lu, Ll, Lt, Lm, Lo, which is what \p{L} is.
    // Surrogate code units are category Cs, so they stay 0, as in Java.
    const table = new Uint8Array(0x10000);
    const letter = /^\p{L}$/u;
    for (let c = 0x80; c < 0x10000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if (letter.test(String.fromCharCode(c))) table[c] = 1;
    }
    bmpLetters = table;
  }
  return bmpLetters;
}

/** Whether OpenTSDB accepts this UTF-16 code unit in a metric name, tag key or tag value. */
export function isNameCodeUnit(c: number): boolean {
  if (c < 0x80) return ASCII_CLASS[c] !== 0;
  return letterTable()[c] === 1;
}

/** Index of the first code unit OpenTSDB would refuse, or -1 when every code unit is allowed. */
export function firstIllegalCodeUnit(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (!isNameCodeUnit(s.charCodeAt(i))) return i;
  }
  return -1;
}

/** True when OpenTSDB would accept `s` as a metric name, tag key or tag value. */
export function isValidName(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && firstIllegalCodeUnit(s) === -1;
}

function allowed(c: number, segment: boolean): boolean {
  if (c < 0x80) {
    const cls = ASCII_CLASS[c];
    return cls === 1 || (cls === 2 && !segment);
  }
  return letterTable()[c] === 1;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function sanitize(raw: string, maxLength: number, segment: boolean): string | undefined {
  // Fast path: most names are already clean, so return the same string without allocating.
  const n = raw.length;
  if (n > 0 && n <= maxLength) {
    let i = 0;
    while (i < n && allowed(raw.charCodeAt(i), segment)) i++;
    if (i === n) return raw;
  }
  let s = raw.trim();
  // NFC turns "e" + combining acute (a non-letter mark) into the letter "é".
  if (!isAscii(s)) s = s.normalize('NFC');
  let out = '';
  let kept = false;
  let runStart = 0;
  let i = 0;
  for (; i < s.length && out.length + (i - runStart) < maxLength; i++) {
    const c = s.charCodeAt(i);
    if (allowed(c, segment)) {
      kept = true;
      continue;
    }
    out += `${s.slice(runStart, i)}_`;
    // One replacement per code point: an astral character (emoji, U+1D400) is two code units.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    runStart = i + 1;
  }
  out += s.slice(runStart, i);
  if (out.length > maxLength) out = out.slice(0, maxLength);
  // Nothing of the input survived (empty, blanks, only punctuation): an empty or all-"_" tag
  // value says nothing, and OpenTSDB refuses empty ones, so the caller drops the tag instead.
  return kept ? out : undefined;
}

/**
 * A tag value OpenTSDB accepts, or undefined when nothing meaningful is left. Trims, applies NFC,
 * turns every disallowed character (spaces included, as NS1's bridge did: "New York" →
 * "New_York") into one `_` per code point and caps the length.
 */
export function sanitizeTagValue(raw: string, maxLength: number = MAX_NAME_LENGTH): string | undefined {
  return sanitize(raw, maxLength, false);
}

/**
 * A tag key, as sanitizeTagValue, except that `__name__` is refused: VictoriaMetrics takes that
 * tag as the metric name and the series would silently be renamed.
 */
export function sanitizeTagKey(raw: string, maxLength: number = MAX_NAME_LENGTH): string | undefined {
  const key = sanitize(raw, maxLength, false);
  return key === '__name__' ? undefined : key;
}

/** A whole metric name (dots and slashes kept), or undefined when nothing meaningful is left. */
export function sanitizeMetricName(raw: string, maxLength: number = MAX_NAME_LENGTH): string | undefined {
  return sanitize(raw, maxLength, false);
}

/**
 * One segment of a dotted metric name (a test id, a dimension): like sanitizeTagValue, but `.`
 * and `/` also become `_` so that the segment cannot add levels to the name.
 */
export function sanitizeMetricSegment(raw: string, maxLength: number = MAX_NAME_LENGTH): string | undefined {
  return sanitize(raw, maxLength, true);
}

/**
 * The value as it must appear in an /api/put element, or undefined when OpenTSDB cannot store it.
 * NaN and ±Infinity serialise as `null` (refused as "Empty value"): drop them. Integers from
 * 2^53 to 1e21 serialise as plain 16–21 digit numbers, which OpenTSDB parses as a 64-bit integer and
 * refuses from 2^63 on ("Unable to parse value to a number"); the exponent form takes its float
 * path instead and is stored as a double.
 */
export function wireValue(v: number): number | string | undefined {
  if (!Number.isFinite(v)) return undefined;
  // From 1e21 on JSON.stringify already writes the exponent form.
  if (!Number.isSafeInteger(v) && Number.isInteger(v) && Math.abs(v) < 1e21) return v.toExponential();
  return v;
}
