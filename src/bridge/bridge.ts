/**
 * The bridge's core, independent of HTTP: checks the token of a push or a hand-off, counts every
 * outcome, accepts a push (parse, de-duplicate, enrich, map, spool) and runs delivery. A config
 * generation is swapped in whole between pushes: everything a push needs is read from one
 * `Generation` object, so a push is mapped under exactly one config.
 *
 * Without Catchpoint credentials (ResolvedConfig.catchpoint undefined) there is no node directory:
 * one warning, and every push is tagged from what it carries itself (fallbackNodeInfo). Credentials
 * added later start a directory live; credentials removed stop it.
 */
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { spoolDiskReserveBytes } from '../api/spool-volume.ts';
import { NodeDirectory, type NodeDirectoryOptions } from '../catchpoint/directory.ts';
import { PushParseError } from '../catchpoint/errors.ts';
import { fallbackNodeInfo } from '../catchpoint/node.ts';
import { type CatchpointPush, type PushFormat, parsePush, statusUnknown } from '../catchpoint/push.ts';
import { compileTemplate } from '../catchpoint/template.ts';
import type { TsdbWriter } from '../opentsdb/writer.ts';
import { parseDuration, parseQuantity } from '../shared/duration.ts';
import { SpoolDiskError, SpoolFullError, WriteAheadSpool } from '../spool/wal.ts';
import type { ResolvedConfig } from './config.ts';
import { DEFAULT_MAX_ENTRIES, Deduper } from './dedupe.ts';
import { type DedupeEntry, DedupeJournal } from './dedupe-journal.ts';
import { Delivery, type DeliveryOptions } from './delivery.ts';
import { checkHandedOffRecords, type HandoffResult, handOff } from './handoff.ts';
import {
  buildMappingPlan,
  type MappingPlan,
  type MappingStats,
  mapPush,
  newMappingStats,
} from './mapping.ts';
import { type BridgeMetrics, createBridgeMetrics, type PushOutcome } from './metrics.ts';
import { PushTokens } from './push-tokens.ts';
import { createTsdbWriter } from './tsdb-writer.ts';

/** What the HTTP layer answers. `reason` is safe to send to the client. */
export interface AcceptResult {
  status: 200 | 400 | 401 | 413 | 503;
  outcome: PushOutcome;
  code?: string;
  reason?: string;
  datapoints?: number;
}

/** A hand-off as the HTTP layer received it. */
export interface HandoffRequest {
  body: Buffer;
  /** The token the request carried, undefined when it carried none. */
  token: string | undefined;
}

/** A push as the HTTP layer received it. */
export interface PushRequest extends HandoffRequest {
  /** The 401's reason for a push without a token: where this route takes it. */
  noTokenReason: string;
}

interface Generation {
  config: ResolvedConfig;
  plan: MappingPlan;
  format: PushFormat;
  maxBodyBytes: number;
}

export interface BridgeOptions {
  spoolDir: string;
  logger: Logger;
  /** Register process-wide default metrics (off in tests that run several bridges). */
  processMetrics?: boolean;
  /** Largest accepted clock skew into the future for a push timestamp. */
  maxFutureSkewMs?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const FUTURE_SKEW_MS = 24 * 3600_000;
const DROPPED_LOG_INTERVAL_MS = 60_000;

export class Bridge {
  readonly metrics: BridgeMetrics;
  readonly tokens = new PushTokens();
  readonly #logger: Logger;
  readonly #spool: WriteAheadSpool;
  /** Undefined without Catchpoint credentials. */
  #directory: NodeDirectory | undefined;
  readonly #delivery: Delivery;
  readonly #deduper: Deduper;
  readonly #dedupeJournal: DedupeJournal;
  readonly #stats: MappingStats = newMappingStats();
  readonly #maxFutureSkewMs: number;
  #generation: Generation;
  #closing = false;
  #started = false;
  #lastPushAt: number | undefined;
  /** When each kind of dropped value (a field, a measurement) was last logged. */
  readonly #droppedLoggedAt = new Map<string, number>();
  /** When the spool's disk began refusing appends (see #diskTrouble), while it does. */
  #diskEpisode: number | undefined;

