/**
 * Hand-off of undelivered points to a peer replica at shutdown. In Kubernetes the spool lives on
 * an emptyDir, which survives container restarts but not the pod's deletion (a rollout, a scale
 * down, a node drain). When the TSDB is down for the whole grace period, a stopping bridge
 * therefore sends what its spool still holds to another replica through the bridge Service (a
 * terminating pod is no longer among its endpoints), authenticated with the push token; the
 * peer spools the points durably before it answers 200, and only then are they removed here.
 * Without a reachable peer the points stay in the spool (and are delivered if the same pod
 * starts again); the log says how many were left.
 */
import { Agent, request } from 'undici';
import type { Datapoint } from '../opentsdb/datapoint.ts';
import { validatePointForOpenTsdb } from '../opentsdb/validate.ts';
import { MAX_RECORD_BYTES, type WriteAheadSpool } from '../spool/wal.ts';
import type { AcceptResult } from './accept-result.ts';

export const HANDOFF_PATH = '/internal/handoff';
const BATCH_RECORDS = 2000;

export interface HandoffResult {
  handedOff: number;
  /** Why hand-off stopped before the spool was empty, if it did. */
  stoppedBecause?: string;
}

/** Sends the spool's records to `url` in batches until it is empty, the peer refuses, or time is up. */
export async function handOff(
  spool: WriteAheadSpool,
  url: string,
  token: string | undefined,
  deadlineMs: number,
): Promise<HandoffResult> {
  const dispatcher = new Agent({ connections: 1, connectTimeout: 2000 });
  const deadline = Date.now() + deadlineMs;
  let handedOff = 0;
  try {
    while (spool.bytes > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return { handedOff, stoppedBecause: 'deadline' };
      const batch = await spool.read(BATCH_RECORDS, 0, AbortSignal.timeout(Math.min(left, 1000)));
      if (batch.records.length === 0) {
        if (batch.skipped === 0) break;
        await spool.ack(batch); // only set-aside records (see spool/wal.ts): move past them
        continue;
      }
      let status: number;
      try {
        const res = await request(url + HANDOFF_PATH, {
          method: 'POST',
          body: `${batch.records.join('\n')}\n`,
          headers: {
            'content-type': 'application/x-ndjson',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          dispatcher,
          signal: AbortSignal.timeout(Math.max(500, left)),
        });
        await res.body.dump();
        status = res.statusCode;
      } catch (err) {
        spool.rewind();
        return { handedOff, stoppedBecause: (err as { code?: string }).code ?? 'network error' };
      }
      if (status !== 200) {
        spool.rewind();
        return { handedOff, stoppedBecause: `peer answered ${status}` };
      }
      await spool.ack(batch);
      handedOff += batch.records.length;
    }
    return { handedOff };
  } finally {
    await dispatcher.close();
  }
}

/**
 * The records of a hand-off's body (NDJSON), or the 400 (413 for a record over the spool's limit)
 * that refuses the whole batch: nothing of a batch with a bad record is spooled.
 */
export function readHandoff(
  body: Buffer,
  maxTags: number,
): { records: string[] } | { refused: AcceptResult } {
  const records = body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  const bad = checkHandedOffRecords(records, maxTags);
  if (bad === undefined) return { records };
  return {
    refused: {
      status: bad.tooLarge ? 413 : 400,
      outcome: 'invalid',
      code: 'CPB_ERR_HANDOFF_INVALID',
      reason: bad.reason,
    },
  };
}

/**
 * Checks records handed over by a peer before they enter this spool: each must fit a spool record
 * and be a datapoint OpenTSDB would take. Returns the first bad one's problem.
 */
function checkHandedOffRecords(
  records: readonly string[],
  maxTags: number,
): { reason: string; tooLarge: boolean } | undefined {
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    // Checked before parsing: a hostile peer's 16 MiB line costs no JSON.parse.
    if (record.length > MAX_RECORD_BYTES / 3 && Buffer.byteLength(record) > MAX_RECORD_BYTES) {
      return {
        reason: `record ${i} is ${Buffer.byteLength(record)} bytes, over the limit of ${MAX_RECORD_BYTES}`,
        tooLarge: true,
      };
    }
    let point: Datapoint;
    try {
      point = JSON.parse(record) as Datapoint;
    } catch {
      return { reason: `record ${i} is not JSON`, tooLarge: false };
    }
    if (typeof point !== 'object' || point === null || Array.isArray(point)) {
      return { reason: `record ${i} is not a JSON object`, tooLarge: false };
    }
    const reason = validatePointForOpenTsdb(point, maxTags);
    if (reason !== undefined) return { reason: `record ${i}: ${reason}`, tooLarge: false };
  }
  return undefined;
}
