/**
 * Telegraf, the peer (bench/lib/telegraf.ts), measured the way ingress.bench.ts and
 * latency.bench.ts measure the bridge: alone on the bridge's core, the same load generator and
 * connections, pushes of the same shape (test ids of its own, so that what it delivered can be
 * counted in VictoriaMetrics by query):
 *
 *  - saturation: pushes/s answered 200, datapoints/s VictoriaMetrics took during the run
 *    (vm_rows_inserted_total, as for the bridge), then the datapoints found by query once
 *    Telegraf's buffer is flushed against the 14 per acknowledged push;
 *  - acknowledgement latency at the rate the bridge's latency suite used (half the fsync
 *    bridge's ceiling);
 *  - RSS idle and its peak under saturation.
 */

import { figures, type LatencyFigures } from './latency.bench.ts';
import type { BenchContext } from './lib/context.ts';
import { spawnUnpinned } from './lib/context.ts';
import { Phase, settleFound } from './lib/found.ts';
import { type LoadResult, paced, saturate } from './lib/load.ts';
import { CpuMeter, RssSampler, rssBytes } from './lib/proc.ts';
import { POINTS_PER_PUSH } from './lib/pushes.ts';
import { type Figure, figure } from './lib/stats.ts';
import { startTelegraf, type TelegrafProcess } from './lib/telegraf.ts';

export interface TelegrafRun {
  pushesPerSecond: number;
  perSecondStddev: number;
  refused: number;
  errors: number;
  /** VictoriaMetrics' vm_rows_inserted_total{type="opentsdbhttp"} over the run, per second. */
  vmRowsPerSecond: number;
  /** Datapoints found by query after the run settled, and 14 × acknowledged pushes. */
  found: number;
  expected: number;
  /** Samples stored twice (a batch re-sent after a partial failure). */
  duplicates: number;
  /** Metrics Telegraf logged as dropped from its buffer during the run. */
  droppedByTelegraf: number;
  /** Seconds after the load until the count stopped moving (or was complete). */
  settleSeconds: number;
  sutCores: number;
  vmCores: number;
  loadgenCores: number;
  rssPeakBytes: number;
}

export interface TelegrafResult {
  binary: string;
  rssIdleBytes: number;
  pushesPerSecond: Figure;
  vmRowsPerSecond: Figure;
  runs: TelegrafRun[];
  latency: LatencyFigures & {
    rate: number;
    /** Datapoints found by query after the runs, and 14 × acknowledged pushes. */
    found: number;
    expected: number;
  };
}

/** Telegraf flushes every second: a count that has not moved for 2 s is what it delivered. */
const SETTLE = { quietMs: 2000, timeoutMs: 60_000 };

async function saturationRun(
  ctx: BenchContext,
  telegraf: TelegrafProcess,
  phase: Phase,
): Promise<TelegrafRun> {
  const vmPid = ctx.vm.pid()!;
  const dropped0 = telegraf.droppedMetrics();
  const rows0 = await ctx.vm.rowsInserted('opentsdbhttp');
  const t0 = performance.now();
  const rss = new RssSampler(telegraf.pid);
  const cpu = new CpuMeter({ sut: telegraf.pid, vm: vmPid });
  const r = await saturate(telegraf.pushUrl, phase.source, {
    connections: ctx.options.connections,
    seconds: ctx.options.seconds,
    headers: telegraf.headers,
  });
  const cores = cpu.read();
  const rows1 = await ctx.vm.rowsInserted('opentsdbhttp');
  const seconds = (performance.now() - t0) / 1000;
  const rssPeakBytes = rss.stop();
  const expected = r.ok * POINTS_PER_PUSH;
  const settled = await settleFound(ctx.vm, [phase], { ...SETTLE, rows0, expectedRows: expected });
  const found = settled.found[0]!;
  let refused = 0;
  for (const n of Object.values(r.refused)) refused += n;
  return {
    pushesPerSecond: r.okPerSecond,
    perSecondStddev: r.perSecondStddev ?? 0,
    refused,
    errors: r.errors,
    vmRowsPerSecond: (rows1 - rows0) / seconds,
    found,
    expected,
    duplicates: Math.max(0, settled.raw[0]! - found),
    droppedByTelegraf: telegraf.droppedMetrics() - dropped0,
    settleSeconds: settled.waitedSeconds,
    sutCores: cores.sut ?? Number.NaN,
    vmCores: cores.vm ?? Number.NaN,
    loadgenCores: r.loadgenCores,
    rssPeakBytes,
  };
}

