/**
 * Latency: push acknowledgement latency at half the fsync bridge's measured ceiling, sent at a
 * steady rate (open loop), for the no-op fastify (the floor the machine, the kernel and the load
 * generator set), the fsync bridge and the buffered bridge, taking turns. Also autocannon's own
 * `overallRate` against the fsync bridge, for reference: it sends each connection's share of a
 * second back to back at the top of the second, so it reports the latency of bursts.
 */
import type { Suts } from './ingress.bench.ts';
import type { BenchContext } from './lib/context.ts';
import { autocannonAtRate, type LoadResult, latencySummary, paced, pooledSamples } from './lib/load.ts';

export interface LatencyFigures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** p99 counted from each push's scheduled send time (includes load-generator lag). */
  scheduledP99: number;
  samples: number;
  refused: number;
  errors: number;
  /** p99 of each trial, to show the spread. */
  trialP99: number[];
  /** The load generator's own event-loop delay, worst trial: its stalls count in the latencies. */
  loadgenDelayP99: number;
  loadgenDelayMax: number;
}

export interface LatencyResult {
  rate: number;
  seconds: number;
  noop: LatencyFigures;
  fsync: LatencyFigures;
  buffered: LatencyFigures;
  /** autocannon overallRate against the fsync bridge (bursty; see above). */
  autocannonFsync: { p50: number; p99: number; max: number; okPerSecond: number };
}

/** Pooled latency figures of paced runs (also the Telegraf suite's). */
export function figures(runs: LoadResult[]): LatencyFigures {
  const pooled = pooledSamples(runs);
  const scheduled = runs.map((r) => r.scheduledLatencyMs?.p99 ?? Number.NaN);
  let refused = 0;
  for (const r of runs) for (const n of Object.values(r.refused)) refused += n;
  return {
    ...latencySummary(pooled),
    scheduledP99: Math.max(...scheduled),
    samples: pooled.length,
    refused,
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    trialP99: runs.map((r) => r.latencyMs.p99),
    loadgenDelayP99: Math.max(...runs.map((r) => r.loadgenDelayMs?.p99 ?? Number.NaN)),
    loadgenDelayMax: Math.max(...runs.map((r) => r.loadgenDelayMs?.max ?? Number.NaN)),
  };
}

export async function runLatency(ctx: BenchContext, suts: Suts, rate: number): Promise<LatencyResult> {
  const { options } = ctx;
  const runs: Record<'noop' | 'fsync' | 'buffered', LoadResult[]> = { noop: [], fsync: [], buffered: [] };
  const targets = [
    { name: 'noop' as const, url: suts.noop.pushUrl, bridge: undefined },
    { name: 'fsync' as const, url: suts.fsync.pushUrl, bridge: suts.fsync },
    { name: 'buffered' as const, url: suts.buffered.pushUrl, bridge: suts.buffered },
  ];
  for (let trial = 0; trial < options.trials; trial++) {
    for (const t of targets) {
      if (t.bridge !== undefined && !(await t.bridge.waitForEmptySpool(120_000))) {
        throw new Error('spool did not drain before a latency run');
      }
      const r = await paced(t.url, ctx.pushes, {
        rate,
        seconds: options.seconds,
        connections: options.connections,
      });
      runs[t.name].push(r);
      ctx.log(
        `  latency ${t.name} #${trial + 1} @ ${rate}/s: p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms (load generator's event-loop delay p99 ${r.loadgenDelayMs?.p99.toFixed(1)}, max ${r.loadgenDelayMs?.max.toFixed(1)} ms)`,
      );
    }
  }
  await suts.fsync.waitForEmptySpool(120_000);
  const ac = await autocannonAtRate(suts.fsync.pushUrl, ctx.pushes, {
    rate,
    connections: options.connections,
    seconds: options.seconds,
  });
  return {
    rate,
    seconds: options.seconds,
    noop: figures(runs.noop),
    fsync: figures(runs.fsync),
    buffered: figures(runs.buffered),
    autocannonFsync: {
      p50: ac.latencyMs.p50,
      p99: ac.latencyMs.p99,
      max: ac.latencyMs.max,
      okPerSecond: ac.okPerSecond,
    },
  };
}
