/**
 * Reading results back: the bridge's /metrics, a process's RSS, and the delivery accounting of
 * acknowledged pushes against what VictoriaMetrics holds (found, lost, duplicated).
 */
import { readFile } from 'node:fs/promises';
import type { PushSpecimen } from '../../harness/push-stream.ts';
import type { ExportedSeries, VictoriaMetrics } from '../../harness/victoria-metrics.ts';
import { sleep } from './context.ts';

/** A parsed Prometheus text exposition. */
export class MetricsText {
  readonly #samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(text: string) {
    for (const line of text.split('\n')) {
      if (line.length === 0 || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (m === null) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]!] = l[2]!;
      }
      this.#samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** Sum of the samples of `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.#samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }
}

export async function scrape(bridgeUrl: string): Promise<MetricsText> {
  const res = await fetch(`${bridgeUrl}/metrics`);
  return new MetricsText(await res.text());
}

/** Resident set size of a process in bytes (Linux /proc), undefined once it is gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface DeliveryCount {
  /** Datapoints that must be there: one per acknowledged push (the by_node rtt point). */
  expected: number;
  /** Expected datapoints present with the right value. */
  found: number;
  lost: number;
  /** Extra copies of expected datapoints. */
  duplicated: number;
  /** Datapoints present that no acknowledged push explains (e.g. a push spooled whose 200 was lost). */
  unacknowledged: number;
  /** Up to 3 lost pushes, for the failure message. */
  lostExamples: PushSpecimen[];
}

const keyOf = (nodeId: number | string, timestampMs: number) => `${nodeId}@${timestampMs}`;

/** Matches each acknowledged push to the by_node samples of its (node, timestamp). */
export function countDelivery(series: ExportedSeries[], acked: readonly PushSpecimen[]): DeliveryCount {
  const expected = new Map<string, PushSpecimen>();
  for (const p of acked) expected.set(keyOf(p.nodeId, p.timestampMs), p);
  const seen = new Map<string, number>();
  let unacknowledged = 0;
  for (const s of series) {
    s.timestamps.forEach((t, i) => {
      const key = keyOf(s.metric.nodeid ?? '?', t);
      const p = expected.get(key);
      if (p === undefined) {
        unacknowledged++;
        return;
      }
      if (s.values[i] !== p.totalMs) return;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    });
  }
  let duplicated = 0;
  for (const n of seen.values()) duplicated += n - 1;
  const lostExamples: PushSpecimen[] = [];
  for (const [key, p] of expected) {
    if (seen.has(key)) continue;
    if (lostExamples.length < 3) lostExamples.push(p);
  }
  return {
    expected: expected.size,
    found: seen.size,
    lost: expected.size - seen.size,
    duplicated,
    unacknowledged,
    lostExamples,
  };
}

/**
 * Polls VictoriaMetrics until every acknowledged push is visible (or `timeoutMs` passes).
 * `completeAt` is the wall-clock time it first saw all of them.
 */
export async function waitForDelivery(
  vm: VictoriaMetrics,
  nameRegex: string,
  acked: readonly PushSpecimen[],
  timeoutMs: number,
): Promise<{ count: DeliveryCount; completeAt: number | undefined }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = countDelivery(await vm.exportSeries(nameRegex), acked);
    if (count.lost === 0) {
      const completeAt = Date.now();
      // Duplicates can still land (a re-sent batch): count again after delivery has settled.
      await sleep(1500);
      return { count: countDelivery(await vm.exportSeries(nameRegex), acked), completeAt };
    }
    if (Date.now() > deadline) return { count, completeAt: undefined };
    await sleep(100);
  }
}

/** Waits until `read` returns true, polling; returns the time it did, or undefined on timeout. */
export async function until(
  read: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await read()) return Date.now();
    } catch {
      // not yet
    }
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const mb = (bytes: number | undefined) =>
  bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(1)} MB`;

export function failureSummary(failures: Map<number | 'network', number>): string {
  return [...failures].map(([k, v]) => `${k}×${v}`).join(', ') || 'none';
}

/** A bridge's JSON log lines (pino, `level` as its label: 'warn', 'error'), parsed; other lines are left out. */
export function logEntries(lines: readonly string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return out;
}
