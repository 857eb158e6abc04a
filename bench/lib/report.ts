/**
 * The results table: each figure of ours next to its baseline from the same run, their ratio,
 * and the target with a verdict. Targets are reported, never enforced (a missed target is a
 * finding, not an error).
 */
import type { IngressResult } from '../ingress.bench.ts';
import type { LatencyResult } from '../latency.bench.ts';
import type { LossResult, LossSide } from '../loss.bench.ts';
import type { OperatorBenchResult } from '../operator.bench.ts';
import type { OutageResult } from '../outage.bench.ts';
import type { ProfileResult } from '../profile.bench.ts';
import type { SinkResult } from '../sink.bench.ts';
import type { TelegrafResult } from '../telegraf.bench.ts';
import { POINTS_PER_PUSH } from './pushes.ts';
import { type Figure, ratio } from './stats.ts';

export interface IdleRss {
  noop: number;
  fsync: number;
  buffered: number;
}

export interface BenchResults {
  sink: SinkResult;
  idleRss: IdleRss;
  ingress: IngressResult;
  latency: LatencyResult;
  outage: OutageResult;
  /** The peer; `error` when it could not be built or run (the run then exits non-zero). */
  telegraf?: TelegrafResult | { error: string };
  loss: LossResult;
  profile?: ProfileResult;
  operator?: OperatorBenchResult;
}

