/**
 * Ingress: pushes/s the bridge acknowledges at saturation (autocannon, `connections` keep-alive
 * connections, every push distinct) against the ceiling of the same fastify doing nothing, and
 * the datapoints/s it writes to VictoriaMetrics meanwhile. Baseline and bridges take turns
 * (noop, fsync, buffered; `trials` times), so drift on the machine hits all of them alike.
 */
import type { BenchBridge, BridgeMetricsSample } from './lib/bridge.ts';
import type { BenchContext } from './lib/context.ts';
import { type DiskCommitResult, measureCommits } from './lib/disk.ts';
import { type LoadResult, paced, saturate } from './lib/load.ts';
import type { NoopServer } from './lib/noop.ts';
import { CpuMeter, RssSampler } from './lib/proc.ts';
import { POINTS_PER_PUSH } from './lib/pushes.ts';
import { type Figure, figure } from './lib/stats.ts';

export interface Suts {
  noop: NoopServer;
  fsync: BenchBridge;
  buffered: BenchBridge;
}

export interface IngressRun {
  pushesPerSecond: number;
  perSecondStddev: number;
  refused: Record<string, number>;
  errors: number;
  /** At saturation: how long a push waits in the queue, not a latency target. */
  saturatedP99Ms: number;
  sutCores: number;
  vmCores: number;
  loadgenCores: number;
  /** Peak RSS of the process under test during the run. */
  rssPeakBytes: number;
  /** Bridges only, from their /metrics over the run. */
  bridge?: {
    datapointsWrittenPerSecond: number;
    datapointsSpooledPerSecond: number;
    /** Datapoints spooled per accepted push (14 with the seed spec and a loaded directory). */
    datapointsPerPush: number;
    /** Spool backlog added during the run (datapoints). */
    backlogGrowth: number;
    /** VictoriaMetrics' vm_rows_inserted_total over the run. */
    vmRowsPerSecond: number;
    /** After the run: seconds until the spool was empty again. */
    catchUpSeconds: number;
  };
}

export interface IngressSeries {
  pushesPerSecond: Figure;
  datapointsWrittenPerSecond?: Figure;
  runs: IngressRun[];
}

/** One step of the search for the highest rate the fsync bridge delivers as fast as it takes. */
export interface SustainedStep {
  rate: number;
  /** Accepted by the bridge per second, from the first push sent to the last one answered. */
  pushesPerSecond: number;
  datapointsWrittenPerSecond: number;
  /** Written ÷ (acknowledged × 14) over the run. */
  deliveredShare: number;
  catchUpSeconds: number;
  refused: number;
  sustained: boolean;
}

export interface IngressResult {
  connections: number;
  /** The spool disk's commit latency, measured before the runs. */
  disk: DiskCommitResult;
  noop: IngressSeries;
  fsync: IngressSeries;
  buffered: IngressSeries;
  /** Highest steady rate (pushes/s) at which the fsync bridge's delivery kept up; 0 if none. */
  sustainedPushesPerSecond: number;
  sustainedSteps: SustainedStep[];
}

async function measure(
  ctx: BenchContext,
  url: string,
  pid: number,
  bridge?: BenchBridge,
): Promise<IngressRun> {
  // The no-op server never reads bodies: one realistic body for all keeps the load generator
  // (which shares its core with VictoriaMetrics) from being the bound of the ceiling.
  const fixedBody = bridge === undefined ? ctx.pushes.body(0) : undefined;
  const vmPid = ctx.vm.pid()!;
  let m0: BridgeMetricsSample | undefined;
  let rows0 = 0;
  if (bridge !== undefined) {
    if (!(await bridge.waitForEmptySpool(120_000))) throw new Error('spool did not drain before a run');
    m0 = await bridge.metrics();
    rows0 = await ctx.vm.rowsInserted('opentsdbhttp');
  }
  const rss = new RssSampler(pid);
  const cpu = new CpuMeter({ sut: pid, vm: vmPid });
  const r: LoadResult = await saturate(url, ctx.pushes, {
    connections: ctx.options.connections,
    seconds: ctx.options.seconds,
    ...(fixedBody === undefined ? {} : { fixedBody }),
  });
  const cores = cpu.read();
  const rssPeakBytes = rss.stop();
  const run: IngressRun = {
    pushesPerSecond: r.okPerSecond,
    perSecondStddev: r.perSecondStddev ?? 0,
    refused: r.refused,
    errors: r.errors,
    saturatedP99Ms: r.latencyMs.p99,
    sutCores: cores.sut ?? Number.NaN,
    vmCores: cores.vm ?? Number.NaN,
    loadgenCores: r.loadgenCores,
    rssPeakBytes,
  };
  if (bridge !== undefined && m0 !== undefined) {
    const m1 = await bridge.metrics();
    const rows1 = await ctx.vm.rowsInserted('opentsdbhttp');
    const seconds = (m1.at - m0.at) / 1000;
    const drainStart = performance.now();
    const drained = await bridge.waitForEmptySpool(120_000);
    run.bridge = {
      datapointsWrittenPerSecond: (m1.datapointsWritten - m0.datapointsWritten) / seconds,
      datapointsSpooledPerSecond: (m1.datapointsSpooled - m0.datapointsSpooled) / seconds,
      datapointsPerPush:
        (m1.datapointsSpooled - m0.datapointsSpooled) / Math.max(1, m1.pushesAccepted - m0.pushesAccepted),
      backlogGrowth: m1.spoolDatapoints - m0.spoolDatapoints,
      vmRowsPerSecond: (rows1 - rows0) / seconds,
      catchUpSeconds: drained ? (performance.now() - drainStart) / 1000 : Number.NaN,
    };
  }
  return run;
}

