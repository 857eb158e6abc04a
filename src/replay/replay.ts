/**
 * `catchpoint-bridge replay`: POSTs recorded push bodies (a file with one JSON push per line, or
 * a JSON array) to a bridge URL at a steady rate, and reports what came back. For users' own
 * smoke tests and for the demo. Bodies are sent as they are: nothing is rewritten, so replaying
 * the same file twice exercises de-duplication.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';

export interface ReplayOptions {
  url: string;
  bodies: string[];
  ratePerSecond: number;
  /** Sent as `Authorization: Bearer`, for a URL without the token in its path. */
  token?: string;
  /** Requests in flight at most. */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface ReplaySummary {
  sent: number;
  byStatus: Record<string, number>;
  durationMs: number;
}

/** Reads push bodies from NDJSON or a JSON array. */
export async function readPushFile(path: string): Promise<string[]> {
  const text = (await readFile(path, 'utf8')).trim();
  if (text.startsWith('[')) return (JSON.parse(text) as unknown[]).map((p) => JSON.stringify(p));
  return text.split('\n').filter((l) => l.trim() !== '');
}

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const dispatcher = new Agent({ connections: o.concurrency ?? 8, keepAliveTimeout: 10_000 });
  const byStatus: Record<string, number> = {};
  const started = performance.now();
  const interval = 1000 / o.ratePerSecond;
  const inflight = new Set<Promise<void>>();
  let sent = 0;
  try {
    for (const body of o.bodies) {
      if (o.signal?.aborted) break;
      while (inflight.size >= (o.concurrency ?? 8)) await Promise.race(inflight);
      const p = request(o.url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
        },
        dispatcher,
      })
        .then(async (res) => {
          await res.body.dump();
          byStatus[res.statusCode] = (byStatus[res.statusCode] ?? 0) + 1;
        })
        .catch((err: unknown) => {
          const code = (err as { code?: string }).code ?? 'error';
          byStatus[code] = (byStatus[code] ?? 0) + 1;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      sent++;
      const wait = started + sent * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.all(inflight);
  } finally {
    await dispatcher.close();
  }
  return { sent, byStatus, durationMs: Math.round(performance.now() - started) };
}

/** The URL without its token, for printing. */
export function redactPushUrl(url: string): string {
  return url.replace(/\/push\/[^/?#]+/, '/push/<token>');
}
