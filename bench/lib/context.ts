/** What every benchmark suite gets from bench/run.ts: options, shared servers, CPU layout. */
import { availableParallelism } from 'node:os';
import { RUNTIME_NODE_FLAGS } from '../../src/shared/node-flags.ts';
import type { FakeCatchpoint, FakeNode } from '../../test/harness/fake-catchpoint.ts';
import type { VictoriaMetrics } from '../../test/harness/victoria-metrics.ts';
import type { BenchBridge } from './bridge.ts';
import { startBenchBridge } from './bridge.ts';
import { pin, renice } from './proc.ts';
import type { PushSource } from './pushes.ts';

export interface BenchOptions {
  quick: boolean;
  /** Length of one measured run. */
  seconds: number;
  /** Unmeasured load before the first run against a fresh process (JIT, connections). */
  warmupSeconds: number;
  /** Measured runs per figure, interleaved between baseline and ours. */
  trials: number;
  /** Keep-alive connections of the load generator. */
  connections: number;
  /** Datapoints to hold in the spool during the TSDB outage. */
  outagePoints: number;
  profile: boolean;
  /** CatchpointBridges in the operator suite; 0 skips it. */
  operatorCrs: number;
  /** Extra Node/V8 flags for every bridge, space-separated ('' for none). */
  bridgeNodeOptions: string;
  resultsDir: string;
}

export interface BenchContext {
  options: BenchOptions;
  vm: VictoriaMetrics;
  catchpoint: FakeCatchpoint;
  nodes: FakeNode[];
  tests: number[];
  /** One stream for the whole run, so no two pushes anywhere share (TestId, NodeId, Timestamp). */
  pushes: PushSource;
  /** CPU list of the process under test (bridge, no-op server, sink loop); undefined: unpinned. */
  sutCpu: string | undefined;
  /** CPU list of this process (the load generator); undefined: unpinned. */
  loadgenCpu: string | undefined;
  /** Nice value VictoriaMetrics runs at (it shares the load generator's core); 0: left alone. */
  vmNice: number;
  /** The bridge CLI under test: dist/cli.js, compiled at the start of the run (what the image runs). */
  cli: string;
  log(message: string): void;
}

/**
 * Runs `start` (which spawns a process) with this process allowed on every CPU, so the child
 * starts up the way it would in production (start-up on one shared core grows V8's heap by
 * ~40 MiB: its concurrent GC threads starve), then pins this process back. The caller pins the
 * child once it is up.
 */
export async function spawnUnpinned<T>(ctx: BenchContext, start: () => Promise<T>): Promise<T> {
  if (ctx.loadgenCpu === undefined) return start();
  pin(process.pid, ALL_CPUS);
  try {
    return await start();
  } finally {
    pin(process.pid, ctx.loadgenCpu);
  }
}

export const ALL_CPUS = `0-${availableParallelism() - 1}`;

/** A bridge for the suites: the default seed spec, pinned to the SUT core once up. */
export function startBridge(
  ctx: BenchContext,
  durability: 'fsync' | 'buffered',
  nodeOptions?: string,
): Promise<BenchBridge> {
  // The image's flags first (deploy/Dockerfile), then what the run adds.
  const flags = [...RUNTIME_NODE_FLAGS, ctx.options.bridgeNodeOptions, nodeOptions ?? '']
    .join(' ')
    .split(/\s+/)
    .filter((f) => f !== '');
  return spawnUnpinned(ctx, () =>
    startBenchBridge({
      tsdbUrl: ctx.vm.httpPutUrl,
      catchpoint: ctx.catchpoint,
      durability,
      cpu: ctx.sutCpu,
      cli: ctx.cli,
      nodeArgs: flags,
    }),
  );
}

/** Starts VictoriaMetrics again (after an outage) at the bench's nice value. */
export async function restartVm(ctx: BenchContext): Promise<void> {
  await ctx.vm.start();
  const pid = ctx.vm.pid();
  if (pid !== undefined && ctx.vmNice !== 0) renice(pid, ctx.vmNice);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
