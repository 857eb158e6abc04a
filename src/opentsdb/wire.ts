/**
 * A point as a telnet `put` line (the telnet and file writers). Its /api/put JSON element is
 * made once, at accept time, by the bridge's mapping (src/bridge/mapping.ts), with the same
 * value text (wireValue).
 */
import type { Datapoint } from './datapoint.ts';
import { wireValue } from './sanitize.ts';

/**
 * Telnet lines of this many bytes or more are refused client-side. OpenTSDB closes the
 * connection on a frame over 1024 bytes (LineBasedFrameDecoder), losing everything after it;
 * tcollector drops lines of >= 1024 characters, and so do we (the newline included).
 */
export const MAX_PUT_LINE_BYTES = 1024;

/** The value as a telnet word: the same text the JSON encoding would carry. */
export function putValueText(value: number | string): string {
  if (typeof value === 'string') return value;
  const v = wireValue(value);
  return v === undefined ? 'NaN' : String(v);
}

/**
 * `put <metric> <seconds> <value> k=v ...` plus "\n", with exactly one space between words
 * (OpenTSDB splits on single spaces; two spaces make an empty word that breaks the line).
 * Seconds, not milliseconds: VictoriaMetrics' telnet listener always reads seconds and drops a
 * 13-digit timestamp as "too big", and NS1's bridge wrote seconds too. The caller validates
 * first (validatePointForOpenTsdb): names must not contain spaces, '=' or newlines.
 */
export function formatPutLine(p: Datapoint): string {
  let line = `put ${p.metric} ${Math.floor(p.timestamp / 1000)} ${putValueText(p.value as number | string)}`;
  const tags = p.tags;
  for (const key in tags) line += ` ${key}=${tags[key]}`;
  return `${line}\n`;
}
