/**
 * One OpenTSDB datapoint, in the shape of an /api/put element. Timestamps are epoch
 * milliseconds; writers that can only carry seconds (telnet) truncate.
 */
export interface Datapoint {
  metric: string;
  /** Epoch milliseconds (UTC). */
  timestamp: number;
  value: number;
  tags: Record<string, string>;
}

/**
 * A datapoint serialised once, at accept time, as the JSON element /api/put takes. The spool
 * stores these lines and the HTTP writer joins them into a body without re-serialising.
 */
export type EncodedDatapoint = string;

export function decodeDatapoint(line: EncodedDatapoint): Datapoint {
  return JSON.parse(line) as Datapoint;
}
