/**
 * Load generators. `saturate` drives autocannon (its API, in this process) as hard as the server
 * answers; `paced` sends at a steady rate (open loop: a request is sent at its time whether or
 * not earlier ones were answered) and records each acknowledgement latency; `autocannonAtRate`
 * is autocannon's own rate limit, kept for comparison (it sends each connection's share of a
 * second back to back at the top of the second, so it measures bursts, not a steady rate).
 * Every request carries the next push of a PushSource.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon, { type AutocannonResult } from 'autocannon';
import { Pool } from 'undici';
import type { PushSource } from './pushes.ts';
import { percentileOf } from './stats.ts';

const HEADERS = { 'content-type': 'application/json' };

export interface LoadResult {
  /** Seconds the load ran. */
  seconds: number;
  sent: number;
  /** 2xx answers. */
  ok: number;
  /** Other answers, by status. */
  refused: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  /** 2xx per second. */
  okPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /**
   * paced only: the same latencies counted from each request's scheduled time rather than from
   * when it was sent (they differ by the load generator's timer slack and any falling behind).
   */
  scheduledLatencyMs?: { p50: number; p90: number; p99: number; max: number };
  /**
   * paced only: this process's own event-loop delay during the run (ms). A load generator that
   * stalls (its GC, a vCPU stall) reads answers late and inflates the latencies it reports.
   */
  loadgenDelayMs?: { p99: number; max: number };
  /** paced only: every 2xx latency (from sending), ms, sorted, to pool trials. */
  samples?: Float64Array;
  /** autocannon only: standard deviation of its per-second request counts. */
  perSecondStddev?: number;
  /** CPU this process (the load generator) used, in cores. */
  loadgenCores: number;
}

function splitUrl(url: string): { origin: string; path: string } {
  const u = new URL(url);
  return { origin: u.origin, path: `${u.pathname}${u.search}` };
}

function fromAutocannon(r: AutocannonResult, cpu: NodeJS.CpuUsage): LoadResult {
  const refused: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(r.statusCodeStats)) {
    if (!status.startsWith('2')) refused[status] = count;
  }
  return {
    seconds: r.duration,
    sent: r.requests.sent,
    ok: r['2xx'],
    refused,
    errors: r.errors,
    okPerSecond: r['2xx'] / r.duration,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    perSecondStddev: r.requests.stddev,
    loadgenCores: (cpu.user + cpu.system) / 1e6 / r.duration,
  };
}

function autocannonRequests(url: string, source: PushSource, headers: Record<string, string> = HEADERS) {
  return [
    {
      method: 'POST',
      path: splitUrl(url).path,
      headers,
      setupRequest: (req: { body?: string | Buffer }) => {
        req.body = source.next();
        return req;
      },
    },
  ];
}

/**
 * As many pushes as the server takes, from `connections` keep-alive connections, for `seconds`
 * or until `amount` pushes were sent. `fixedBody` sends that one body every time instead of the
 * next push (for a server that does not look at bodies: it spares the load generator's core).
 * `headers` are sent with every push besides the content type (e.g. a peer's basic auth).
 */
export async function saturate(
  url: string,
  source: PushSource,
  options: {
    connections: number;
    seconds: number;
    amount?: number;
    fixedBody?: string;
    headers?: Record<string, string>;
  },
): Promise<LoadResult> {
  const cpu0 = process.cpuUsage();
  const { origin, path } = splitUrl(url);
  const headers = { ...HEADERS, ...options.headers };
  const result = await autocannon({
    url: origin,
    connections: options.connections,
    duration: options.seconds,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    requests:
      options.fixedBody === undefined
        ? autocannonRequests(url, source, headers)
        : [{ method: 'POST', path, headers, body: options.fixedBody }],
  });
  return fromAutocannon(result, process.cpuUsage(cpu0));
}

/** autocannon's `overallRate` (bursty at the top of each second, see above). */
export async function autocannonAtRate(
  url: string,
  source: PushSource,
  options: { rate: number; connections: number; seconds: number },
): Promise<LoadResult> {
  const cpu0 = process.cpuUsage();
  const result = await autocannon({
    url: splitUrl(url).origin,
    connections: options.connections,
    duration: options.seconds,
    overallRate: options.rate,
    requests: autocannonRequests(url, source),
  });
  return fromAutocannon(result, process.cpuUsage(cpu0));
}

/**
 * `rate` pushes per second for `seconds`, evenly spaced, over a pool of keep-alive connections.
 * `latencyMs` runs from sending a request to its answer; `scheduledLatencyMs` from its scheduled
 * time, so a server (or load generator) falling behind shows up there instead of slowing the
 * schedule down. `headers` as for saturate.
 */
export async function paced(
  url: string,
  source: PushSource,
  options: { rate: number; seconds: number; connections: number; headers?: Record<string, string> },
): Promise<LoadResult> {
  const { origin, path } = splitUrl(url);
  const headers = { ...HEADERS, ...options.headers };
  const pool = new Pool(origin, { connections: options.connections, pipelining: 1 });
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const latencies = new Float64Array(total);
  const fromSchedule = new Float64Array(total);
  const refused: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let answered = 0;
  let sent = 0;
  const interval = 1000 / options.rate;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  const send = (scheduled: number) => {
    sent++;
    const started = performance.now();
    pool
      .request({ path, method: 'POST', headers, body: source.next() })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          const now = performance.now();
          fromSchedule[ok] = now - scheduled;
          latencies[ok++] = now - started;
        } else {
          refused[res.statusCode] = (refused[res.statusCode] ?? 0) + 1;
        }
      })
      .catch(() => {
        errors++;
      })
      .finally(() => {
        answered++;
      });
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) send(t0 + sent * interval);
      if (sent < total) {
        const wait = t0 + sent * interval - performance.now();
        setTimeout(tick, Math.max(0, wait));
      } else resolve();
    };
    tick();
  });
  const deadline = performance.now() + 30_000;
  while (answered < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  delay.disable();
  await pool.close();
  const sortedLatencies = latencies.slice(0, ok).sort();
  return {
    seconds,
    sent,
    ok,
    refused,
    errors: errors + (sent - answered),
    // Over the whole run, answers included: a server that fell behind shows a lower rate.
    okPerSecond: ok / seconds,
    latencyMs: latencySummary(sortedLatencies),
    scheduledLatencyMs: latencySummary(fromSchedule.slice(0, ok).sort()),
    samples: sortedLatencies,
    loadgenDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    loadgenCores: (cpu.user + cpu.system) / 1e6 / seconds,
  };
}

/** p50/p90/p99/max of sorted latencies. */
export function latencySummary(sorted: Float64Array): { p50: number; p90: number; p99: number; max: number } {
  return {
    p50: percentileOf(sorted, 50),
    p90: percentileOf(sorted, 90),
    p99: percentileOf(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** Several trials' samples as one sorted array. */
export function pooledSamples(results: readonly LoadResult[]): Float64Array {
  let n = 0;
  for (const r of results) n += r.samples?.length ?? 0;
  const all = new Float64Array(n);
  let at = 0;
  for (const r of results) {
    if (r.samples === undefined) continue;
    all.set(r.samples, at);
    at += r.samples.length;
  }
  return all.sort();
}
