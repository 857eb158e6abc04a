/**
 * Turns a batch of encoded points into telnet `put` lines for protocols that cannot refuse a
 * single point (telnet, file). Every point is checked here against OpenTSDB's rules first: over
 * telnet a bad point gets at best an uncorrelated error line back, and a line over 1024 bytes
 * makes OpenTSDB close the connection and lose everything after it.
 */
import { decodeDatapoint, type EncodedDatapoint } from './datapoint.ts';
import type { RejectionLog } from './rejection.ts';
import { validatePointForOpenTsdb } from './validate.ts';
import { formatPutLine, MAX_PUT_LINE_BYTES } from './wire.ts';
import type { RejectedDatapoint } from './writer.ts';

export interface PutPayload {
  /** The lines, each ending in "\n". */
  text: string;
  /** Points in `text`. */
  count: number;
  rejected: RejectedDatapoint[];
}

export function buildPutPayload(
  batch: readonly EncodedDatapoint[],
  maxTags: number,
  rejections: RejectionLog,
): PutPayload {
  let text = '';
  let count = 0;
  const rejected: RejectedDatapoint[] = [];
  for (const line of batch) {
    let error: string | undefined;
    let metric: string | undefined;
    let put = '';
    try {
      const p = decodeDatapoint(line);
      metric = typeof p.metric === 'string' ? p.metric : undefined;
      error = validatePointForOpenTsdb(p, maxTags);
      // Telnet carries seconds: a point within the first second of 1970 would become 0.
      if (error === undefined && p.timestamp < 1000) error = 'Invalid timestamp';
      if (error === undefined) {
        put = formatPutLine(p);
        const bytes = Buffer.byteLength(put, 'utf8');
        if (bytes >= MAX_PUT_LINE_BYTES) error = `put line of ${bytes} bytes exceeds the 1023-byte limit`;
      }
    } catch {
      error = 'malformed encoded datapoint (not JSON)';
    }
    if (error !== undefined) {
      rejected.push({ line, error });
      rejections.report(error, metric);
      continue;
    }
    text += put;
    count++;
  }
  return { text, count, rejected };
}