  private constructor(
    config: ResolvedConfig,
    spool: WriteAheadSpool,
    writer: TsdbWriter,
    dedupe: { journal: DedupeJournal; entries: DedupeEntry[] },
    options: BridgeOptions,
  ) {
    this.#logger = options.logger;
    this.#spool = spool;
    this.#maxFutureSkewMs = options.maxFutureSkewMs ?? FUTURE_SKEW_MS;
    this.#generation = buildGeneration(config);
    this.#dedupeJournal = dedupe.journal;
    this.#deduper = new Deduper(
      parseDuration(config.spec.push.dedupeWindow),
      DEFAULT_MAX_ENTRIES,
      (t, n, ts) => dedupe.journal.record(t, n, ts),
    );
    this.#deduper.restore(dedupe.entries);
    const directory = directoryOptions(config, options.logger);
    this.#directory = directory === undefined ? undefined : new NodeDirectory(directory);
    if (directory === undefined) warnNoDirectory(config, options.logger);
    this.metrics = createBridgeMetrics(
      {
        spoolBytes: () => spool.bytes,
        spoolRecords: () => spool.records,
        directoryNodes: () => this.#directory?.size ?? 0,
        directoryAgeSeconds: () => {
          const at = this.#directory?.lastSuccessAt;
          return at === undefined ? undefined : (Date.now() - at) / 1000;
        },
        lastPushAgeSeconds: () =>
          this.#lastPushAt === undefined ? undefined : (Date.now() - this.#lastPushAt) / 1000,
      },
      options.processMetrics ?? true,
    );
    this.#delivery = new Delivery(
      spool,
      writer,
      deliveryOptions(config),
      this.metrics,
      options.logger.child({ component: 'delivery' }),
    );
    this.tokens.update(config.pushToken, parseDuration(config.spec.push.tokenRotationOverlap));
    this.metrics.configGeneration.set(config.generation);
  }

  static async create(config: ResolvedConfig, options: BridgeOptions): Promise<Bridge> {
    // The spool exists before the metrics that count its set-aside records: count through a late binding.
    let bridge: Bridge | undefined;
    const spool = await WriteAheadSpool.open({
      dir: options.spoolDir,
      maxBytes: parseQuantity(config.spec.spool.maxBytes),
      durability: config.spec.spool.durability,
      reserveBytes: spoolDiskReserveBytes,
      onSetAside: (record) => {
        bridge?.metrics.spoolRecordsSetAside.inc();
        options.logger.error(
          { ...record, code: 'CPB_ERR_SPOOL_RECORD_SET_ASIDE' },
          'a spool record could not be read; copied aside and skipped, delivery goes on',
        );
      },
    });
    // On the spool's volume: the window survives what the spool survives.
    let lastJournalError = 0;
    const dedupe = await DedupeJournal.open({
      dir: join(options.spoolDir, 'dedupe'),
      windowMs: parseDuration(config.spec.push.dedupeWindow),
      maxEntries: DEFAULT_MAX_ENTRIES,
      onError: (err) => {
        // A full disk shows here first; one line a minute is enough, pushes go on.
        if (Date.now() - lastJournalError < 60_000) return;
        lastJournalError = Date.now();
        options.logger.warn(
          { err },
          'cannot write the de-duplication journal; a restart may write re-deliveries twice',
        );
      },
    });
    const writer = createTsdbWriter(config, options.logger);
    bridge = new Bridge(config, spool, writer, dedupe, options);
    if (spool.repairedOnOpen !== undefined) {
      bridge.metrics.spoolTornTails.inc();
      options.logger.warn(
        { ...spool.repairedOnOpen, code: 'CPB_ERR_SPOOL_TORN_TAIL' },
        'cut a torn record off the spool (the process stopped mid-write; it was never acknowledged)',
      );
    }
    if (spool.converted !== undefined)
      options.logger.info({ ...spool.converted }, 'converted a v0.1 spool to the framed format');
    if (dedupe.entries.length > 0)
      options.logger.info({ keys: dedupe.entries.length }, 'de-duplication window restored');
    return bridge;
  }

  get config(): ResolvedConfig {
    return this.#generation.config;
  }

  /** The node directory, undefined while there are no Catchpoint credentials. */
  get directory(): NodeDirectory | undefined {
    return this.#directory;
  }

  get lastPushAt(): number | undefined {
    return this.#lastPushAt;
  }

  get spoolBytes(): number {
    return this.#spool.bytes;
  }

  /** Ready to take pushes: not shutting down and the spool has headroom. */
  get ready(): boolean {
    return !this.#closing && this.#spool.hasRoomFor(this.#generation.maxBodyBytes * 4);
  }

  get maxBodyBytes(): number {
    return this.#generation.maxBodyBytes;
  }

  start(): void {
    this.#started = true;
    this.#directory?.start();
    this.#delivery.start();
  }

  /** Swaps in a new config generation between pushes. */
  apply(config: ResolvedConfig): void {
    const previous = this.#generation.config;
    this.#generation = buildGeneration(config);
    this.tokens.update(config.pushToken, parseDuration(config.spec.push.tokenRotationOverlap));
    this.#deduper.windowMs = parseDuration(config.spec.push.dedupeWindow);
    this.#dedupeJournal.windowMs = parseDuration(config.spec.push.dedupeWindow);
    this.#reconfigureDirectory(config);
    this.#spool.reconfigure({
      maxBytes: parseQuantity(config.spec.spool.maxBytes),
      durability: config.spec.spool.durability,
    });
    if (
      JSON.stringify([previous.spec.tsdb, previous.tsdbAuth, previous.tsdbTls]) !==
      JSON.stringify([config.spec.tsdb, config.tsdbAuth, config.tsdbTls])
    ) {
      const old = this.#delivery.reconfigure(createTsdbWriter(config, this.#logger), deliveryOptions(config));
      void old.close();
    }
    this.metrics.configGeneration.set(config.generation);
    this.#logger.info({ generation: config.generation }, 'config generation applied');
  }

  /** Reconfigures the directory, or starts or stops it when credentials come or go. */
  #reconfigureDirectory(config: ResolvedConfig): void {
    const options = directoryOptions(config, this.#logger);
    if (options === undefined) {
      if (this.#directory === undefined) return;
      void this.#directory.stop();
      this.#directory = undefined;
      warnNoDirectory(config, this.#logger);
    } else if (this.#directory === undefined) {
      this.#directory = new NodeDirectory(options);
      this.#logger.info('Catchpoint credentials found: loading the node directory');
      if (this.#started && !this.#closing) this.#directory.start();
    } else {
      this.#directory.reconfigure(options);
    }
  }

  /** A push: its token checked, then parsed, mapped and spooled; every outcome counted. */
  async acceptPush(request: PushRequest): Promise<AcceptResult> {
    const result =
      this.#refused(request.token, request.noTokenReason, 'unknown push token') ??
      (await this.#accept(request.body));
    this.metrics.pushes.inc({ outcome: result.outcome });
    return result;
  }

  /**
   * Points a stopping peer hands over (see handoff.ts), with the push token as a bearer header:
   * checked, then spooled like a push's; every outcome counted.
   */
  async acceptHandoff(request: HandoffRequest): Promise<AcceptResult> {
    const result =
      this.#refused(request.token, 'unknown token', 'unknown token') ??
      (await this.#acceptHandoff(request.body));
    this.metrics.handoffsReceived.inc({ outcome: result.outcome });
    return result;
  }

  /**
   * The 401 for a request whose token is wrong, or that carries none (`token` undefined) while one
   * is configured; else the 503 while shutting down; undefined when it may go on.
   */
  #refused(token: string | undefined, missing: string, wrong: string): AcceptResult | undefined {
    const authorized =
      token === undefined ? !this.tokens.required : this.tokens.required && this.tokens.matches(token);
    if (!authorized) {
      return {
        status: 401,
        outcome: 'unauthorized',
        code: 'CPB_ERR_PUSH_UNAUTHORIZED',
        reason: token === undefined ? missing : wrong,
      };
    }
    if (this.#closing) return { status: 503, outcome: 'refused_shutting_down', reason: 'shutting down' };
    return undefined;
  }

  async #accept(body: Buffer): Promise<AcceptResult> {
    const gen = this.#generation;
    if (body.length > gen.maxBodyBytes) {
      return {
        status: 413,
        outcome: 'too_large',
        reason: `body over ${gen.maxBodyBytes} bytes`,
      };
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
      if (err instanceof PushParseError) {
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

    let node = this.#directory?.lookup(push.nodeId);
    if (node === undefined) {
      this.#directory?.noteUnknown(push.nodeId);
      node = fallbackNodeInfo(push);
    }
    const lines = mapPush(push, node, gen.plan, this.#stats);
    try {
      await this.#spool.append(lines);
    } catch (err) {
      dedupe.settle(false);
      const refused = this.#spoolRefusal(err);
      if (refused !== undefined) return refused;
      throw err;
    }
    this.#diskTrouble(undefined);
    dedupe.settle(true);
    this.#lastPushAt = Date.now();
    this.metrics.datapointsSpooled.inc(lines.length);
    this.#flushStats(push);
    return { status: 200, outcome: 'accepted', datapoints: lines.length };
  }

  /**
   * Stops taking pushes, delivers what it can within `drainMs`, hands what is left to a peer
   * replica when `handoffUrl` is given (see handoff.ts), closes the spool.
   */
  async close(drainMs: number, handoffUrl?: string, handoffMs = 10_000): Promise<HandoffResult | undefined> {
    if (this.#closing) return undefined;
    this.#closing = true;
    void this.#directory?.stop();
    await this.#delivery.stop(drainMs);
    let handoff: HandoffResult | undefined;
    if (handoffUrl !== undefined && this.#spool.bytes > 0) {
      handoff = await handOff(this.#spool, handoffUrl, this.#generation.config.pushToken, handoffMs);
      this.#logger.info(
        { ...handoff, spoolBytesLeft: this.#spool.bytes },
        'handed undelivered points to a peer',
      );
    }
    await Promise.all([this.#spool.close(), this.#dedupeJournal.close()]);
    return handoff;
  }

  async #acceptHandoff(body: Buffer): Promise<AcceptResult> {
    const records = body
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');
    const bad = checkHandedOffRecords(records, this.#generation.config.spec.tsdb.maxTags);
    if (bad !== undefined)
      return {
        status: bad.tooLarge ? 413 : 400,
        outcome: 'invalid',
        code: 'CPB_ERR_HANDOFF_INVALID',
        reason: bad.reason,
      };
    try {
      await this.#spool.append(records);
    } catch (err) {
      const refused = this.#spoolRefusal(err);
      if (refused !== undefined) return refused;
      throw err;
    }
    this.metrics.datapointsSpooled.inc(records.length);
    return { status: 200, outcome: 'accepted', datapoints: records.length };
  }

  /** The 503 for an append the spool refused (full, or its disk), undefined for anything else. */
  #spoolRefusal(err: unknown): AcceptResult | undefined {
    if (err instanceof SpoolFullError)
      return {
        status: 503,
        outcome: 'refused_spool_full',
        code: err.code,
        reason: 'spool full; retry later',
      };
    if (err instanceof SpoolDiskError) {
      this.#diskTrouble(err);
      return {
        status: 503,
        outcome: 'refused_spool_disk',
        code: err.code,
        reason: `spool disk: ${err.reason}; retry later`,
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
      this.metrics.dimensionMissing.inc({ dimension }, n);
    for (const [measurement, n] of this.#stats.missingMeasurement)
      this.metrics.measurementMissing.inc({ measurement }, n);
    for (const [measurement, n] of this.#stats.invalidMeasurement) {
      this.metrics.measurementInvalid.inc({ measurement }, n);
      this.#warnDropped(
        `measurement ${measurement}`,
        { testId: push.testId, nodeId: push.nodeId, measurement },
        'a measurement of a push is not a number: left out, the rest of the push written',
      );
    }
    if (push.dropped !== undefined) {
      for (const d of push.dropped) {
        this.metrics.fieldInvalid.inc({ field: d.field });
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

function buildGeneration(config: ResolvedConfig): Generation {
  const push = config.spec.push;
  const format: PushFormat =
    push.format === 'template' && push.template !== undefined
      ? { type: 'template', fields: push.template }
      : { type: 'json' };
  // A bad field map is a config error: refuse the generation now, not every push later.
  if (format.type === 'template') compileTemplate(format.fields);
  return { config, plan: buildMappingPlan(config.spec), format, maxBodyBytes: push.maxBodyBytes };
}

function deliveryOptions(config: ResolvedConfig): DeliveryOptions {
  return {
    maxPoints: config.spec.tsdb.batchMaxPoints,
    maxDelayMs: parseDuration(config.spec.tsdb.batchMaxDelay),
  };
}

/** Undefined without Catchpoint credentials: no directory then. */
function directoryOptions(config: ResolvedConfig, logger: Logger): NodeDirectoryOptions | undefined {
  const cp = config.spec.catchpoint;
  if (config.catchpoint === undefined) return undefined;
  return {
    api: cp.api,
    baseURL: cp.baseURL,
    credentials: config.catchpoint,
    refreshIntervalMs: parseDuration(cp.refreshInterval),
    unknownNodeRefreshMinIntervalMs: parseDuration(cp.unknownNodeRefreshInterval),
    v1BearerEncoding: cp.v1BearerEncoding,
    logger: logger.child({ component: 'directory' }),
  };
}

function warnNoDirectory(config: ResolvedConfig, logger: Logger): void {
  const cp = config.spec.catchpoint;
  const ref = cp.credentialsSecretRef;
  logger.warn(
    { secret: ref.name, keys: cp.api === 'v1' ? [ref.clientIdKey, ref.clientSecretKey] : [ref.apiKeyKey] },
    'no Catchpoint API credentials (the keys are absent or empty): no node directory; each push is ' +
      'tagged from what it carries (node id, ASN, and city, country, continent and ISP from its node name)',
  );
}
