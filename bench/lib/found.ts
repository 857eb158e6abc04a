/**
 * What is really in VictoriaMetrics: datapoints counted by query, not by the writer's word (an
 * answered push, or a 2xx from the TSDB, is not a stored point).
 *
 * Each phase of the peer comparison sends the bench's tests and nodes (so its points land in
 * series that already exist: creating 70k new series would cost VictoriaMetrics more than the
 * points do) in a time range of its own, 12 h and more back, away from the bridge suites' pushes
 * (6 h back) and from every other phase. A phase's points are the seed series' samples in its
 * range.
 */
import type { VictoriaMetrics } from '../../test/harness/victoria-metrics.ts';
import type { BenchNode } from './pushes.ts';
import { PushSource } from './pushes.ts';

/** Spacing of the phases' time ranges: far more than a phase's pushes span (1 ms apart). */
const PHASE_SPACING_MS = 30 * 60_000;
const runStart = Date.now();

export class Phase {
  readonly tests: readonly number[];
  readonly baseMs: number;
  readonly source: PushSource;

  /** Phase `index` (0, 1, …) over these tests and nodes. */
  constructor(index: number, tests: readonly number[], nodes: readonly BenchNode[]) {
    this.tests = tests;
    this.baseMs = runStart - 12 * 3600_000 - index * PHASE_SPACING_MS;
    this.source = new PushSource(tests, nodes, this.baseMs);
  }

  /** Seconds [from, to) covering every push handed out so far (writers may drop the milliseconds). */
  range(): { fromSeconds: number; toSeconds: number } {
    return {
      fromSeconds: Math.floor(this.baseMs / 1000),
      toSeconds: Math.floor((this.baseMs + this.source.count) / 1000) + 1,
    };
  }

  /** MetricsQL selector of every seed series of the phase's tests. */
  selector(): string {
    return `{__name__=~${JSON.stringify(`catchpoint\\.[a-z]+\\.by_[a-z]+\\.(${this.tests.join('|')})`)}}`;
  }
}

/**
 * Samples stored for the phase (flushed first), by one query. Counts a point written twice (a
 * batch re-sent after a partial failure) twice: VictoriaMetrics keeps both without
 * `-dedup.minScrapeInterval`.
 */
export async function countRaw(vm: VictoriaMetrics, phase: Phase): Promise<number> {
  await vm.forceFlush();
  const { fromSeconds, toSeconds } = phase.range();
  // A range [d] at time t covers (t − d, t]: (from − 1 s, to] holds every second of the phase,
  // the last one's milliseconds included, and nothing of another phase.
  const query = `sum(count_over_time(${phase.selector()}[${toSeconds - fromSeconds + 1}s]))`;
  const params = new URLSearchParams({ query, time: String(toSeconds) });
  const res = await fetch(`${vm.queryUrl}/api/v1/query?${params}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`VictoriaMetrics query: HTTP ${res.status}: ${text}`);
  const body = JSON.parse(text) as { data: { result: Array<{ value: [number, string] }> } };
  return Number(body.data.result[0]?.value[1] ?? 0);
}

/** Distinct datapoints (series, timestamp) stored for the phase, from /api/v1/export. */
export async function countDistinct(vm: VictoriaMetrics, phase: Phase): Promise<number> {
  await vm.forceFlush();
  const { fromSeconds, toSeconds } = phase.range();
  const params = new URLSearchParams({
    'match[]': phase.selector(),
    start: String(fromSeconds),
    end: String(toSeconds - 0.001),
  });
  const res = await fetch(`${vm.queryUrl}/api/v1/export?${params}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`VictoriaMetrics export: HTTP ${res.status}: ${text}`);
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    n += new Set((JSON.parse(line) as { timestamps: number[] }).timestamps).size;
  }
  return n;
}

/**
 * Waits until the writers are done: `done()` (if given) holds and VictoriaMetrics' rows counter
 * (cheap, unlike a count over the phase's series) has grown by `expectedRows` since `rows0`, or
 * has not moved for `quietMs` (a writer that dropped points never gets there), or `timeoutMs`
 * passed. Then counts the phase's points: distinct, and as stored (duplicates included).
 */
export async function settleFound(
  vm: VictoriaMetrics,
  phases: readonly Phase[],
  options: {
    rows0: number;
    expectedRows: number;
    quietMs: number;
    timeoutMs: number;
    done?: () => Promise<boolean>;
  },
): Promise<{ found: number[]; raw: number[]; waitedSeconds: number }> {
  const t0 = performance.now();
  let last = -1;
  let lastChange = t0;
  for (;;) {
    const rows = await vm.rowsInserted('opentsdbhttp');
    const now = performance.now();
    if (rows !== last) {
      last = rows;
      lastChange = now;
    }
    const finished = options.done === undefined || (await options.done());
    const complete = finished && rows - options.rows0 >= options.expectedRows;
    const quiet = finished && now - lastChange >= options.quietMs;
    if (complete || quiet || now - t0 >= options.timeoutMs) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const waitedSeconds = (performance.now() - t0) / 1000;
  const found: number[] = [];
  const raw: number[] = [];
  for (const phase of phases) {
    found.push(await countDistinct(vm, phase));
    raw.push(await countRaw(vm, phase));
  }
  return { found, raw, waitedSeconds };
}
