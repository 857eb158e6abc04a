/**
 * 10. The spool's filesystem fills up (issue 18): the bridge's spool on an 8 MiB tmpfs the
 * scenario mounts, the TSDB down, 100 pushes/s; 2 s in, a filler file takes every free byte
 * behind the bridge's back (appends meet ENOSPC itself, then the bridge's own free-space reserve:
 * 1/8 of so small a filesystem); 4 s later the filler is removed, then the TSDB comes back.
 * Claims: only 200s and 503s (a full disk is backpressure, never a 500); every 503 carries
 * Retry-After; each refusal is counted under pushes_total{outcome="refused_spool_disk"}; the
 * episode is logged (CPB_ERR_SPOOL_DISK) and its end too; pushes are taken again by the same
 * process once there is room; nothing acknowledged is lost, nothing refused is written, no torn
 * record reaches the TSDB, and the spool drains to 0 bytes. Time to recover: filler removed → the
 * first push answered 200 (probes every 50 ms).
 *
 * Mounting needs root (CI runs as root). Without it, or when mount(8) is refused, the row is
 * SKIPPED, loudly, and not passed.
 * The tmpfs is unmounted before the row is built, in `finally`, and on exit (test/harness/tmpfs.ts).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type PushSpecimen, pushBody, runPushStream } from '../../harness/push-stream.ts';
import { cannotMount, fillDisk, mountTmpfs, type Tmpfs } from '../../harness/tmpfs.ts';
import { type FaultContext, pushSecrets, pushSpec, sleep } from '../lib/context.ts';
import { failureSummary, isAlive, logEntries, scrape, until, waitForDelivery } from '../lib/measure.ts';
import { Claims, formatMs, makeRow, type Row, skippedRow } from '../lib/report.ts';

const ID = '10';
const SCENARIO = 'spool disk full (8 MiB tmpfs filled behind the bridge), TSDB down';
const TMPFS_BYTES = 8 << 20;
const RATE = 100;
const ROOM_MS = 2000;
const FULL_MS = 4000;
const AFTER_MS = 3000;
const TEST_ID = 10_001;
/** Probe timestamps: far from the stream's, so the two never collide. */
const PROBE_OFFSET_MS = 10_000_000;

export async function diskFull(ctx: FaultContext): Promise<Row> {
  const startedAt = Date.now();
  const skip = cannotMount();
  if (skip !== undefined) {
    ctx.progress(`!!! ${ID}: SKIPPED, ${skip} !!!`);
    return skippedRow(ID, SCENARIO, skip, startedAt);
  }
  let tmpfs: Tmpfs;
  try {
    tmpfs = mountTmpfs('disk-full', TMPFS_BYTES);
  } catch (err) {
    // Root without the right to mount (an unprivileged container): this machine cannot run it.
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    const reason = `mount -t tmpfs failed: ${stderr || (err as Error).message}`;
    ctx.progress(`!!! ${ID}: SKIPPED, ${reason} !!!`);
    return skippedRow(ID, SCENARIO, reason, startedAt);
  }
  try {
    return await run(ctx, tmpfs, startedAt);
  } finally {
    tmpfs.unmount();
  }
}

