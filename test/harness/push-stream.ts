/**
 * Realistic push bodies and a paced push stream, shared by integration, fault and bench code.
 * Every push is distinct in (TestId, NodeId, Timestamp), so de-duplication never hides one.
 */
export interface PushSpecimen {
  testId: number;
  nodeId: number;
  nodeName: string;
  asn: number;
  timestampMs: number;
  totalMs: number;
  errorCode?: number;
}

/** Catchpoint's default JSON v3 body for a DNS-style run. */
export function pushBody(p: PushSpecimen): string {
  const ts = new Date(p.timestampMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${ts.getUTCFullYear()}${pad(ts.getUTCMonth() + 1)}${pad(ts.getUTCDate())}${pad(ts.getUTCHours())}${pad(ts.getUTCMinutes())}${pad(ts.getUTCSeconds())}${pad(ts.getUTCMilliseconds(), 3)}`;
  const summary: Record<string, unknown> = {
    V: 1,
    Timestamp: stamp,
    Timing: { Total: p.totalMs },
    Request: 'www.example.com',
  };
  if (p.errorCode !== undefined) summary.Error = { Code: p.errorCode };
  return JSON.stringify({
    Version: 3,
    V: 3,
    TestDetail: { Name: 'DNS check', TypeId: 5, MonitorTypeId: 13 },
    TestId: p.testId,
    NodeId: p.nodeId,
    NodeName: p.nodeName,
    Asn: p.asn,
    DivisionId: 1033,
    ClientId: 1234,
    Summary: summary,
  });
}

export interface StreamResult {
  sent: number;
  acknowledged: PushSpecimen[];
  refused: number;
  /** Status (or 'network') → count, for everything that was not a 200. */
  failures: Map<number | 'network', number>;
  /** 503s that said nothing of when to retry (no Retry-After). */
  unavailableWithoutRetryAfter: number;
}

export interface StreamOptions {
  /** URL to POST to (e.g. `${bridge.url}/push/${token}`). Can change while running. */
  url: () => string;
  ratePerSecond: number;
  durationMs: number;
  testId: number;
  nodes: ReadonlyArray<{ id: number; name: string; asn: number }>;
  /** First timestamp; each push is 1 ms later than the last. */
  startMs?: number;
  signal?: AbortSignal;
}

/** Sends pushes at a steady rate (one in flight at a time per tick), returns what was acknowledged. */
export async function runPushStream(options: StreamOptions): Promise<StreamResult> {
  const result: StreamResult = {
    sent: 0,
    acknowledged: [],
    refused: 0,
    failures: new Map(),
    unavailableWithoutRetryAfter: 0,
  };
  const interval = 1000 / options.ratePerSecond;
  const start = performance.now();
  const baseTs = options.startMs ?? Date.now() - 3_600_000;
  let i = 0;
  const inflight = new Set<Promise<void>>();
  while (performance.now() - start < options.durationMs && !options.signal?.aborted) {
    const node = options.nodes[i % options.nodes.length]!;
    const specimen: PushSpecimen = {
      testId: options.testId,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: baseTs + i,
      totalMs: 10 + (i % 500),
    };
    i++;
    result.sent++;
    const p = fetch(options.url(), {
      method: 'POST',
      body: pushBody(specimen),
      headers: { 'content-type': 'application/json' },
    })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) result.acknowledged.push(specimen);
        else {
          result.refused++;
          result.failures.set(res.status, (result.failures.get(res.status) ?? 0) + 1);
          if (res.status === 503 && res.headers.get('retry-after') === null)
            result.unavailableWithoutRetryAfter++;
        }
      })
      .catch(() => {
        result.refused++;
        result.failures.set('network', (result.failures.get('network') ?? 0) + 1);
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
    const next = start + i * interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  return result;
}
