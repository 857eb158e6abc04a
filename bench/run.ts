/**
 * `npm run bench [-- --quick]`: the bridge end to end against a real VictoriaMetrics, every figure
 * next to a baseline measured in the same run (house rule 14):
 *
 *   sink.bench.ts      raw batched /api/put into VictoriaMetrics (the sink ceiling)
 *   ingress.bench.ts   a no-op fastify (the ingress ceiling) vs the bridge, fsync and buffered,
 *                      and the highest steady rate the fsync bridge delivers in full
 *   latency.bench.ts   acknowledgement latency at half the bridge's ceiling, vs the no-op
 *   outage.bench.ts    RSS with the spool full during a TSDB outage, and the drain after it
 *   telegraf.bench.ts  the peer users pick instead (Telegraf, bench/lib/telegraf.ts) on the same
 *                      core under the same load: pushes/s, datapoints found, latency, RSS
 *   loss.bench.ts      a steady stream into the bridge and Telegraf with VictoriaMetrics down in
 *                      the middle: sent, acknowledged, found; and the series each writes
 *   profile.bench.ts   the bridge under `--cpu-prof`: top self time
 *   operator.bench.ts  N CatchpointBridges to Ready (real controllers, kwok nodes) vs the same
 *                      children applied without the operator; CR edit to the first datapoint
 *                      with the new dimension vs a plain watch seeing the edit
 *
 * CPU layout on a machine with ≥ 2 cores: this process (the load generator), VictoriaMetrics and
 * the Catchpoint REST stand-in on CPU 0; the process under test (bridge, no-op server or sink
 * loop) alone on CPU 1, via taskset. Everything runs at nice -10 (inherited from this process),
 * VictoriaMetrics at -5 so it does not delay the load generator, and all of it ahead of
 * whatever else runs on the machine (that load is measured and printed too).
 *
 * Prints a table and writes bench/results/bench-<timestamp>.json (+ the .cpuprofile). Exits
 * non-zero only on errors; missed targets are reported, not enforced.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { compileCli } from '../test/harness/compiled-cli.ts';
import { startFakeCatchpoint } from '../test/harness/fake-catchpoint.ts';
import { startVictoriaMetrics } from '../test/harness/victoria-metrics.ts';
import { runIngress, type Suts } from './ingress.bench.ts';
import { runLatency } from './latency.bench.ts';
import { type BenchContext, type BenchOptions, sleep, spawnUnpinned, startBridge } from './lib/context.ts';
import { machineInfo, machineLine } from './lib/machine.ts';
import { startNoopServer } from './lib/noop.ts';
import { affinity, ForeignLoad, pin, renice, rssBytes } from './lib/proc.ts';
import { PushSource } from './lib/pushes.ts';
import {
  type BenchResults,
  buildRows,
  renderBounds,
  renderPeer,
  renderProfile,
  renderTable,
} from './lib/report.ts';
import { buildTelegraf } from './lib/telegraf.ts';
import { runLoss } from './loss.bench.ts';
import { runOperatorBench } from './operator.bench.ts';
import { runOutage } from './outage.bench.ts';
import { runProfile } from './profile.bench.ts';
import { runSink } from './sink.bench.ts';
import { runTelegraf } from './telegraf.bench.ts';

const USAGE = `usage: npm run bench [-- options]
  --quick              short runs for CI (~1.5 min): 3 s per run, 1 trial, 25k datapoints in the outage,
                       VictoriaMetrics down 3 s (not 30 s) in the loss scenario
  --seconds N          length of each measured run (default 10, quick 3)
  --trials N           measured runs per figure, interleaved with the baseline (default 3, quick 1)
  --connections N      load generator connections (default 32)
  --outage-points N    datapoints to hold in the spool during the outage (default 100000, quick 25000)
  --no-profile         skip the --cpu-prof run
  --crs N              CatchpointBridges in the operator suite (default 500, quick 50)
  --no-operator        skip the operator suite (it needs build.sh --workloads: kwok and friends)
  --no-pin             do not pin processes to CPUs
  --bridge-node-options FLAGS
                       extra Node/V8 flags for every bridge (on its command line), to compare settings
`;

function options(argv: string[]): BenchOptions & { pin: boolean } {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      trials: { type: 'string' },
      connections: { type: 'string' },
      'outage-points': { type: 'string' },
      profile: { type: 'boolean', default: true },
      operator: { type: 'boolean', default: true },
      crs: { type: 'string' },
      pin: { type: 'boolean', default: true },
      help: { type: 'boolean', default: false },
      'bridge-node-options': { type: 'string', default: '' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  const num = (v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
    return n;
  };
  return {
    quick,
    seconds: num(values.seconds, quick ? 3 : 10),
    warmupSeconds: quick ? 1 : 2,
    trials: Math.round(num(values.trials, quick ? 1 : 3)),
    connections: Math.round(num(values.connections, 32)),
    outagePoints: Math.round(num(values['outage-points'], quick ? 25_000 : 100_000)),
    profile: values.profile,
    operatorCrs: values.operator ? Math.round(num(values.crs, quick ? 50 : 500)) : 0,
    pin: values.pin,
    bridgeNodeOptions: values['bridge-node-options'],
    resultsDir: join(import.meta.dirname, 'results'),
  };
}

const log = (message: string) => process.stderr.write(`${message}\n`);

/** Nice value of this process and (inherited) everything it starts. */
const BENCH_NICE = -10;
/** VictoriaMetrics runs this much nicer than the load generator it shares a core with. */
const VM_NICE_OFFSET = 5;

