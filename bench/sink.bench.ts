/**
 * Sink ceiling: what VictoriaMetrics takes over /api/put from one client sending the bridge's
 * own request bodies (bench/sink-loop.ts, pinned to the bridge's core), with VictoriaMetrics on
 * the load generator's core as in every other suite. Baseline for the bridge's datapoints/s.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { benchSpec } from './lib/bridge.ts';
import type { BenchContext } from './lib/context.ts';
import { CpuMeter, pin } from './lib/proc.ts';
import { type Figure, figure } from './lib/stats.ts';
import type { SinkLoopOptions, SinkLoopResult } from './sink-loop.ts';

export interface SinkResult {
  /** Datapoints/s VictoriaMetrics acknowledged. */
  pointsPerSecond: Figure;
  /** The same, from VictoriaMetrics' own vm_rows_inserted_total over the measured runs. */
  vmRowsPerSecond: number;
  pointsPerRequest: number;
  wireBytesPerRequest: number;
  gzipRatio: number;
  concurrency: number;
  vmCores: number;
  loopCores: number;
  failures: number;
}

/** Requests in flight: the bridge's HttpWriter pool size (4 sockets). */
const CONCURRENCY = 4;

export async function runSink(ctx: BenchContext): Promise<SinkResult> {
  const { options } = ctx;
  const loopOptions: SinkLoopOptions = {
    putUrl: ctx.vm.httpPutUrl,
    spec: benchSpec(ctx.vm.httpPutUrl, ctx.catchpoint.url, 'fsync'),
    tests: ctx.tests,
    nodes: ctx.nodes,
    baseMs: Date.now() - 12 * 3600_000,
    // Every (test, node) series several times over.
    pushes: ctx.tests.length * ctx.nodes.length * (options.quick ? 2 : 4),
    concurrency: CONCURRENCY,
    warmupSeconds: options.warmupSeconds,
    seconds: options.seconds,
    trials: options.trials,
  };
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'sink-loop.ts'), JSON.stringify(loopOptions)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (ctx.sutCpu !== undefined) pin(child.pid!, ctx.sutCpu);
  const vmPid = ctx.vm.pid()!;
  let measuring: { cpu: CpuMeter; rows: number; at: number } | undefined;
  let vmRowsPerSecond = Number.NaN;
  let vmCores = Number.NaN;
  let result: SinkLoopResult | undefined;
  let buffer = '';
  const lines: Promise<void>[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { event: string; result?: SinkLoopResult };
      buffer = buffer.slice(nl + 1);
      if (msg.event === 'measuring') {
        const cpu = new CpuMeter({ vm: vmPid });
        lines.push(
          ctx.vm.rowsInserted('opentsdbhttp').then((rows) => {
            measuring = { cpu, rows, at: performance.now() };
          }),
        );
      } else if (msg.event === 'done') {
        result = msg.result;
        vmCores = measuring?.cpu.read().vm ?? Number.NaN;
        const m = measuring;
        lines.push(
          ctx.vm.rowsInserted('opentsdbhttp').then((rows) => {
            if (m !== undefined) vmRowsPerSecond = (rows - m.rows) / ((performance.now() - m.at) / 1000);
          }),
        );
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  await Promise.all(lines);
  if (code !== 0 || result === undefined) throw new Error(`sink loop exited with ${code}`);
  const r = result;
  return {
    pointsPerSecond: figure(r.pointsPerSecond),
    vmRowsPerSecond,
    pointsPerRequest: r.pointsPerRequest,
    wireBytesPerRequest: r.wireBytesPerRequest,
    gzipRatio: r.gzipRatio,
    concurrency: CONCURRENCY,
    vmCores,
    loopCores: r.loopCores,
    failures: r.failures,
  };
}
