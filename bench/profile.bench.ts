/**
 * Where the bridge spends its core: a fresh fsync bridge under `node --cpu-prof`, saturated like
 * the ingress runs; self time per function over the measured window only (not start-up), plus
 * the longest stretches the event loop was busy without a break. The .cpuprofile is kept next
 * to the results (open it in Chrome DevTools → Performance).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './lib/context.ts';
import { startBridge } from './lib/context.ts';
import { loadProfile, type ProfileSummary, summarizeProfile } from './lib/cpuprofile.ts';
import { saturate } from './lib/load.ts';

export interface ProfileResult {
  file: string;
  /** Throughput while profiled (the profiler costs some). */
  pushesPerSecond: number;
  summary: ProfileSummary;
}

const repoRoot = join(import.meta.dirname, '..');

export async function runProfile(ctx: BenchContext, keepAs: string): Promise<ProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cpb-prof-'));
  try {
    const bridge = await startBridge(ctx, 'fsync', `--cpu-prof --cpu-prof-dir=${dir}`);
    let fromUs = 0;
    let toUs = 0;
    let pushesPerSecond = 0;
    try {
      const opts = { connections: ctx.options.connections, seconds: ctx.options.warmupSeconds };
      await saturate(bridge.pushUrl, ctx.pushes, opts);
      await bridge.waitForEmptySpool(120_000);
      fromUs = Number(process.hrtime.bigint() / 1000n);
      const r = await saturate(bridge.pushUrl, ctx.pushes, { ...opts, seconds: ctx.options.seconds });
      toUs = Number(process.hrtime.bigint() / 1000n);
      pushesPerSecond = r.okPerSecond;
      await bridge.waitForEmptySpool(120_000);
    } finally {
      await bridge.stop(); // the profile is written on exit
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('the bridge wrote no .cpuprofile');
    copyFileSync(join(dir, file), keepAs);
    // V8 stamps samples with CLOCK_MONOTONIC µs, the clock of process.hrtime here.
    const summary = summarizeProfile(loadProfile(keepAs), { root: repoRoot, topN: 15, fromUs, toUs });
    return { file: keepAs, pushesPerSecond, summary };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
