/**
 * The accept pipeline: a push's bytes → parse → de-duplicate → enrich from the node directory →
 * map → spool append → the answer. Points a stopping peer hands over are checked (handoff.ts) and
 * take the same spool append. Auth, shutdown and counting are the Bridge's (bridge.ts); this module answers
 * what it made of the bytes it was given, under the one config `Generation` it was given.
 */
import { TextDecoder } from 'node:util';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import type { NodeDirectory } from '../catchpoint/directory.ts';
import { fallbackNodeInfo } from '../catchpoint/node.ts';
import { parsePush, statusUnknown } from '../catchpoint/push.ts';
import { compileTemplate } from '../catchpoint/template.ts';
import type { CatchpointPush, PushFormat } from '../catchpoint/types.ts';
import { hasCode, PUSH_PARSE_ERROR_CODES } from '../shared/errors.ts';
import type { SpoolDiskError, WriteAheadSpool } from '../spool/wal.ts';
import type { AcceptResult } from './accept-result.ts';
import type { ResolvedConfig } from './config.ts';
import type { Deduper } from './dedupe.ts';
import { readHandoff } from './handoff.ts';
import {
  buildMappingPlan,
  type MappingPlan,
  type MappingStats,
  mapPush,
  newMappingStats,
} from './mapping.ts';
import type { BridgeMetrics } from './metrics.ts';

/** Everything a push needs from one config, swapped in whole between pushes. */
export interface Generation {
  config: ResolvedConfig;
  plan: MappingPlan;
  format: PushFormat;
  maxBodyBytes: number;
}

export function buildGeneration(config: ResolvedConfig): Generation {
  const push = config.spec.push;
  const format: PushFormat =
    push.format === 'template' && push.template !== undefined
      ? { type: 'template', fields: push.template }
      : { type: 'json' };
  // A bad field map is a config error: refuse the generation now, not every push later.
  if (format.type === 'template') compileTemplate(format.fields);
  return { config, plan: buildMappingPlan(config.spec), format, maxBodyBytes: push.maxBodyBytes };
}

export interface AcceptorOptions {
  spool: WriteAheadSpool;
  deduper: Deduper;
  /** The node directory now (it comes and goes with the Catchpoint credentials). */
  directory: () => NodeDirectory | undefined;
  metrics: BridgeMetrics;
  logger: Logger;
  /** Largest accepted clock skew into the future for a push timestamp. */
  maxFutureSkewMs: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DROPPED_LOG_INTERVAL_MS = 60_000;

export class Acceptor {
  readonly #spool: WriteAheadSpool;
  readonly #deduper: Deduper;
  readonly #directory: () => NodeDirectory | undefined;
  readonly #metrics: BridgeMetrics;
  readonly #logger: Logger;
  readonly #maxFutureSkewMs: number;
  readonly #stats: MappingStats = newMappingStats();
  #lastPushAt: number | undefined;
  /** When each kind of dropped value (a field, a measurement) was last logged. */
  readonly #droppedLoggedAt = new Map<string, number>();
  /** When the spool's disk began refusing appends (see #diskTrouble), while it does. */
  #diskEpisode: number | undefined;

  constructor(options: AcceptorOptions) {
    this.#spool = options.spool;
    this.#deduper = options.deduper;
    this.#directory = options.directory;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#maxFutureSkewMs = options.maxFutureSkewMs;
  }

  /** When the last push was spooled. */
  get lastPushAt(): number | undefined {
    return this.#lastPushAt;
  }

  /** One push's body, mapped under `gen`. */
  async push(body: Buffer, gen: Generation): Promise<AcceptResult> {
    if (body.length > gen.maxBodyBytes) {
      return { status: 413, outcome: 'too_large', reason: `body over ${gen.maxBodyBytes} bytes` };
    }
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return {
        status: 400,
        outcome: 'invalid',
        code: 'CPB_ERR_PUSH_ENCODING',
        reason: 'body is not valid UTF-8',
      };
    }
    let push: CatchpointPush;
    try {
      push = parsePush(text, gen.format);
    } catch (err) {
      if (hasCode(err, ...PUSH_PARSE_ERROR_CODES)) {
        return { status: 400, outcome: 'invalid', code: err.code, reason: err.message };
      }
      throw err;
    }
    if (push.timestampMs > Date.now() + this.#maxFutureSkewMs) {
      return {
        status: 400,
        outcome: 'invalid',
        code: 'CPB_ERR_PUSH_TIMESTAMP',
        reason: `timestamp ${DateTime.fromMillis(push.timestampMs, { zone: 'utc' }).toISO()} is more than a day in the future`,
      };
    }

    // Ids are canonical digit strings ≤ 2^53 (parsePush), so Number() is exact.
    const dedupe = await this.#deduper.check(Number(push.testId), Number(push.nodeId), push.timestampMs);
    if (dedupe.kind === 'duplicate') return { status: 200, outcome: 'duplicate', datapoints: 0 };