/** Everything started, newest last: closed in reverse on the way out, also on SIGINT/SIGTERM. */
const open: Array<{ name: string; close(): Promise<unknown> }> = [];

async function closeAll(): Promise<void> {
  for (const r of open.splice(0).reverse()) {
    try {
      await r.close();
    } catch (err) {
      log(`closing ${r.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything started`);
    void closeAll().finally(() => process.exit(130));
  });
}

/** Runs a suite, logging what else loaded the machine meanwhile. */
async function suite<T>(name: string, run: () => Promise<T>, foreign: Record<string, number>): Promise<T> {
  log(name);
  const load = new ForeignLoad();
  const t0 = performance.now();
  const result = await run();
  foreign[name.split(':')[0]!] = load.read();
  log(`  (${name.split(':')[0]} took ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  return result;
}

async function main(): Promise<void> {
  const started = performance.now();
  const opts = options(process.argv.slice(2));
  const machine = machineInfo();
  log(`machine: ${machineLine(machine)}`);

  // CPU 0: this process and everything it starts, until re-pinned; CPU 1: the process under test.
  const pinning = opts.pin && machine.taskset && machine.cores >= 2;
  if (pinning) pin(process.pid, '0');
  let nice = 0;
  if (pinning) {
    try {
      renice(process.pid, BENCH_NICE);
      nice = BENCH_NICE;
    } catch {
      log('could not raise the benchmark priority (needs CAP_SYS_NICE); running at nice 0');
    }
  }
  const sutCpu = pinning ? '1' : undefined;
  const layout = pinning
    ? `load generator, VictoriaMetrics and Catchpoint stand-in on CPU 0; process under test alone on CPU 1 (taskset); nice ${nice}${nice === 0 ? '' : `, VictoriaMetrics ${nice + VM_NICE_OFFSET}`}`
    : 'not pinned';
  log(`layout: ${layout}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(opts.resultsDir, { recursive: true });
  const jsonFile = join(opts.resultsDir, `bench-${stamp}.json`);

  const foreign: Record<string, number> = {};
  const machineLoad = new ForeignLoad();
  try {
    // The bridge runs as the image runs it: compiled JavaScript, not type-stripped sources.
    const [cli, telegrafBinary] = await Promise.all([
      compileCli(),
      buildTelegraf().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
    ]);
    log(`bridge: ${relative(process.cwd(), cli)} (npm run build)`);
    log(
      telegrafBinary instanceof Error
        ? `telegraf: NOT BUILT, its section fails: ${telegrafBinary.message.split('\n')[0]}`
        : `telegraf: ${telegrafBinary} (scripts/peers/telegraf.sh)`,
    );
    const [vm, catchpoint] = await Promise.all([startVictoriaMetrics(), startFakeCatchpoint()]);
    open.push(
      { name: 'VictoriaMetrics', close: () => vm.close() },
      { name: 'Catchpoint stand-in', close: () => catchpoint.close() },
    );
    const vmNice = nice === 0 ? 0 : nice + VM_NICE_OFFSET;
    if (vmNice !== 0) renice(vm.pid()!, vmNice);
    const nodes = [...catchpoint.nodes];
    const tests = Array.from({ length: 20 }, (_, i) => 200_001 + i);
    const pushes = new PushSource(tests, nodes, Date.now() - 6 * 3600_000);
    pushes.selfCheck();
    const ctx: BenchContext = {
      options: opts,
      vm,
      catchpoint,
      nodes,
      tests,
      pushes,
      sutCpu,
      loadgenCpu: pinning ? '0' : undefined,
      vmNice,
      cli,
      log,
    };
    log(
      `pushes: ${tests.length} tests × ${nodes.length} nodes, 14 datapoints each; ${opts.trials} × ${opts.seconds} s per figure`,
    );

    const sink = await suite('sink: raw /api/put into VictoriaMetrics', () => runSink(ctx), foreign);
    log(`  ${Math.round(sink.pointsPerSecond.mean)} datapoints/s`);

    const noop = await spawnUnpinned(ctx, () => startNoopServer(sutCpu));
    open.push({ name: 'no-op server', close: () => noop.stop() });
    const fsync = await startBridge(ctx, 'fsync');
    open.push({ name: 'fsync bridge', close: () => fsync.stop() });
    const buffered = await startBridge(ctx, 'buffered');
    open.push({ name: 'buffered bridge', close: () => buffered.stop() });
    await sleep(1000);
    const idleRss = {
      noop: rssBytes(noop.pid),
      fsync: rssBytes(fsync.pid),
      buffered: rssBytes(buffered.pid),
    };
    const suts: Suts = { noop, fsync, buffered };
    for (const [name, pid] of Object.entries({ bridge: fsync.pid, noop: noop.pid, vm: vm.pid()! })) {
      log(`  ${name} pid ${pid} on CPUs ${affinity(pid) ?? '?'}`);
    }

    const ingress = await suite('ingress: saturating load', () => runIngress(ctx, suts), foreign);
    const rate = Math.max(1, Math.round(ingress.fsync.pushesPerSecond.mean / 2));
    const latency = await suite(
      `latency: steady ${rate} pushes/s`,
      () => runLatency(ctx, suts, rate),
      foreign,
    );
    // The three servers are done: stop them (newest first) before the outage.
    for (let i = 0; i < 3; i++) await open.pop()?.close();

    const outage = await suite(
      `outage: TSDB down until ${opts.outagePoints} datapoints are spooled`,
      () => runOutage(ctx),
      foreign,
    );

    // The peer, alone on the same core under the same load generator, then both through a TSDB
    // outage. A Telegraf that cannot be built or run fails its section (and the run's exit code).
    let telegraf: BenchResults['telegraf'];
    if (telegrafBinary instanceof Error) telegraf = { error: telegrafBinary.message };
    else {
      const bin = telegrafBinary;
      try {
        telegraf = await suite(
          `telegraf: saturating load, then ${rate} pushes/s`,
          () => runTelegraf(ctx, bin, rate),
          foreign,
        );
      } catch (err) {
        telegraf = { error: err instanceof Error ? err.message : String(err) };
        log(`telegraf: FAILED: ${telegraf.error}`);
      }
    }
    const loss = await suite(
      `loss: bridge and telegraf under a steady stream, VictoriaMetrics down ${opts.quick ? 3 : 30} s`,
      () => runLoss(ctx, telegrafBinary),
      foreign,
    );

    let profile: BenchResults['profile'];
    if (opts.profile) {
      profile = await suite(
        'profile: --cpu-prof under saturating load',
        () => runProfile(ctx, jsonFile.replace(/\.json$/, '.cpuprofile')),
        foreign,
      );
    }

    // Last, unpinned: the control plane, its controllers and the operator share both cores as they
    // would share a node.
    let operator: BenchResults['operator'];
    if (opts.operatorCrs > 0) {
      if (pinning) pin(process.pid, '0-1');
      operator = await suite(
        `operator: ${opts.operatorCrs} CatchpointBridges to Ready, live edit`,
        () => runOperatorBench({ crs: opts.operatorCrs, cli, vm, catchpoint, log }),
        foreign,
      );
    }

    const results: BenchResults = {
      sink,
      idleRss,
      ingress,
      latency,
      outage,
      ...(telegraf === undefined ? {} : { telegraf }),
      loss,
      ...(profile === undefined ? {} : { profile }),
      ...(operator === undefined ? {} : { operator }),
    };
    const rows = buildRows(results);
    const seconds = (performance.now() - started) / 1000;
    const otherLoad = machineLoad.read();
    const out = [
      '',
      `catchpoint-bridge benchmark${opts.quick ? ' (--quick)' : ''}, ${new Date().toISOString()}`,
      `machine: ${machineLine(machine)}`,
      `layout: ${layout}`,
      `load: ${opts.connections} connections, ${opts.trials} × ${opts.seconds} s per figure (± is half the spread of the trials, or the per-second stddev of a single one)`,
      `other work on the machine meanwhile: ${otherLoad.toFixed(2)} cores on average (${Object.entries(
        foreign,
      )
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')})`,
      '',
      renderTable(rows),
      '',
      'Telegraf (what users pick instead) against the fsync bridge, same run, same core, same load generator:',
      renderPeer(results),
      '',
      'CPU during the saturation runs (1.00 = one core; the server has one):',
      renderBounds(results),
      '',
      ...(profile === undefined
        ? []
        : ['Bridge CPU profile (fsync, saturated), top self time:', renderProfile(profile), '']),
      `took ${seconds.toFixed(0)} s; results: ${jsonFile}`,
      '',
    ];
    const peerFailed =
      results.telegraf === undefined || 'error' in results.telegraf || loss.telegraf === undefined;
    process.stdout.write(out.join('\n'));
    writeFileSync(
      jsonFile,
      `${JSON.stringify(
        {
          machine,
          layout,
          options: opts,
          otherLoadCores: otherLoad,
          otherLoadBySuite: foreign,
          rows,
          results,
          seconds,
        },
        null,
        2,
      )}\n`,
    );
    if (peerFailed) {
      log('bench: the Telegraf section failed (see above)');
      process.exitCode = 1;
    }
  } finally {
    await closeAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
