/**
 * The sink ceiling: a raw batched /api/put loop into VictoriaMetrics, as its own process so it
 * can be pinned to the core the bridge uses. The datapoints are the bridge's own (the same
 * pushes mapped by src/bridge/mapping.ts with the nodes' directory info), cut into requests the
 * way the bridge's HttpWriter cuts them (batches of tsdb.batchMaxPoints, HttpWriter's gzip level, greedy
 * packing under tsdb.maxRequestBytes wire bytes), and compressed before the clock starts, so
 * the loop measures what the TSDB takes, not what this process can compress.
 *
 * Input: one JSON argument (SinkLoopOptions). Output on stdout: `{"event":"measuring"}` when the
 * first measured run starts, then `{"event":"done", "result": SinkLoopResult}`.
 */
import { gzipSync } from 'node:zlib';
import { Pool } from 'undici';
import { parseCatchpointBridgeManifest } from '../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../src/bridge/mapping.ts';
import type { NodeInfo } from '../src/catchpoint/node.ts';
import { parsePush } from '../src/catchpoint/push.ts';
import { jsonArrayBody, lineSizes, packNext } from '../src/opentsdb/body-plan.ts';
import { GZIP_LEVEL } from '../src/opentsdb/http-writer.ts';
import { manifest } from '../test/harness/bridge-process.ts';
import { expectedV1Info, type FakeNode } from '../test/harness/fake-catchpoint.ts';
import { PushSource } from './lib/pushes.ts';

export interface SinkLoopOptions {
  putUrl: string;
  /** The bridge's spec (for its mapping and tsdb batching settings). */
  spec: Record<string, unknown>;
  tests: number[];
  nodes: FakeNode[];
  baseMs: number;
  /** Pushes whose datapoints make up the body pool (sent round and round). */
  pushes: number;
  concurrency: number;
  warmupSeconds: number;
  /** Length of each measured run. */
  seconds: number;
  trials: number;
  /** Called when the first measured run starts. */
  onMeasuring?: () => void;
}

export interface SinkLoopResult {
  /** Datapoints acknowledged per second, one entry per trial. */
  pointsPerSecond: number[];
  requestsPerSecond: number[];
  pointsPerRequest: number;
  wireBytesPerRequest: number;
  gzipRatio: number;
  bodies: number;
  poolPoints: number;
  failures: number;
  /** CPU this process used while measuring, in cores. */
  loopCores: number;
}

interface Body {
  data: Buffer;
  points: number;
}

/** Datapoint lines → request bodies, as HttpWriter cuts a delivery batch. */
function buildBodies(lines: string[], batchMaxPoints: number, maxBytes: number): Body[] {
  const bodies: Body[] = [];
  let ratio = 5; // HttpWriter's starting guess, then its moving average (of bodies ≥ half the budget)
  const budget = () => Math.max(maxBytes, Math.floor(maxBytes * ratio * 0.85));
  const send = (batch: string[], start: number, end: number) => {
    const raw = jsonArrayBody(batch, start, end);
    const data = gzipSync(raw, { level: GZIP_LEVEL });
    if (raw.length * 2 >= budget())
      ratio = Math.min(32, Math.max(1, ratio * 0.7 + (raw.length / data.length) * 0.3));
    if (data.length > maxBytes && end - start > 1) {
      const mid = start + ((end - start) >>> 1);
      send(batch, start, mid);
      send(batch, mid, end);
      return;
    }
    bodies.push({ data, points: end - start });
  };
  for (let b = 0; b < lines.length; b += batchMaxPoints) {
    const batch = lines.slice(b, b + batchMaxPoints);
    const sizes = lineSizes(batch);
    for (let start = 0; start < batch.length; ) {
      const end = packNext(sizes, start, budget(), batchMaxPoints);
      send(batch, start, end);
      start = end;
    }
  }
  return bodies;
}

export async function runSinkLoop(o: SinkLoopOptions): Promise<SinkLoopResult> {
  const spec = parseCatchpointBridgeManifest(manifest('sink', o.spec)).spec;
  const plan = buildMappingPlan(spec);
  const stats = newMappingStats();
  // What the v1 directory knows about each node (the bridge's directory loads these nodes).
  const nodes = new Map(o.nodes.map((n) => [String(n.id), expectedV1Info(n) as unknown as NodeInfo]));
  const source = new PushSource(o.tests, o.nodes, o.baseMs);
  const lines: string[] = [];
  for (let i = 0; i < o.pushes; i++) {
    const push = parsePush(source.next(), { type: 'json' });
    const info: NodeInfo = nodes.get(push.nodeId) ?? { id: push.nodeId };
    for (const line of mapPush(push, info, plan, stats)) lines.push(line);
  }
  const bodies = buildBodies(lines, spec.tsdb.batchMaxPoints, spec.tsdb.maxRequestBytes);
  let rawBytes = 0;
  for (const line of lines) rawBytes += Buffer.byteLength(line) + 1;
  const wireBytes = bodies.reduce((sum, b) => sum + b.data.length, 0);

  const url = new URL(o.putUrl);
  const pool = new Pool(url.origin, { connections: o.concurrency, pipelining: 1 });
  const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
  let next = 0;
  let failures = 0;
  let counting = false;
  let points = 0;
  let requests = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const body = bodies[next++ % bodies.length]!;
      const res = await pool.request({ path: '/api/put?details', method: 'POST', headers, body: body.data });
      await res.body.dump();
      if (res.statusCode !== 204 && res.statusCode !== 200) failures++;
      else if (counting) {
        points += body.points;
        requests++;
      }
    }
  };
  const workers = Array.from({ length: o.concurrency }, worker);
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  const pointsPerSecond: number[] = [];
  const requestsPerSecond: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  o.onMeasuring?.();
  for (let trial = 0; trial < o.trials; trial++) {
    points = 0;
    requests = 0;
    counting = true;
    const start = performance.now();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    counting = false;
    const seconds = (performance.now() - start) / 1000;
    pointsPerSecond.push(points / seconds);
    requestsPerSecond.push(requests / seconds);
  }
  const cpu = process.cpuUsage(cpu0);
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  await pool.close();
  return {
    pointsPerSecond,
    requestsPerSecond,
    pointsPerRequest: lines.length / bodies.length,
    wireBytesPerRequest: wireBytes / bodies.length,
    gzipRatio: rawBytes / wireBytes,
    bodies: bodies.length,
    poolPoints: lines.length,
    failures,
    loopCores: (cpu.user + cpu.system) / 1e6 / elapsed,
  };
}

if (import.meta.main) {
  const options = JSON.parse(process.argv[2] ?? '') as SinkLoopOptions;
  options.onMeasuring = () => process.stdout.write(`${JSON.stringify({ event: 'measuring' })}\n`);
  const result = await runSinkLoop(options);
  process.stdout.write(`${JSON.stringify({ event: 'done', result })}\n`);
}