async function run(ctx: FaultContext, tmpfs: Tmpfs, startedAt: number): Promise<Row> {
  const claims = new Claims();
  const { vm } = ctx;
  const token = ctx.secret(`push token ${ID}`);
  const bridge = await ctx.startBridge(ID, {
    spec: pushSpec(ctx, { prefix: 'f10', endpoint: vm.httpPutUrl }),
    secrets: pushSecrets(token, ctx.tsdbPassword(ID)),
    spoolDir: join(tmpfs.dir, 'spool'),
    extraArgs: ['--drain', '1'],
  });
  const url = `${bridge.url}/push/${token}`;
  const nodes = ctx.catchpoint.nodes.slice(0, 50).map((n) => ({ id: n.id, name: n.name, asn: n.asn }));
  const base = Date.now() - 3_600_000;
  const filler = join(tmpfs.dir, 'filler');

  await vm.stop();
  ctx.progress(`${ID}: TSDB down, ${RATE} pushes/s into a spool on an 8 MiB tmpfs`);
  const controller = new AbortController();
  const streamStart = Date.now();
  const stream = runPushStream({
    url: () => url,
    ratePerSecond: RATE,
    durationMs: 60_000,
    testId: TEST_ID,
    nodes,
    startMs: base,
    signal: controller.signal,
  });
  await sleep(ROOM_MS);
  const filled = await fillDisk(filler);
  ctx.progress(`${ID}: filler wrote ${filled} bytes; the disk is full`);
  await sleep(FULL_MS);
  const whileFull = await scrape(bridge.url);
  const refusedWhileFull = whileFull.value('catchpoint_bridge_pushes_total', {
    outcome: 'refused_spool_disk',
  });

  // Probes: one push every 50 ms from the filler's removal to the first 200.
  const probes = {
    sent: 0,
    acked: [] as PushSpecimen[],
    statuses: new Map<number, number>(),
    noRetryAfter: 0,
  };
  const node = nodes[0]!;
  const probe = async (): Promise<boolean> => {
    const p: PushSpecimen = {
      testId: TEST_ID,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: base + PROBE_OFFSET_MS + probes.sent,
      totalMs: 7,
    };
    probes.sent++;
    const res = await fetch(url, {
      method: 'POST',
      body: pushBody(p),
      headers: { 'content-type': 'application/json' },
    });
    await res.arrayBuffer();
    probes.statuses.set(res.status, (probes.statuses.get(res.status) ?? 0) + 1);
    if (res.status === 503 && res.headers.get('retry-after') === null) probes.noRetryAfter++;
    if (res.status !== 200) return false;
    probes.acked.push(p);
    return true;
  };
  await rm(filler);
  const removedAt = Date.now();
  const takenAt = await until(probe, 20_000, 50);
  ctx.progress(
    `${ID}: filler removed; pushes taken again after ${formatMs((takenAt ?? Date.now()) - removedAt)}`,
  );
  await sleep(AFTER_MS);
  controller.abort();
  const result = await stream;
  // Push i of the stream carries timestamp base + i and was sent about i / RATE s after it began.
  const removedIndex = ((removedAt - streamStart) * RATE) / 1000;
  const afterRoom = result.acknowledged.filter((p) => p.timestampMs - base >= removedIndex);

  await vm.start();
  const backAt = Date.now();
  const acked = [...result.acknowledged, ...probes.acked];
  const { count, completeAt } = await waitForDelivery(vm, `f10[.]rtt[.]by_node[.]${TEST_ID}`, acked, 60_000);
  const drainedAt = await until(
    async () => (await scrape(bridge.url)).value('catchpoint_bridge_spool_bytes') === 0,
    15_000,
  );
  const after = await scrape(bridge.url);
  const pid = bridge.pid;
  const alive = isAlive(pid);
  // Stop the bridge, then unmount: the row says whether the host was left as found.
  await bridge.stop('SIGTERM');
  tmpfs.unmount();
  const entries = logEntries(bridge.logs);
  const episodes = entries.filter((e) => e.code === 'CPB_ERR_SPOOL_DISK' && e.level === 'error');
  const ends = entries.filter((e) => e.msg === "the spool's disk takes pushes again");
  const episode = episodes[0];
  const ended = ends.at(-1);

  const n503 = (result.failures.get(503) ?? 0) + (probes.statuses.get(503) ?? 0);
  const others = [...result.failures, ...probes.statuses].filter(([k]) => k !== 503 && k !== 200);
  claims.check(
    'a full disk is backpressure: only 200s and 503s (no 500, no dropped connection)',
    others.length === 0 && n503 > 0,
    `stream ${result.acknowledged.length} × 200, ${failureSummary(result.failures)}; probes ${[...probes.statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`,
  );
  claims.check(
    'every 503 says when to retry (Retry-After)',
    result.unavailableWithoutRetryAfter + probes.noRetryAfter === 0,
    `${result.unavailableWithoutRetryAfter + probes.noRetryAfter} of ${n503} 503s without Retry-After`,
  );
  const refusedDisk = after.value('catchpoint_bridge_pushes_total', { outcome: 'refused_spool_disk' });
  const accepted = after.value('catchpoint_bridge_pushes_total', { outcome: 'accepted' });
  claims.check(
    'every refusal is counted under pushes_total{outcome="refused_spool_disk"}, every 200 under accepted',
    refusedDisk === n503 && refusedWhileFull > 0 && accepted === acked.length,
    `refused_spool_disk ${refusedDisk} (${refusedWhileFull} while full) for ${n503} × 503; accepted ${accepted} for ${acked.length} × 200; ` +
      `refused_spool_full ${after.value('catchpoint_bridge_pushes_total', { outcome: 'refused_spool_full' })}`,
  );
  claims.check(
    'the episode is logged at its start (error, CPB_ERR_SPOOL_DISK) and at its end',
    episode !== undefined && ended !== undefined,
    episode === undefined
      ? 'no error line with code CPB_ERR_SPOOL_DISK'
      : `"${String(episode.msg)}" (reason ${String(episode.reason)}, errno ${String(episode.errno)}); ` +
          `${episodes.length} start line(s), ${ends.length} end line(s)` +
          (ended === undefined ? '' : `, the last after ${formatMs(Number(ended.refusedForMs))} of refusals`),
  );
  claims.check(
    'pushes are taken again by the same process once there is room (no restart)',
    takenAt !== undefined && afterRoom.length > 0 && alive,
    takenAt === undefined
      ? 'no probe answered 200 within 20 s of the filler removal'
      : `first 200 ${formatMs(takenAt - removedAt)} after the filler was removed; ${afterRoom.length} stream pushes acknowledged after it; pid ${pid} alive: ${alive}`,
  );
  claims.check(
    'nothing acknowledged is lost',
    count.lost === 0 && completeAt !== undefined,
    count.lost === 0
      ? `all ${count.expected} acknowledged points visible ${formatMs((completeAt ?? backAt) - backAt)} after the TSDB came back`
      : `${count.lost} missing, e.g. ${JSON.stringify(count.lostExamples[0])}`,
  );
  claims.check(
    'no refused push was written',
    count.unacknowledged === 0,
    `${count.unacknowledged} points in the TSDB that no acknowledged push explains`,
  );
  const rejected = after.value('catchpoint_bridge_datapoints_rejected_total');
  const setAside = after.value('catchpoint_bridge_spool_records_set_aside_total');
  claims.check(
    'no torn record reached the TSDB or was set aside (a failed write is cut back before the next append)',
    rejected === 0 && setAside === 0,
    `datapoints_rejected_total ${rejected}, spool_records_set_aside_total ${setAside}`,
  );
  const retried = after.value('catchpoint_bridge_datapoints_retried_total');
  claims.check(
    'duplicates only from re-sent batches (at-least-once)',
    count.duplicated <= retried,
    `${count.duplicated} duplicated ≤ ${retried} datapoints re-sent`,
  );
  claims.check(
    'the spool drains to 0 bytes',
    drainedAt !== undefined,
    `catchpoint_bridge_spool_bytes ${after.value('catchpoint_bridge_spool_bytes')}`,
  );
  claims.check(
    'the host is left as found: the tmpfs is unmounted',
    !tmpfs.mounted(),
    `${tmpfs.dir} ${tmpfs.mounted() ? 'still mounted' : 'unmounted and removed'}`,
  );
  const sent = result.sent + probes.sent;
  return makeRow(
    {
      id: ID,
      scenario: SCENARIO,
      sent,
      acknowledged: acked.length,
      refused: sent - acked.length,
      expected: count.expected,
      found: count.found,
      lost: count.lost,
      duplicated: count.duplicated,
      recoverMs: takenAt === undefined ? null : takenAt - removedAt,
      recoverWhat: 'filler removed → first push answered 200 again (probes every 50 ms)',
      notes: [
        `${RATE} pushes/s: ${ROOM_MS / 1000} s with room, ${FULL_MS / 1000} s with the disk full (filler ${filled} bytes), ${AFTER_MS / 1000} s after the filler was removed; the TSDB was down throughout and came back after`,
        `every acknowledged point visible ${completeAt === undefined ? '—' : formatMs(completeAt - backAt)} after the TSDB came back`,
        'a tmpfs stands in for the disk: ENOSPC and statfs behave as on a real filesystem; EIO and quotas (EDQUOT) are not exercised here',
      ],
    },
    claims,
    startedAt,
  );
}
