/** Shared bits of the writer integration tests: a log-capturing logger and point factories. */
import pino, { type Logger } from 'pino';
import { type Datapoint, type EncodedDatapoint, encodeDatapoint } from '../../../src/opentsdb/datapoint.ts';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface CapturedLogger {
  logger: Logger;
  records: LogRecord[];
  /** Records at `level` or above (pino numbers: 40 warn, 50 error). */
  atLeast(level: number): LogRecord[];
  /** Every captured line, raw, for secret scanning. */
  text(): string;
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(line);
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  return {
    logger,
    records,
    atLeast: (level) => records.filter((r) => r.level >= level),
    text: () => lines.join(''),
  };
}

let seq = 0;

/** A unique metric prefix per test, so tests sharing one VictoriaMetrics do not see each other. */
export function uniquePrefix(name: string): string {
  seq++;
  return `t${process.pid}_${seq}.${name}`;
}

/** `n` realistic points (4 tags, ~170 bytes encoded), ms timestamps a few minutes in the past. */
export function makePoints(prefix: string, n: number, base = Date.now() - 600_000): Datapoint[] {
  const points: Datapoint[] = [];
  for (let i = 0; i < n; i++) {
    points.push({
      metric: `${prefix}.rtt`,
      timestamp: base + i * 1000 + (i % 1000),
      value: i % 3 === 0 ? i : i + 0.25,
      tags: { nodeid: String(i % 7), city: `City_${i % 5}`, asn: `AS${64500 + (i % 11)}`, series: String(i) },
    });
  }
  return points;
}

export function encodeAll(points: readonly Datapoint[]): EncodedDatapoint[] {
  return points.map(encodeDatapoint);
}
