/**
 * The spool disk's commit latency: a 2 KiB append + fdatasync loop, one at a time, in the
 * directory the spools use. An fsync bridge acknowledges a push only after such a commit (many
 * pushes share one: group commit), so at most `connections` pushes complete per commit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentileOf } from './stats.ts';

export interface DiskCommitResult {
  commitsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function measureCommits(seconds: number): Promise<DiskCommitResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cpb-disk-'));
  const handle = await open(join(dir, 'probe.wal'), 'a');
  const chunk = Buffer.alloc(2048, 0x61);
  const times: number[] = [];
  try {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      const t = performance.now();
      await handle.write(chunk);
      await handle.datasync();
      times.push(performance.now() - t);
    }
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = Float64Array.from(times).sort();
  return {
    commitsPerSecond: times.length / seconds,
    p50Ms: percentileOf(sorted, 50),
    p99Ms: percentileOf(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
