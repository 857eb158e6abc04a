/**
 * Memory and recovery: a fresh fsync bridge, VictoriaMetrics stopped, pushes until the spool
 * holds `outagePoints` datapoints (RSS read then: the spool is on disk, so memory should not
 * follow it), VictoriaMetrics started again, and the time until the spool is empty. The drain
 * rate is the bridge's delivery capacity with no ingress competing for its core.
 */
import type { BenchContext } from './lib/context.ts';
import { restartVm, sleep, startBridge } from './lib/context.ts';
import { saturate } from './lib/load.ts';
import { RssSampler, rssBytes } from './lib/proc.ts';
import { POINTS_PER_PUSH } from './lib/pushes.ts';

export interface OutageResult {
  rssIdleBytes: number;
  /** Peak while pushing into the outage. */
  rssPushingPeakBytes: number;
  /** A second after the last push, with the spool full of undelivered points. */
  rssSpooledBytes: number;
  rssAfterDrainBytes: number;
  /** V8 heap in use (bridge /metrics) idle and with the spool full: the spool is not in it. */
  heapUsedIdleBytes: number;
  heapUsedSpooledBytes: number;
  spooledDatapoints: number;
  spoolBytes: number;
  pushesAcknowledged: number;
  pushesRefused: number;
  /** VictoriaMetrics healthy again → first datapoint written (retry backoff, ≤ 5 s). */
  resumeSeconds: number;
  /** First datapoint written → spool empty. */
  drainSeconds: number;
  /** spooledDatapoints / drainSeconds. */
  drainPointsPerSecond: number;
}

export async function runOutage(ctx: BenchContext): Promise<OutageResult> {
  const bridge = await startBridge(ctx, 'fsync');
  try {
    await sleep(1000);
    const rssIdleBytes = rssBytes(bridge.pid);
    const heapUsedIdleBytes = (await bridge.metrics()).heapUsedBytes;
    await ctx.vm.stop();
    const rss = new RssSampler(bridge.pid);
    const load = await saturate(bridge.pushUrl, ctx.pushes, {
      connections: ctx.options.connections,
      seconds: 600,
      amount: Math.ceil(ctx.options.outagePoints / POINTS_PER_PUSH),
    });
    const rssPushingPeakBytes = rss.stop();
    await sleep(1000);
    const rssSpooledBytes = rssBytes(bridge.pid);
    const held = await bridge.metrics();
    ctx.log(
      `  outage: ${held.spoolDatapoints} datapoints (${(held.spoolBytes / 2 ** 20).toFixed(1)} MiB) spooled, RSS ${(rssSpooledBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    await restartVm(ctx);
    const up = performance.now();
    let firstWrite: number | undefined;
    let empty: number | undefined;
    const deadline = up + 180_000;
    while (performance.now() < deadline) {
      const m = await bridge.metrics();
      if (firstWrite === undefined && m.datapointsWritten > held.datapointsWritten) firstWrite = m.at;
      if (m.spoolBytes === 0) {
        empty = m.at;
        break;
      }
      await sleep(50); // scraping /metrics costs the bridge ~1 ms
    }
    if (firstWrite === undefined || empty === undefined) throw new Error('spool did not drain within 180 s');
    const drainSeconds = (empty - firstWrite) / 1000;
    let refused = 0;
    for (const n of Object.values(load.refused)) refused += n;
    return {
      rssIdleBytes,
      rssPushingPeakBytes,
      rssSpooledBytes,
      rssAfterDrainBytes: rssBytes(bridge.pid),
      heapUsedIdleBytes,
      heapUsedSpooledBytes: held.heapUsedBytes,
      spooledDatapoints: held.spoolDatapoints,
      spoolBytes: held.spoolBytes,
      pushesAcknowledged: load.ok,
      pushesRefused: refused + load.errors,
      resumeSeconds: (firstWrite - up) / 1000,
      drainSeconds,
      drainPointsPerSecond: held.spoolDatapoints / Math.max(drainSeconds, 1e-3),
    };
  } finally {
    await restartVm(ctx).catch(() => {});
    await bridge.stop();
  }
}
