/**
 * Loss: a steady push stream into a fresh fsync bridge and, at the same time and rate, into
 * Telegraf (both on the process-under-test core), with VictoriaMetrics down in the middle of it
 * (`downSeconds`), then back. Per side: pushes sent, acknowledged, and datapoints found in
 * VictoriaMetrics by query (distinct series and timestamp) once delivery has settled, against the
 * 14 per acknowledged push. outage.bench.ts measures the bridge's memory and drain with a spool
 * full; this one is about what an outage costs, for the bridge and for its peer alike.
 *
 * First, the series shape: one push of the same node, time and value to each (a test id of its
 * own each), and the series each wrote compared: names without the test id, tags, values,
 * timestamps.
 */
import { pushBody } from '../test/harness/push-stream.ts';
import type { BenchBridge } from './lib/bridge.ts';
import type { BenchContext } from './lib/context.ts';
import { restartVm, sleep, spawnUnpinned, startBridge } from './lib/context.ts';
import { Phase, settleFound } from './lib/found.ts';
import { paced } from './lib/load.ts';
import { RssSampler } from './lib/proc.ts';
import { POINTS_PER_PUSH } from './lib/pushes.ts';
import { startTelegraf, type TelegrafProcess } from './lib/telegraf.ts';

export interface LossSide {
  sent: number;
  acknowledged: number;
  /** Answered otherwise, or not at all. */
  refused: number;
  /** 14 × acknowledged. */
  expected: number;
  /** Distinct datapoints in VictoriaMetrics. */
  found: number;
  /** Telegraf only: metrics it logged as dropped from its buffer. */
  droppedByWriter?: number;
  /** After the stream: seconds until the count was complete or stopped moving. */
  settleSeconds: number;
  rssPeakBytes: number;
}

export interface ShapeCheck {
  bridgeSeries: number;
  telegrafSeries: number;
  /** Same metric names (test id aside), tags and values. */
  same: boolean;
  differences: string[];
  pushTimestampMs: number;
  bridgeTimestampsMs: number[];
  telegrafTimestampsMs: number[];
}

export interface LossResult {
  rate: number;
  beforeSeconds: number;
  downSeconds: number;
  afterSeconds: number;
  bridge: LossSide;
  telegraf?: LossSide;
  /** Why Telegraf has no figures (not built, or it failed). */
  telegrafError?: string;
  shape?: ShapeCheck;
}

/**
 * Pushes per second of the stream, to each: a large account's volume (Catchpoint pushes one per
 * test run per node), within both peers' steady capacity; 3 s of it down (--quick) are 16,800
 * datapoints, over Telegraf's default buffer of 10,000 metrics.
 */
export const LOSS_RATE = 400;
/**
 * After the streams: the bridge is done when its spool is empty (it retries with backoff up to
 * 5 s, so VictoriaMetrics' rows may pause that long first); Telegraf, which flushes every second,
 * when nothing more arrived for 2 s.
 */
const SETTLE = { quietMs: 2000, timeoutMs: 120_000 };

interface Sut {
  url: string;
  headers?: Record<string, string>;
  pid: number;
}