export interface Row {
  figure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fig = (f: Figure) => `${int(f.mean)} ± ${int(f.tolerance)}`;
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const x = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

export function buildRows(r: BenchResults): Row[] {
  const { ingress, sink, latency, outage } = r;
  const noop = ingress.noop.pushesPerSecond;
  const fsync = ingress.fsync.pushesPerSecond;
  const buffered = ingress.buffered.pushesPerSecond;
  const written = ingress.fsync.datapointsWrittenPerSecond!;
  const sinkPts = sink.pointsPerSecond;
  const pushRatio = ratio(fsync.mean, noop.mean);
  const sinkRatio = ratio(written.mean, sinkPts.mean);
  // Every acknowledged datapoint written within the run: the figure is ingress-bound.
  const delivered = ratio(written.mean, fsync.mean * POINTS_PER_PUSH);
  const ingressBound = delivered >= 0.95;
  const peakLoad = Math.max(...ingress.fsync.runs.map((run) => run.rssPeakBytes));
  const peakNoop = Math.max(...ingress.noop.runs.map((run) => run.rssPeakBytes));
  const sustained = ingress.sustainedPushesPerSecond;
  const sustainedPts = sustained * POINTS_PER_PUSH;
  const disk = ingress.disk;
  const rows: Row[] = [
    {
      figure: 'Ingress: pushes/s acknowledged at saturation (fsync)',
      ours: fig(fsync),
      baseline: `no-op fastify ${fig(noop)} req/s`,
      ratio: x(pushRatio),
      target: '≥ 0.70× ceiling',
      verdict: verdict(pushRatio >= 0.7),
    },
    {
      figure: 'Ingress: pushes/s acknowledged at saturation (buffered)',
      ours: fig(buffered),
      baseline: `no-op fastify ${fig(noop)} req/s`,
      ratio: x(ratio(buffered.mean, noop.mean)),
      target: '–',
      verdict: '',
    },
    {
      figure: 'Sustained: highest steady pushes/s fully delivered in-run (fsync)',
      ours: sustained > 0 ? int(sustained) : 'none found',
      baseline: `no-op fastify ${fig(noop)} req/s`,
      ratio: x(ratio(sustained, noop.mean)),
      target: '–',
      verdict: '',
    },
    {
      figure: `Sink: datapoints/s written during saturation (fsync, ${POINTS_PER_PUSH}/push)`,
      ours: fig(written),
      baseline: `raw /api/put ${fig(sinkPts)} pts/s`,
      ratio: x(sinkRatio),
      target: '≥ 0.50× sink, or ingress-bound',
      verdict:
        sinkRatio >= 0.5
          ? 'met'
          : ingressBound
            ? `ingress-bound (${(delivered * 100).toFixed(0)}% of acknowledged datapoints written in-run)`
            : `MISSED: ${(delivered * 100).toFixed(0)}% of acknowledged datapoints written in-run (ingress starves delivery on the one core)`,
    },
    {
      figure: 'Sink: datapoints/s at the sustained rate (fsync)',
      ours: int(sustainedPts),
      baseline: `raw /api/put ${fig(sinkPts)} pts/s`,
      ratio: x(ratio(sustainedPts, sinkPts.mean)),
      target: '≥ 0.50× sink, or ingress-bound',
      verdict:
        ratio(sustainedPts, sinkPts.mean) >= 0.5
          ? 'met'
          : 'ingress-bound (every acknowledged datapoint written)',
    },
    {
      figure: `Sink: datapoints/s draining ${int(outage.spooledDatapoints)} spooled (no ingress)`,
      ours: int(outage.drainPointsPerSecond),
      baseline: `raw /api/put ${fig(sinkPts)} pts/s`,
      ratio: x(ratio(outage.drainPointsPerSecond, sinkPts.mean)),
      target: '–',
      verdict: '',
    },
    {
      figure: `Latency p50 / p99 at ${int(latency.rate)} pushes/s (½ fsync ceiling), fsync`,
      ours: `${ms(latency.fsync.p50)} / ${ms(latency.fsync.p99)} ms`,
      baseline: `no-op ${ms(latency.noop.p50)} / ${ms(latency.noop.p99)} ms`,
      ratio: x(ratio(latency.fsync.p99, latency.noop.p99)),
      target: 'p99 < 5 ms',
      verdict: verdict(latency.fsync.p99 < 5),
    },
    {
      figure: `Latency p50 / p99 at ${int(latency.rate)} pushes/s, buffered`,
      ours: `${ms(latency.buffered.p50)} / ${ms(latency.buffered.p99)} ms`,
      baseline: `no-op ${ms(latency.noop.p50)} / ${ms(latency.noop.p99)} ms`,
      ratio: x(ratio(latency.buffered.p99, latency.noop.p99)),
      target: '–',
      verdict: '',
    },
    {
      figure: "Load generator's own event-loop delay during those runs, p99 / max",
      ours: `fsync ${ms(latency.fsync.loadgenDelayP99)} / ${ms(latency.fsync.loadgenDelayMax)} ms, buffered ${ms(latency.buffered.loadgenDelayP99)} / ${ms(latency.buffered.loadgenDelayMax)} ms`,
      baseline: `no-op ${ms(latency.noop.loadgenDelayP99)} / ${ms(latency.noop.loadgenDelayMax)} ms`,
      ratio: '–',
      target: '–',
      verdict: '',
    },
    {
      figure: 'Durability cost: pushes/s at saturation, fsync vs buffered',
      ours: `fsync ${fig(fsync)}`,
      baseline: `buffered ${fig(buffered)}`,
      ratio: x(ratio(fsync.mean, buffered.mean)),
      target: '–',
      verdict: '',
    },
    {
      figure: `Durability cost: p99 at ${int(latency.rate)} pushes/s, fsync vs buffered`,
      ours: `fsync ${ms(latency.fsync.p99)} ms`,
      baseline: `buffered ${ms(latency.buffered.p99)} ms`,
      ratio: x(ratio(latency.fsync.p99, latency.buffered.p99)),
      target: '–',
      verdict: '',
    },
    {
      figure: 'Spool disk: one 2 KiB append + fdatasync, p50 / p99',
      ours: `${ms(disk.p50Ms)} / ${ms(disk.p99Ms)} ms`,
      baseline: `${int(disk.commitsPerSecond)} commits/s one at a time`,
      ratio: '–',
      target: '–',
      verdict: '',
    },
    {
      figure: 'RSS idle (fresh process)',
      ours: mib(r.idleRss.fsync),
      baseline: `no-op ${mib(r.idleRss.noop)}`,
      ratio: x(ratio(r.idleRss.fsync, r.idleRss.noop)),
      target: '–',
      verdict: '',
    },
    {
      figure: 'RSS peak under saturating load (fsync)',
      ours: mib(peakLoad),
      baseline: `no-op ${mib(peakNoop)}`,
      ratio: x(ratio(peakLoad, peakNoop)),
      target: '–',
      verdict: '',
    },
    {
      figure: `RSS with ${int(outage.spooledDatapoints)} datapoints spooled (TSDB down)`,
      ours: mib(outage.rssSpooledBytes),
      baseline: `same process idle ${mib(outage.rssIdleBytes)}`,
      ratio: x(ratio(outage.rssSpooledBytes, outage.rssIdleBytes)),
      target: '< 150 MB',
      verdict: verdict(outage.rssSpooledBytes < 150e6),
    },
    {
      figure: `Recovery: TSDB back → spool empty (${int(outage.spooledDatapoints)} datapoints)`,
      ours: `${(outage.resumeSeconds + outage.drainSeconds).toFixed(1)} s`,
      baseline: `resume ${outage.resumeSeconds.toFixed(1)} s (retry backoff) + drain ${outage.drainSeconds.toFixed(1)} s`,
      ratio: '–',
      target: '–',
      verdict: '',
    },
  ];
  if (r.operator !== undefined) rows.push(...operatorRows(r.operator));
  return rows;
}

function operatorRows(o: OperatorBenchResult): Row[] {
  const s = (n: number) => `${(n / 1000).toFixed(1)} s`;
  const per = (n: number) => n.toFixed(1);
  const e = o.liveEdit;
  return [
    {
      figure: `Operator: ${int(o.crs)} CatchpointBridges applied at once → all Ready (${o.replicas} pods each)`,
      ours: `${s(o.readyAllMs)} (all Reconciled ${s(o.reconciledAllMs)})`,
      baseline: `same children applied without the operator → all Available ${s(o.baselineAvailableMs)}`,
      ratio: x(ratio(o.readyAllMs, o.baselineAvailableMs)),
      target: o.crs >= 500 ? '< 60 s' : '< 60 s at 500',
      verdict: o.crs >= 500 ? verdict(o.readyAllMs < 60_000) : '',
    },
    {
      figure: 'Operator: API requests per CR (writes + Secret reads), reconciles per CR',
      ours: `${per(o.writesPerCr)} writes + ${o.readsPerCr.toFixed(2)} Secret reads, ${per(o.reconcilesPerCr)} reconciles`,
      baseline: '–',
      ratio: '–',
      target: '–',
      verdict: '',
    },
    {
      figure: 'Operator: RSS idle / peak during that',
      ours: `${o.rssIdleMB.toFixed(0)} / ${o.rssPeakMB.toFixed(0)} MiB`,
      baseline: '–',
      ratio: '–',
      target: '–',
      verdict: '',
    },
    {
      figure: `Live edit: CR dimensions edited → first datapoint with the new dimension (${e.pushesPerSecond} pushes/s)`,
      ours: `${ms(e.editToDatapointMs)} ms${e.refused > 0 ? ` (${e.refused} pushes refused)` : ''}`,
      baseline: `a plain watch sees the edit in ${ms(e.editToWatchMs)} ms`,
      ratio: x(ratio(e.editToDatapointMs, e.editToWatchMs)),
      target: '< 2 s',
      verdict: verdict(e.editToDatapointMs < 2000 && e.refused === 0),
    },
    {
      figure: 'Live edit: renamed credentials Secret → the Role names it',
      ours: `${ms(o.editToRoleMs)} ms`,
      baseline: '–',
      ratio: '–',
      target: '–',
      verdict: '',
    },
  ];
}

const pct = (part: number, whole: number) =>
  whole > 0 ? `${((part / whole) * 100).toFixed(part === whole ? 0 : 1)}%` : 'n/a';

function lossCell(side: LossSide | undefined, error: string | undefined): string {
  if (side === undefined) return `FAILED: ${error ?? 'not run'}`;
  const dropped = side.droppedByWriter ? `; says it dropped ${int(side.droppedByWriter)}` : '';
  return (
    `${int(side.sent)} sent, ${int(side.acknowledged)} acknowledged; ` +
    `${int(side.found)} of ${int(side.expected)} datapoints found (${pct(side.found, side.expected)})${dropped}`
  );
}

/** Bridge (fsync) and Telegraf side by side: Figure | Bridge | Telegraf. */
export function renderPeer(r: BenchResults): string {
  const { ingress, latency, loss, idleRss } = r;
  const rows: string[][] = [];
  const fsyncRuns = ingress.fsync.runs;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const t = r.telegraf;
  if (t === undefined || 'error' in t) {
    rows.push(['Telegraf', 'measured', `FAILED: ${(t?.error ?? 'not run').split('\n')[0]}`]);
  } else {
    const tRuns = t.runs;
    const found = tRuns.reduce((a, run) => a + run.found, 0);
    const expected = tRuns.reduce((a, run) => a + run.expected, 0);
    const dropped = tRuns.reduce((a, run) => a + run.droppedByTelegraf, 0);
    const dup = tRuns.reduce((a, run) => a + run.duplicates, 0);
    const bridgeCatchUp = Math.max(...fsyncRuns.map((run) => run.bridge?.catchUpSeconds ?? Number.NaN));
    rows.push(
      ['Pushes/s acknowledged at saturation', fig(ingress.fsync.pushesPerSecond), fig(t.pushesPerSecond)],
      [
        'Datapoints/s into VictoriaMetrics during saturation (its rows counter)',
        int(mean(fsyncRuns.map((run) => run.bridge?.vmRowsPerSecond ?? Number.NaN))),
        fig(t.vmRowsPerSecond),
      ],
      [
        `Acknowledged datapoints in VictoriaMetrics after saturation (${POINTS_PER_PUSH}/push)`,
        Number.isFinite(bridgeCatchUp)
          ? `all: spool empty ${bridgeCatchUp.toFixed(1)} s after the load (its counters)`
          : 'spool did not drain',
        `${int(found)} of ${int(expected)} by query (${pct(found, expected)})` +
          (dropped > 0 ? `; says it dropped ${int(dropped)}` : '') +
          (dup > 0 ? `; ${int(dup)} stored twice` : ''),
      ],
      [
        `Latency p50 / p99 at ${int(latency.rate)} pushes/s`,
        `${ms(latency.fsync.p50)} / ${ms(latency.fsync.p99)} ms`,
        `${ms(t.latency.p50)} / ${ms(t.latency.p99)} ms` +
          (t.latency.refused + t.latency.errors > 0
            ? ` (${t.latency.refused + t.latency.errors} refused)`
            : '') +
          `; ${int(t.latency.found)} of ${int(t.latency.expected)} datapoints found`,
      ],
      ['RSS idle (fresh process)', mib(idleRss.fsync), mib(t.rssIdleBytes)],
      [
        'RSS peak under saturating load',
        mib(Math.max(...fsyncRuns.map((run) => run.rssPeakBytes))),
        mib(Math.max(...tRuns.map((run) => run.rssPeakBytes))),
      ],
      [
        'Server cores during saturation (it has one)',
        mean(fsyncRuns.map((run) => run.sutCores)).toFixed(2),
        mean(tRuns.map((run) => run.sutCores)).toFixed(2),
      ],
    );
  }
  rows.push([
    `TSDB down ${loss.downSeconds} s in a ${loss.beforeSeconds + loss.downSeconds + loss.afterSeconds} s stream of ${int(loss.rate)} pushes/s to each`,
    lossCell(loss.bridge, undefined),
    lossCell(loss.telegraf, loss.telegrafError),
  ]);
  rows.push([
    'RSS peak during that',
    mib(loss.bridge.rssPeakBytes),
    loss.telegraf === undefined ? '–' : mib(loss.telegraf.rssPeakBytes),
  ]);
  if (loss.shape !== undefined) {
    const s = loss.shape;
    const ts = (list: number[]) =>
      list
        .map((v) => (v === s.pushTimestampMs ? 'the push time' : `${v - s.pushTimestampMs} ms off`))
        .join(', ');
    rows.push([
      'Series from one push (seed layout)',
      `${s.bridgeSeries} series; timestamp ${ts(s.bridgeTimestampsMs)}`,
      `${s.telegrafSeries} series, ${s.same ? "the bridge's names, tags and values" : `DIFFERENT: ${s.differences.slice(0, 3).join('; ')}`}; timestamp ${ts(s.telegrafTimestampsMs)}`,
    ]);
  }
  const head = ['Figure', 'Bridge (fsync)', 'Telegraf'];
  const lines = pad([head, head.map(() => ''), ...rows]).split('\n');
  lines[1] = lines[1]!.replace(/ /g, '-');
  return lines.join('\n');
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  return cells.map((row) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`).join('\n');
}

/** The table as Markdown (it reads fine in a terminal too). */
export function renderTable(rows: Row[]): string {
  const head = ['Figure', 'Bridge', 'Baseline (same run)', 'Ratio', 'Target', 'Verdict'];
  const body = rows.map((r) => [r.figure, r.ours, r.baseline, r.ratio, r.target, r.verdict]);
  const lines = pad([head, head.map(() => ''), ...body]).split('\n');
  lines[1] = lines[1]!.replace(/ /g, '-');
  return lines.join('\n');
}

export function renderProfile(p: ProfileResult): string {
  const s = p.summary;
  const rows = s.top.map((t, i) => [
    String(i + 1),
    `${t.selfMs.toFixed(0)} ms`,
    `${(t.share * 100).toFixed(1)}%`,
    t.origin,
    t.name,
  ]);
  const head = ['#', 'Self', 'Of busy', 'Origin', 'Function'];
  const lines = pad([head, head.map(() => ''), ...rows]).split('\n');
  lines[1] = lines[1]!.replace(/ /g, '-');
  const o = s.byOrigin;
  const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
  return [
    `Main thread busy ${s.busyMs.toFixed(0)} of ${s.wallMs.toFixed(0)} ms at ${int(p.pushesPerSecond)} pushes/s (profiler on). ` +
      `Self time: src ${pct(o.src)}, dependencies ${pct(o.dependency)}, node ${pct(o.node)}, V8 ${pct(o.v8)}.`,
    ...lines,
    `Longest busy stretches: ${s.longestBusyMs.map((b) => `${b.ms.toFixed(1)} ms (${b.mostly})`).join('; ')}`,
  ].join('\n');
}

/** Average CPU of each process during the saturation runs: which one was the bound. */
export function renderBounds(r: BenchResults): string {
  const rows = (['noop', 'fsync', 'buffered'] as const).map((name) => {
    const runs = r.ingress[name].runs;
    const avg = (f: (run: (typeof runs)[number]) => number) =>
      runs.reduce((a, run) => a + f(run), 0) / runs.length;
    return [
      name === 'noop' ? 'no-op fastify' : `bridge (${name})`,
      avg((run) => run.sutCores).toFixed(2),
      avg((run) => run.loadgenCores).toFixed(2),
      avg((run) => run.vmCores).toFixed(2),
      `${avg((run) => run.saturatedP99Ms).toFixed(0)} ms`,
    ];
  });
  const head = [
    'Saturation run',
    'Server cores',
    'Load generator cores',
    'VictoriaMetrics cores',
    'p99 (queueing)',
  ];
  const lines = pad([head, head.map(() => ''), ...rows]).split('\n');
  lines[1] = lines[1]!.replace(/ /g, '-');
  return lines.join('\n');
}