function series(runs: IngressRun[]): IngressSeries {
  const out: IngressSeries = {
    pushesPerSecond: figure(
      runs.map((r) => r.pushesPerSecond),
      runs[0]?.perSecondStddev ?? 0,
    ),
    runs,
  };
  if (runs.every((r) => r.bridge !== undefined)) {
    out.datapointsWrittenPerSecond = figure(runs.map((r) => r.bridge!.datapointsWrittenPerSecond));
  }
  return out;
}

/**
 * Sustained when the bridge took the offered rate (≥ 95% of it, counting until the last answer:
 * a bridge falling behind stretches the run), delivery wrote ≥ 95% of that in-run, and the
 * spool was empty again within 1 s.
 */
async function sustainedStep(ctx: BenchContext, bridge: BenchBridge, rate: number): Promise<SustainedStep> {
  if (!(await bridge.waitForEmptySpool(120_000))) throw new Error('spool did not drain before a run');
  const m0 = await bridge.metrics();
  const r = await paced(bridge.pushUrl, ctx.pushes, {
    rate,
    seconds: ctx.options.seconds,
    connections: ctx.options.connections,
  });
  const m1 = await bridge.metrics();
  const t = performance.now();
  const drained = await bridge.waitForEmptySpool(120_000);
  const catchUpSeconds = drained ? (performance.now() - t) / 1000 : Number.NaN;
  const seconds = (m1.at - m0.at) / 1000;
  const accepted = m1.pushesAccepted - m0.pushesAccepted;
  const written = m1.datapointsWritten - m0.datapointsWritten;
  let refused = r.errors;
  for (const n of Object.values(r.refused)) refused += n;
  const deliveredShare = written / Math.max(1, accepted * POINTS_PER_PUSH);
  const pushesPerSecond = accepted / seconds;
  return {
    rate,
    pushesPerSecond,
    datapointsWrittenPerSecond: written / seconds,
    deliveredShare,
    catchUpSeconds,
    refused,
    sustained:
      refused === 0 && pushesPerSecond >= 0.95 * rate && deliveredShare >= 0.95 && catchUpSeconds <= 1,
  };
}

/**
 * Steady rates from what delivery managed during saturation upwards, ×1.2 a step, until one is
 * not sustained (at most `maxSteps`).
 */
async function searchSustained(
  ctx: BenchContext,
  bridge: BenchBridge,
  start: number,
  maxSteps: number,
): Promise<{ best: number; steps: SustainedStep[] }> {
  const steps: SustainedStep[] = [];
  let best = 0;
  let rate = Math.max(100, Math.floor(start / 100) * 100);
  for (let i = 0; i < maxSteps; i++) {
    const step = await sustainedStep(ctx, bridge, rate);
    steps.push(step);
    ctx.log(
      `  sustained? ${rate}/s offered: ${step.pushesPerSecond.toFixed(0)}/s taken, ${(step.deliveredShare * 100).toFixed(0)}% delivered in-run, caught up in ${step.catchUpSeconds.toFixed(1)} s → ${step.sustained ? 'yes' : 'no'}`,
    );
    if (!step.sustained) {
      if (i === 0 && rate > 100) {
        rate = Math.max(100, Math.floor((rate * 0.7) / 100) * 100); // started too high: step down once
        continue;
      }
      break;
    }
    best = rate;
    rate = Math.floor((rate * 1.2) / 100) * 100;
  }
  return { best, steps };
}

export async function runIngress(ctx: BenchContext, suts: Suts): Promise<IngressResult> {
  const { options } = ctx;
  const disk = await measureCommits(Math.min(3, options.seconds));
  ctx.log(
    `  spool disk: ${disk.commitsPerSecond.toFixed(0)} commits/s one at a time, p50 ${disk.p50Ms.toFixed(2)} ms, p99 ${disk.p99Ms.toFixed(2)} ms`,
  );
  const warm = (url: string) =>
    saturate(url, ctx.pushes, { connections: options.connections, seconds: options.warmupSeconds });
  const targets = [
    { name: 'noop' as const, url: suts.noop.pushUrl, pid: suts.noop.pid, bridge: undefined },
    { name: 'fsync' as const, url: suts.fsync.pushUrl, pid: suts.fsync.pid, bridge: suts.fsync },
    { name: 'buffered' as const, url: suts.buffered.pushUrl, pid: suts.buffered.pid, bridge: suts.buffered },
  ];
  const runs: Record<'noop' | 'fsync' | 'buffered', IngressRun[]> = { noop: [], fsync: [], buffered: [] };
  for (let trial = 0; trial < options.trials; trial++) {
    for (const t of targets) {
      if (trial === 0) {
        await warm(t.url);
        if (t.bridge !== undefined) await t.bridge.waitForEmptySpool(120_000);
      }
      const run = await measure(ctx, t.url, t.pid, t.bridge);
      runs[t.name].push(run);
      ctx.log(
        `  ingress ${t.name} #${trial + 1}: ${run.pushesPerSecond.toFixed(0)} pushes/s` +
          (run.bridge === undefined
            ? ''
            : `, ${run.bridge.datapointsWrittenPerSecond.toFixed(0)} datapoints/s written, caught up in ${run.bridge.catchUpSeconds.toFixed(1)} s`),
      );
    }
  }
  const fsync = series(runs.fsync);
  const start = (fsync.datapointsWrittenPerSecond?.mean ?? 0) / POINTS_PER_PUSH;
  const sustained = await searchSustained(ctx, suts.fsync, start, options.quick ? 3 : 5);
  return {
    connections: options.connections,
    disk,
    noop: series(runs.noop),
    fsync,
    buffered: series(runs.buffered),
    sustainedPushesPerSecond: sustained.best,
    sustainedSteps: sustained.steps,
  };
}
