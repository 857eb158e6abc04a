/** Shared bits of the writer integration tests: a log-capturing logger and point factories. */
import pino, { type Logger } from 'pino';
import { stringify } from 'yaml';
import { parseCatchpointBridgeManifest } from '../../../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../../../src/bridge/mapping.ts';
import type { NodeInfo } from '../../../src/catchpoint/node.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import type { Datapoint, EncodedDatapoint } from '../../../src/opentsdb/datapoint.ts';
import { expectedV1Info, generateNodes } from '../../harness/fake-catchpoint.ts';
import { pushBody } from '../../harness/push-stream.ts';

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

/** A point as the JSON element the writers take (what the bridge's mapping encodes at accept time). */
export function encode(point: Datapoint): EncodedDatapoint {
  return JSON.stringify(point);
}

export function encodeAll(points: readonly Datapoint[]): EncodedDatapoint[] {
  return points.map(encode);
}

/**
 * `pushes` pushes of the bench's shape (20 tests × the stand-in's nodes, 1 ms apart) mapped by the
 * bridge's default spec: the lines HttpWriter gets in production, which compress ~12× at gzip
 * level 1 (makePoints' unique tags compress far less).
 */
export function bridgeLines(pushes: number, baseMs = Date.now() - 3_600_000): EncodedDatapoint[] {
  const spec = parseCatchpointBridgeManifest(
    stringify({
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name: 'lines' },
      spec: {
        catchpoint: { api: 'v1', credentialsSecretRef: { name: 'api' } },
        push: { tokenSecretRef: { name: 'push' } },
        tsdb: { endpoints: ['http://127.0.0.1:4242'] },
      },
    }),
  ).spec;
  const plan = buildMappingPlan(spec);
  const stats = newMappingStats();
  const nodes = generateNodes();
  const lines: EncodedDatapoint[] = [];
  for (let i = 0; i < pushes; i++) {
    const node = nodes[i % nodes.length]!;
    const push = parsePush(
      pushBody({
        testId: 200_001 + (Math.floor(i / nodes.length) % 20),
        nodeId: node.id,
        nodeName: node.name,
        asn: node.asn,
        timestampMs: baseMs + i,
        totalMs: 10 + (i % 500),
      }),
      { type: 'json' },
    );
    lines.push(...mapPush(push, expectedV1Info(node) as unknown as NodeInfo, plan, stats));
  }
  return lines;
}