    const directory = this.#directory();
    let node = directory?.lookup(push.nodeId);
    if (node === undefined) {
      directory?.noteUnknown(push.nodeId);
      node = fallbackNodeInfo(push);
    }
    const lines = mapPush(push, node, gen.plan, this.#stats);
    const refused = await this.#append(lines).catch((err: unknown) => {
      dedupe.settle(false);
      throw err;
    });
    dedupe.settle(refused === undefined);
    if (refused !== undefined) return refused;
    this.#diskTrouble(undefined);
    this.#lastPushAt = Date.now();
    this.#flushStats(push);
    return { status: 200, outcome: 'accepted', datapoints: lines.length };
  }

  /** The body of a hand-off from a peer: its records checked (handoff.ts), then spooled. */
  async handoff(body: Buffer, maxTags: number): Promise<AcceptResult> {
    const handoff = readHandoff(body, maxTags);
    if ('refused' in handoff) return handoff.refused;
    const { records } = handoff;
    return (await this.#append(records)) ?? { status: 200, outcome: 'accepted', datapoints: records.length };
  }

  /** Appends to the spool; the 503 when the spool refused (full, or its disk), undefined once spooled. */
  async #append(records: string[]): Promise<AcceptResult | undefined> {
    try {
      await this.#spool.append(records);
    } catch (err) {
      const refused = this.#spoolRefusal(err);
      if (refused !== undefined) return refused;
      throw err;
    }
    this.#metrics.datapointsSpooled.inc(records.length);
    return undefined;
  }

  /** The 503 for an append the spool refused (full, or its disk), undefined for anything else. */
  #spoolRefusal(err: unknown): AcceptResult | undefined {
    if (hasCode(err, 'CPB_ERR_SPOOL_FULL'))
      return {
        status: 503,
        outcome: 'refused_spool_full',
        code: err.code,
        reason: 'spool full; retry later',
      };
    if (hasCode(err, 'CPB_ERR_SPOOL_DISK')) {
      this.#diskTrouble(err as SpoolDiskError);
      return {
        status: 503,
        outcome: 'refused_spool_disk',
        code: err.code,
        reason: `spool disk: ${(err as SpoolDiskError).reason}; retry later`,
      };
    }
    return undefined;
  }

  /** Logs a disk episode once when it starts and once when appends succeed again. */
  #diskTrouble(err: SpoolDiskError | undefined): void {
    if (err !== undefined && this.#diskEpisode === undefined) {
      this.#diskEpisode = Date.now();
      this.#logger.error(
        { code: err.code, reason: err.reason, errno: err.errno, spoolBytes: this.#spool.bytes },
        "the spool's disk cannot take pushes; answering 503 until it can",
      );
    } else if (err === undefined && this.#diskEpisode !== undefined) {
      this.#logger.info(
        { refusedForMs: Date.now() - this.#diskEpisode },
        "the spool's disk takes pushes again",
      );
      this.#diskEpisode = undefined;
    }
  }

  /** Counts what mapping left out; logs what the push carried but could not be read. */
  #flushStats(push: CatchpointPush): void {
    for (const [dimension, n] of this.#stats.missingDimension)
      this.#metrics.dimensionMissing.inc({ dimension }, n);
    for (const [measurement, n] of this.#stats.missingMeasurement)
      this.#metrics.measurementMissing.inc({ measurement }, n);
    for (const [measurement, n] of this.#stats.invalidMeasurement) {
      this.#metrics.measurementInvalid.inc({ measurement }, n);
      this.#warnDropped(
        `measurement ${measurement}`,
        { testId: push.testId, nodeId: push.nodeId, measurement },
        'a measurement of a push is not a number: left out, the rest of the push written',
      );
    }
    if (push.dropped !== undefined) {
      for (const d of push.dropped) {
        this.#metrics.fieldInvalid.inc({ field: d.field });
        this.#warnDropped(
          `field ${d.field}`,
          {
            testId: push.testId,
            nodeId: push.nodeId,
            field: d.field,
            path: d.path,
            value: d.value,
            ...(d.field === 'errorCode' && statusUnknown(push) ? { status: 'unknown, not written' } : {}),
          },
          'an optional field of a push could not be read: left out, the rest of the push written',
        );
      }
    }
    this.#stats.missingDimension.clear();
    this.#stats.missingMeasurement.clear();
    this.#stats.invalidMeasurement.clear();
  }

  /** One warning a minute per kind of dropped value (a template mistake recurs on every push). */
  #warnDropped(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.#droppedLoggedAt.get(kind);
    if (last !== undefined && now - last < DROPPED_LOG_INTERVAL_MS) return;
    this.#droppedLoggedAt.set(kind, now);
    this.#logger.warn(fields, message);
  }
}
