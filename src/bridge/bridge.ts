/**
 * The bridge's core, independent of HTTP: checks the token of a push or a hand-off, counts every
 * outcome, and runs the accept pipeline (accept.ts) and delivery (delivery.ts) from start through
 * live reloads to a close that hands what is left to a peer (handoff.ts). A config generation is
 * swapped in whole between pushes: everything a push needs is read from one `Generation` object,
 * so a push is mapped under exactly one config.
 *
 * Without Catchpoint credentials (ResolvedConfig.catchpoint undefined) there is no node directory:
 * one warning, and every push is tagged from what it carries itself (fallbackNodeInfo). Credentials
 * added later start a directory live; credentials removed stop it.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { spoolDiskReserveBytes } from '../api/spool-volume.ts';
import { NodeDirectory, type NodeDirectoryOptions } from '../catchpoint/directory.ts';
import type { TsdbWriter } from '../opentsdb/writer.ts';
import { parseDuration, parseQuantity } from '../shared/duration.ts';
import { WriteAheadSpool } from '../spool/wal.ts';
import { Acceptor, buildGeneration, type Generation } from './accept.ts';
import type { AcceptResult } from './accept-result.ts';
import type { ResolvedConfig } from './config.ts';
import { DEFAULT_MAX_ENTRIES, Deduper } from './dedupe.ts';
import { type DedupeEntry, DedupeJournal } from './dedupe-journal.ts';
import { Delivery, type DeliveryOptions } from './delivery.ts';
import { type HandoffResult, handOff } from './handoff.ts';
import { type BridgeMetrics, bridgeGaugeSources, createBridgeMetrics } from './metrics.ts';
import { PushTokens } from './push-tokens.ts';
import { createTsdbWriter } from './tsdb-writer.ts';

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

export interface BridgeOptions {
  spoolDir: string;
  logger: Logger;
  /** Register process-wide default metrics (off in tests that run several bridges). */
  processMetrics?: boolean;
  /** Largest accepted clock skew into the future for a push timestamp. */
  maxFutureSkewMs?: number;
}

const FUTURE_SKEW_MS = 24 * 3600_000;

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
  readonly #acceptor: Acceptor;
  #generation: Generation;
  #closing = false;
  #started = false;

  private constructor(
    config: ResolvedConfig,
    spool: WriteAheadSpool,
    writer: TsdbWriter,
    dedupe: { journal: DedupeJournal; entries: DedupeEntry[] },
    options: BridgeOptions,
  ) {
    this.#logger = options.logger;
    this.#spool = spool;
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
      bridgeGaugeSources(
        spool,
        () => this.#directory,
        () => this.lastPushAt,
      ),
      options.processMetrics ?? true,
    );
    this.#acceptor = new Acceptor({
      spool,
      deduper: this.#deduper,
      directory: () => this.#directory,
      metrics: this.metrics,
      logger: options.logger,
      maxFutureSkewMs: options.maxFutureSkewMs ?? FUTURE_SKEW_MS,
    });
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
    return this.#acceptor.lastPushAt;
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

  /** A push: its token checked, then the accept pipeline (accept.ts); every outcome counted. */
  async acceptPush(request: PushRequest): Promise<AcceptResult> {
    const result =
      this.#refused(request.token, request.noTokenReason, 'unknown push token') ??
      (await this.#acceptor.push(request.body, this.#generation));
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
      (await this.#acceptor.handoff(request.body, this.#generation.config.spec.tsdb.maxTags));
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
