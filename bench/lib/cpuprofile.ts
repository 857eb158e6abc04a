/**
 * Reading a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function, and the
 * longest stretches the main thread spent busy without a break (what delays every request
 * queued behind them).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  parent?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  /** `functionName (file:line)`, or the V8 pseudo-frame ((garbage collector), (program), ...). */
  name: string;
  /** Where the function comes from: ours (src/, or dist/ compiled from it), a dependency, node internals, or V8. */
  origin: 'src' | 'dependency' | 'node' | 'v8';
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  /** Profiled wall time. */
  wallMs: number;
  /** Time not in (idle). */
  busyMs: number;
  top: SelfTimeRow[];
  /** Self time by origin, as shares of busy time. */
  byOrigin: Record<SelfTimeRow['origin'], number>;
  /** The longest uninterrupted busy stretches, with the function that took most of each. */
  longestBusyMs: Array<{ ms: number; mostly: string }>;
}

export function loadProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

function originOf(url: string, functionName: string): SelfTimeRow['origin'] {
  if (url === '') return functionName.startsWith('(') ? 'v8' : 'node';
  if (url.startsWith('node:')) return 'node';
  if (url.includes('/node_modules/')) return 'dependency';
  if (url.includes('/src/') || url.includes('/dist/')) return 'src';
  return 'node';
}

function label(frame: CallFrame, root: string): string {
  const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return fn;
  let where = frame.url.replace(/^file:\/\//, '');
  if (where.startsWith('/')) {
    const nm = where.lastIndexOf('/node_modules/');
    where = nm >= 0 ? where.slice(nm + '/node_modules/'.length) : relative(root, where);
  }
  return `${fn} (${where}:${frame.lineNumber + 1})`;
}

export interface SummaryOptions {
  /** Paths under it are shown relative to it. */
  root: string;
  topN?: number;
  /**
   * Only samples in this window, in the profile's clock: CLOCK_MONOTONIC µs, the clock of
   * `process.hrtime.bigint() / 1000n` in any process on the machine.
   */
  fromUs?: number;
  toUs?: number;
}

/** Aggregates self time by function name + script URL (+ line, to keep same-named functions apart). */
export function summarizeProfile(profile: CpuProfile, options: SummaryOptions): ProfileSummary {
  const { root, topN = 15 } = options;
  const from = options.fromUs ?? Number.NEGATIVE_INFINITY;
  const to = options.toUs ?? Number.POSITIVE_INFINITY;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  const n = profile.samples.length;
  // timeDeltas[i] is the time before sample i; a sample's own duration is the next delta.
  const at = new Float64Array(n);
  let t = profile.startTime;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i]!;
    at[i] = t;
  }
  const inWindow = (i: number) => at[i]! >= from && at[i]! <= to;
  const duration = (i: number) => (i + 1 < n ? Math.max(0, profile.timeDeltas[i + 1]!) : 0);
  for (let i = 0; i < n; i++) {
    if (!inWindow(i)) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + duration(i));
  }
  const rows = new Map<string, SelfTimeRow>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busyUs += us;
    const key = `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = {
        name: label(frame, root),
        origin: originOf(frame.url, frame.functionName),
        selfMs: 0,
        share: 0,
      };
      rows.set(key, row);
    }
    row.selfMs += us / 1000;
  }
  const all = [...rows.values()];
  const byOrigin = { src: 0, dependency: 0, node: 0, v8: 0 };
  for (const r of all) {
    r.share = busyUs === 0 ? 0 : (r.selfMs * 1000) / busyUs;
    byOrigin[r.origin] += r.share;
  }
  all.sort((a, b) => b.selfMs - a.selfMs);

  // Busy stretches: consecutive non-idle samples.
  const stretches: Array<{ ms: number; mostly: string }> = [];
  let runUs = 0;
  let runSelf = new Map<number, number>();
  const close = () => {
    if (runUs > 0) {
      let best = -1;
      let bestUs = -1;
      for (const [id, us] of runSelf) {
        if (us > bestUs) {
          best = id;
          bestUs = us;
        }
      }
      stretches.push({ ms: runUs / 1000, mostly: label(byId.get(best)!.callFrame, root) });
    }
    runUs = 0;
    runSelf = new Map();
  };
  for (let i = 0; i < n; i++) {
    if (!inWindow(i)) continue;
    const id = profile.samples[i]!;
    const dt = duration(i);
    if (byId.get(id)!.callFrame.functionName === '(idle)') close();
    else {
      runUs += dt;
      runSelf.set(id, (runSelf.get(id) ?? 0) + dt);
    }
  }
  close();
  stretches.sort((a, b) => b.ms - a.ms);

  return {
    wallMs: (Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1000,
    busyMs: busyUs / 1000,
    top: all.slice(0, topN),
    byOrigin,
    longestBusyMs: stretches.slice(0, 5),
  };
}

// `node bench/lib/cpuprofile.ts FILE.cpuprofile [N]` prints a summary.
if (import.meta.main) {
  const [file, count] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node bench/lib/cpuprofile.ts FILE.cpuprofile [TOP_N]\n');
    process.exit(2);
  }
  const s = summarizeProfile(loadProfile(file), { root: process.cwd(), topN: Number(count ?? 15) });
  process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
}