async function post(sut: Sut, body: string): Promise<number> {
  const res = await fetch(sut.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...sut.headers },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

interface Series {
  key: string;
  values: number[];
  timestamps: number[];
}

async function seriesOf(ctx: BenchContext, testId: number): Promise<Series[]> {
  const all = await ctx.vm.exportSeries(`catchpoint\\.[a-z]+\\.by_[a-z]+\\.${testId}`);
  return all.map((s) => {
    const { __name__: name, ...tags } = s.metric;
    const sorted = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
    return {
      key: `${name.slice(0, name.lastIndexOf('.'))}{${sorted.map(([k, v]) => `${k}=${v}`).join(',')}}`,
      values: s.values,
      timestamps: s.timestamps,
    };
  });
}

/** Test ids of the shape pushes: one each, series of their own. */
const SHAPE_TESTS = { bridge: 399_001, telegraf: 399_002 };

/** The same push (node, time with milliseconds, value) to each, under its own test id. */
async function sendShapePushes(ctx: BenchContext, bridge: Sut, telegraf: Sut): Promise<number> {
  const node = ctx.nodes[Math.min(2, ctx.nodes.length - 1)]!;
  const timestampMs = Math.floor((Date.now() - 12 * 3600_000) / 1000) * 1000 + 678;
  const specimen = { nodeId: node.id, nodeName: node.name, asn: node.asn, timestampMs, totalMs: 5754 };
  for (const [sut, testId] of [
    [bridge, SHAPE_TESTS.bridge],
    [telegraf, SHAPE_TESTS.telegraf],
  ] as const) {
    const status = await post(sut, pushBody({ ...specimen, testId }));
    if (status < 200 || status > 299) throw new Error(`shape push answered ${status}`);
  }
  return timestampMs;
}

/** The series each wrote for its shape push (called once both have delivered everything). */
async function compareShape(ctx: BenchContext, timestampMs: number): Promise<ShapeCheck> {
  const { bridge: bridgeTest, telegraf: telegrafTest } = SHAPE_TESTS;
  const deadline = Date.now() + 10_000;
  for (const testId of [bridgeTest, telegrafTest]) {
    while ((await seriesOf(ctx, testId)).length < POINTS_PER_PUSH && Date.now() < deadline) await sleep(200);
  }
  const ours = await seriesOf(ctx, bridgeTest);
  const theirs = await seriesOf(ctx, telegrafTest);
  const describe = (s: Series) => `${s.key} ${s.values.join(',')}`;
  const a = new Set(ours.map(describe));
  const b = new Set(theirs.map(describe));
  const differences = [
    ...[...a].filter((k) => !b.has(k)).map((k) => `bridge only: ${k}`),
    ...[...b].filter((k) => !a.has(k)).map((k) => `telegraf only: ${k}`),
  ];
  return {
    bridgeSeries: ours.length,
    telegrafSeries: theirs.length,
    same: differences.length === 0 && ours.length > 0,
    differences,
    pushTimestampMs: timestampMs,
    bridgeTimestampsMs: [...new Set(ours.flatMap((s) => s.timestamps))],
    telegrafTimestampsMs: [...new Set(theirs.flatMap((s) => s.timestamps))],
  };
}

export async function runLoss(ctx: BenchContext, telegrafBinary: string | Error): Promise<LossResult> {
  const { options } = ctx;
  const beforeSeconds = options.quick ? 1 : 5;
  const downSeconds = options.quick ? 3 : 30;
  const afterSeconds = options.quick ? 1 : 10;
  const total = beforeSeconds + downSeconds + afterSeconds;

  const bridge: BenchBridge = await startBridge(ctx, 'fsync');
  let telegraf: TelegrafProcess | undefined;
  let telegrafError: string | undefined;
  try {
    if (telegrafBinary instanceof Error) telegrafError = telegrafBinary.message;
    else {
      try {
        telegraf = await spawnUnpinned(ctx, () =>
          startTelegraf({
            binary: telegrafBinary,
            tsdbUrl: ctx.vm.httpPutUrl,
            nodes: ctx.nodes,
            cpu: ctx.sutCpu,
          }),
        );
      } catch (err) {
        telegrafError = err instanceof Error ? err.message : String(err);
      }
    }
    const suts: Array<{ name: 'bridge' | 'telegraf'; sut: Sut; phase: Phase }> = [
      {
        name: 'bridge',
        sut: { url: bridge.pushUrl, pid: bridge.pid },
        phase: new Phase(20, ctx.tests, ctx.nodes),
      },
    ];
    if (telegraf !== undefined) {
      suts.push({
        name: 'telegraf',
        sut: { url: telegraf.pushUrl, headers: telegraf.headers, pid: telegraf.pid },
        phase: new Phase(21, ctx.tests, ctx.nodes),
      });
    }

    const shapeTimestampMs =
      telegraf === undefined ? undefined : await sendShapePushes(ctx, suts[0]!.sut, suts[1]!.sut);

    const dropped0 = telegraf?.droppedMetrics() ?? 0;
    const samplers = suts.map((s) => new RssSampler(s.sut.pid));
    // VictoriaMetrics goes down `beforeSeconds` into the streams and comes back `downSeconds` later.
    const outage = (async () => {
      await sleep(beforeSeconds * 1000);
      await ctx.vm.stop();
      ctx.log(`  VictoriaMetrics down for ${downSeconds} s under ${LOSS_RATE} pushes/s to each`);
      await sleep(downSeconds * 1000);
      await restartVm(ctx);
    })();
    const loads = await Promise.all(
      suts.map((s) =>
        paced(s.sut.url, s.phase.source, {
          rate: LOSS_RATE,
          seconds: total,
          connections: options.connections,
          ...(s.sut.headers === undefined ? {} : { headers: s.sut.headers }),
        }),
      ),
    );
    await outage;
    const rss = samplers.map((s) => s.stop());

    // VictoriaMetrics restarted: its rows counter did too, so only quiet ends the wait.
    const settled = await settleFound(
      ctx.vm,
      suts.map((s) => s.phase),
      {
        ...SETTLE,
        rows0: 0,
        expectedRows: Number.POSITIVE_INFINITY,
        done: async () => (await bridge.metrics()).spoolBytes === 0,
      },
    );
    let shape: ShapeCheck | undefined;
    if (shapeTimestampMs !== undefined) {
      shape = await compareShape(ctx, shapeTimestampMs);
      ctx.log(
        `  series of one push: bridge ${shape.bridgeSeries}, telegraf ${shape.telegrafSeries}, ${shape.same ? 'same names, tags and values' : `differ: ${shape.differences.slice(0, 4).join('; ')}`}; ` +
          `timestamp ${shape.pushTimestampMs} → bridge ${shape.bridgeTimestampsMs.join(',')}, telegraf ${shape.telegrafTimestampsMs.join(',')}`,
      );
    }
    const sides: LossSide[] = [];
    for (const [i, s] of suts.entries()) {
      const r = loads[i]!;
      let refused = r.errors;
      for (const n of Object.values(r.refused)) refused += n;
      const expected = r.ok * POINTS_PER_PUSH;
      const side: LossSide = {
        sent: r.sent,
        acknowledged: r.ok,
        refused,
        expected,
        found: settled.found[i]!,
        settleSeconds: settled.waitedSeconds,
        rssPeakBytes: rss[i]!,
        ...(s.name === 'telegraf' ? { droppedByWriter: (telegraf?.droppedMetrics() ?? 0) - dropped0 } : {}),
      };
      sides.push(side);
      ctx.log(
        `  ${s.name}: ${side.sent} pushes sent, ${side.acknowledged} acknowledged; ${side.found} of ${side.expected} datapoints found (${((side.found / Math.max(1, side.expected)) * 100).toFixed(1)}%)` +
          (side.droppedByWriter ? `; Telegraf logged ${side.droppedByWriter} dropped` : ''),
      );
    }
    return {
      rate: LOSS_RATE,
      beforeSeconds,
      downSeconds,
      afterSeconds,
      bridge: sides[0]!,
      ...(sides[1] === undefined ? {} : { telegraf: sides[1] }),
      ...(telegrafError === undefined ? {} : { telegrafError }),
      ...(shape === undefined ? {} : { shape }),
    };
  } finally {
    await restartVm(ctx).catch(() => {});
    await telegraf?.stop();
    await bridge.stop();
  }
}