/** `latencyRate`: the steady rate latency.bench.ts sent the bridge. */
export async function runTelegraf(
  ctx: BenchContext,
  binary: string,
  latencyRate: number,
): Promise<TelegrafResult> {
  const { options } = ctx;
  const telegraf = await spawnUnpinned(ctx, () =>
    startTelegraf({ binary, tsdbUrl: ctx.vm.httpPutUrl, nodes: ctx.nodes, cpu: ctx.sutCpu }),
  );
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdleBytes = rssBytes(telegraf.pid);

    // Warm-up (phase 0; not under --quick: a Go binary has no JIT to warm, this only opens the
    // connections and fills VictoriaMetrics' caches), then let it deliver before measuring.
    if (!options.quick) {
      const warmPhase = new Phase(0, ctx.tests, ctx.nodes);
      const warmRows0 = await ctx.vm.rowsInserted('opentsdbhttp');
      const warm = await saturate(telegraf.pushUrl, warmPhase.source, {
        connections: options.connections,
        seconds: options.warmupSeconds,
        headers: telegraf.headers,
      });
      await settleFound(ctx.vm, [], { ...SETTLE, rows0: warmRows0, expectedRows: warm.ok * POINTS_PER_PUSH });
    }

    const runs: TelegrafRun[] = [];
    for (let trial = 0; trial < options.trials; trial++) {
      const run = await saturationRun(ctx, telegraf, new Phase(1 + trial, ctx.tests, ctx.nodes));
      runs.push(run);
      ctx.log(
        `  telegraf #${trial + 1}: ${run.pushesPerSecond.toFixed(0)} pushes/s, ${run.vmRowsPerSecond.toFixed(0)} datapoints/s into VictoriaMetrics; ` +
          `found ${run.found} of ${run.expected} (${((run.found / Math.max(1, run.expected)) * 100).toFixed(1)}%) after ${run.settleSeconds.toFixed(1)} s` +
          (run.droppedByTelegraf > 0 ? `, Telegraf logged ${run.droppedByTelegraf} dropped` : ''),
      );
    }

    // Latency: as latency.bench.ts, `trials` paced runs at the bridge's rate (phases 10+).
    const latencyRuns: LoadResult[] = [];
    const latencyPhases: Phase[] = [];
    const latencyRows0 = await ctx.vm.rowsInserted('opentsdbhttp');
    for (let trial = 0; trial < options.trials; trial++) {
      const phase = new Phase(10 + trial, ctx.tests, ctx.nodes);
      latencyPhases.push(phase);
      const r = await paced(telegraf.pushUrl, phase.source, {
        rate: latencyRate,
        seconds: options.seconds,
        connections: options.connections,
        headers: telegraf.headers,
      });
      latencyRuns.push(r);
      ctx.log(
        `  latency telegraf #${trial + 1} @ ${latencyRate}/s: p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms (load generator's event-loop delay p99 ${r.loadgenDelayMs?.p99.toFixed(1)}, max ${r.loadgenDelayMs?.max.toFixed(1)} ms)`,
      );
    }
    const latency = figures(latencyRuns);
    const expected = latencyRuns.reduce((sum, r) => sum + r.ok, 0) * POINTS_PER_PUSH;
    const settled = await settleFound(ctx.vm, latencyPhases, {
      ...SETTLE,
      rows0: latencyRows0,
      expectedRows: expected,
    });
    const found = settled.found.reduce((a, b) => a + b, 0);
    ctx.log(`  telegraf latency runs: found ${found} of ${expected} datapoints`);
    return {
      binary,
      rssIdleBytes,
      pushesPerSecond: figure(
        runs.map((run) => run.pushesPerSecond),
        runs[0]?.perSecondStddev ?? 0,
      ),
      vmRowsPerSecond: figure(runs.map((run) => run.vmRowsPerSecond)),
      runs,
      latency: { ...latency, rate: latencyRate, found, expected },
    };
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\ntelegraf log:\n${telegraf.logs.slice(-10).join('\n')}`,
    );
  } finally {
    await telegraf.stop();
  }
}
