/**
 * The node directory: node id → NodeInfo, loaded from Catchpoint's REST API (v1 or v2) and kept
 * fresh in the background. The bridge never waits for it: `lookup` is a Map read, a miss falls
 * back to what the push itself says (fallbackNodeInfo), and `noteUnknown` asks for an early,
 * rate-limited reload so new nodes are picked up without polling Catchpoint on every push.
 *
 * Refresh policy:
 *  - start() kicks off the first load and returns at once.
 *  - After a successful load the next comes after refreshIntervalMs ± 10 % (jitter keeps a fleet
 *    of bridges from calling Catchpoint in step).
 *  - A failed load keeps the last good directory and retries with exponential backoff (capped at
 *    the refresh interval and 5 min, and never sooner than a 429's Retry-After). Both waits are
 *    shared/backoff.ts's (spreadMs, backoffDelayMs).
 *  - An unknown node triggers a reload no sooner than unknownNodeRefreshMinIntervalMs after the
 *    previous attempt, and not while a retry with backoff is pending. Ids still missing after a
 *    reload (a private node, a typo in a template) do not trigger again until the next reload,
 *    so they cost at most one extra reload per refresh interval.
 *  - An empty node list never replaces a non-empty directory (CPB_ERR_CATCHPOINT_EMPTY_LIST).
 *  - reconfigure() swaps the API, base URL or credentials live: the load under way is abandoned,
 *    the current map stays, and a load with the new settings starts at once.
 */
import type { Logger } from 'pino';
import type { CatchpointCredentials } from '../api/secret-data.ts';
import { backoffDelayMs, spreadMs } from '../shared/backoff.ts';
import { hasCode } from '../shared/errors.ts';
import { CATCHPOINT_API_ERROR_CODES, CatchpointApiError, CatchpointConfigError } from './errors.ts';
import { checkBaseURL, type RestClientOptions } from './http.ts';
import type { NodeInfo } from './node.ts';
import type { RateLimitRetryOptions } from './rate-limit.ts';
import { CatchpointV1Client, type V1BearerEncoding } from './rest-v1.ts';
import { CatchpointV2Client } from './rest-v2.ts';

export interface NodeDirectoryOptions {
  api: 'v1' | 'v2';
  /** e.g. https://io.catchpoint.com */
  baseURL: string;
  /** v1: OAuth client id and secret; v2: the API key. */
  credentials: CatchpointCredentials;
  refreshIntervalMs: number;
  /** Least time between the previous load attempt and one triggered by noteUnknown. */
  unknownNodeRefreshMinIntervalMs: number;
  /** v1 only. Default 'auto'. */
  v1BearerEncoding?: V1BearerEncoding;
  logger: Logger;
  /** First retry delay after a failed load; doubles per failure. Default 5 s. */
  retryBaseDelayMs?: number;
  /** Longest wait between failed loads. Default min(refreshIntervalMs, 5 min). */
  retryMaxDelayMs?: number;
  /** 429 handling inside one load (per request). */
  rateLimit?: Partial<RateLimitRetryOptions>;
  /** Per HTTP request. Default 30 s. */
  requestTimeoutMs?: number;
  /** For jitter. Default Math.random. */
  random?: () => number;
}

/** What a directory loads from: one of the REST clients. */
export interface NodeSource {
  fetchNodes(signal?: AbortSignal): Promise<NodeInfo[]>;
  close(): Promise<void>;
}

const DEFAULT_RETRY_BASE_MS = 5_000;
const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** Bounds the unknown-id bookkeeping, whatever the pushes claim. */
const MAX_TRACKED_IDS = 10_000;

export class NodeDirectory {
  #options: NodeDirectoryOptions;
  #source: NodeSource | undefined;
  #nodes = new Map<string, NodeInfo>();
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDueAt = Number.POSITIVE_INFINITY;
  #inflight: Promise<boolean> | undefined;
  #abort: AbortController | undefined;
  /** Bumped by reconfigure/stop: a load from an older generation must not touch state. */
  #generation = 0;
  #failures = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastSuccessAt: number | undefined;
  #lastError: string | undefined;
  #refreshCount = 0;
  /** Unknown ids noted since the last successful load. */
  #requested = new Set<string>();
  /** Ids the last successful load was asked for and did not have. */
  #confirmedMissing = new Set<string>();

  constructor(options: NodeDirectoryOptions) {
    this.#options = checkOptions(options);
  }

  /** Number of nodes in the directory. */
  get size(): number {
    return this.#nodes.size;
  }

  /** Epoch ms of the last successful load, undefined before the first. */
  get lastSuccessAt(): number | undefined {
    return this.#lastSuccessAt;
  }

  /** Error code of the last load attempt, undefined when it succeeded. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Number of successful loads. */
  get refreshCount(): number {
    return this.#refreshCount;
  }

  /** Starts the first load in the background and the refresh schedule. Returns at once. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.refresh();
  }

  /** Stops the schedule, abandons a load under way and closes connections. Never rejects. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#generation++;
    this.#clearTimer();
    this.#abort?.abort();
    const inflight = this.#inflight;
    this.#inflight = undefined;
    const source = this.#source;
    this.#source = undefined;
    await inflight;
    await source?.close().catch(() => {});
  }

  lookup(nodeId: string): NodeInfo | undefined {
    return this.#nodes.get(nodeId);
  }

  /** A push came from a node the directory lacks: reload soon (rate limited, see the top). */
  noteUnknown(nodeId: string): void {
    if (!this.#started || this.#nodes.has(nodeId) || this.#confirmedMissing.has(nodeId)) return;
    if (this.#requested.size < MAX_TRACKED_IDS) this.#requested.add(nodeId);
    // A load under way will settle this id; a failing API already has a retry scheduled.
    if (this.#inflight !== undefined || this.#failures > 0) return;
    const now = Date.now();
    const at = Math.max(now, this.#lastAttemptAt + this.#options.unknownNodeRefreshMinIntervalMs);
    if (at >= this.#timerDueAt) return;
    this.#options.logger.debug({ nodeId, inMs: at - now }, 'unknown node: directory reload scheduled');
    if (at <= now) void this.refresh();
    else this.#schedule(at - now);
  }

  /**
   * Loads the node list now, or joins the load under way. Resolves true when it succeeded;
   * never rejects (the outcome is in lastError). Works before start(), without scheduling.
   */
  refresh(): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight;
    const run = this.#run();
    this.#inflight = run;
    void run.then(() => {
      if (this.#inflight === run) this.#inflight = undefined;
    });
    return run;
  }

  /** Applies new options live; keeps the current nodes. Throws CatchpointConfigError. */
  reconfigure(options: NodeDirectoryOptions): void {
    const next = checkOptions(options);
    const prev = this.#options;
    this.#options = next;
    if (sameSource(prev, next)) {
      if (this.#started && this.#failures === 0 && prev.refreshIntervalMs !== next.refreshIntervalMs) {
        this.#schedule(this.#periodicDelay());
      }
      return;
    }
    this.#generation++;
    this.#abort?.abort();
    this.#inflight = undefined;
    const old = this.#source;
    this.#source = undefined;
    void old?.close().catch(() => {});
    this.#failures = 0;
    this.#confirmedMissing.clear();
    next.logger.info({ api: next.api }, 'node directory reconfigured; reloading');
    if (this.#started) void this.refresh();
  }

  async #run(): Promise<boolean> {
    const generation = this.#generation;
    const options = this.#options;
    this.#clearTimer();
    const controller = new AbortController();
    this.#abort = controller;
    const startedAt = Date.now();
    this.#lastAttemptAt = startedAt;
    try {
      const source = this.#ensureSource();
      const nodes = await source.fetchNodes(controller.signal);
      if (generation !== this.#generation) return false;
      if (nodes.length === 0) {
        throw new CatchpointApiError('CPB_ERR_CATCHPOINT_EMPTY_LIST', 'Catchpoint returned no nodes');
      }
      const map = new Map<string, NodeInfo>();
      for (const node of nodes) map.set(node.id, node);
      this.#nodes = map;
      this.#confirmedMissing = new Set([...this.#requested].filter((id) => !map.has(id)));
      this.#requested.clear();
      this.#failures = 0;
      this.#lastError = undefined;
      this.#lastSuccessAt = Date.now();
      this.#refreshCount++;
      options.logger.info(
        {
          api: options.api,
          nodes: map.size,
          durationMs: this.#lastSuccessAt - startedAt,
          ...(source instanceof CatchpointV1Client ? { bearerEncoding: source.bearerEncoding } : {}),
        },
        'node directory loaded',
      );
      this.#schedule(this.#periodicDelay());
      return true;
    } catch (err) {
      if (generation !== this.#generation) return false;
      this.#failures++;
      const delay = this.#retryDelay(err);
      this.#lastError = describeFailure(err, options.logger, {
        api: options.api,
        failures: this.#failures,
        retryInMs: this.#started ? delay : undefined,
        keptNodes: this.#nodes.size,
      });
      this.#schedule(delay);
      return false;
    } finally {
      if (this.#abort === controller) this.#abort = undefined;
    }
  }

  #ensureSource(): NodeSource {
    this.#source ??= createNodeSource(this.#options);
    return this.#source;
  }

  #periodicDelay(): number {
    return Math.round(spreadMs(this.#options.refreshIntervalMs, 0.9, 1.1, this.#options.random));
  }

  /** Backoff after this.#failures failed loads; a 429's Retry-After lengthens it, uncapped. */
  #retryDelay(err: unknown): number {
    const o = this.#options;
    const maxMs = o.retryMaxDelayMs ?? Math.min(o.refreshIntervalMs, MAX_RETRY_DELAY_MS);
    const baseMs = Math.min(o.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_MS, maxMs);
    const retryAfter = hasCode(err, ...CATCHPOINT_API_ERROR_CODES)
      ? ((err as CatchpointApiError).retryAfterMs ?? 0)
      : 0;
    return backoffDelayMs(this.#failures, { baseMs, maxMs, random: o.random }, retryAfter);
  }

  #schedule(delayMs: number): void {
    this.#clearTimer();
    if (!this.#started) return;
    this.#timerDueAt = Date.now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDueAt = Number.POSITIVE_INFINITY;
      void this.refresh();
    }, delayMs);
    // The directory must never be what keeps the process alive.
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDueAt = Number.POSITIVE_INFINITY;
  }
}

/** The REST client for the options' API. */
export function createNodeSource(options: NodeDirectoryOptions): NodeSource {
  const common: RestClientOptions = {
    baseURL: options.baseURL,
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
  };
  const credentials = options.credentials;
  if (options.api === 'v1' && 'clientId' in credentials) {
    return new CatchpointV1Client({
      ...common,
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
      bearerEncoding: options.v1BearerEncoding ?? 'auto',
    });
  }
  if (options.api === 'v2' && 'apiKey' in credentials) {
    return new CatchpointV2Client({ ...common, apiKey: credentials.apiKey });
  }
  throw new CatchpointConfigError(
    `Catchpoint ${options.api} needs ${options.api === 'v1' ? 'clientId and clientSecret' : 'apiKey'}`,
  );
}

function checkOptions(options: NodeDirectoryOptions): NodeDirectoryOptions {
  if (options.api !== 'v1' && options.api !== 'v2')
    throw new CatchpointConfigError("api must be 'v1' or 'v2'");
  const c = options.credentials as
    | Partial<Record<'clientId' | 'clientSecret' | 'apiKey', unknown>>
    | undefined;
  const filled = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
  if (options.api === 'v1' && !(filled(c?.clientId) && filled(c?.clientSecret))) {
    throw new CatchpointConfigError('Catchpoint v1 needs credentials { clientId, clientSecret }');
  }
  if (options.api === 'v2' && !filled(c?.apiKey)) {
    throw new CatchpointConfigError('Catchpoint v2 needs credentials { apiKey }');
  }
  for (const key of ['refreshIntervalMs', 'unknownNodeRefreshMinIntervalMs'] as const) {
    const v = options[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new CatchpointConfigError(`${key} must be a positive number of milliseconds`);
    }
  }
  const encoding = options.v1BearerEncoding ?? 'auto';
  if (encoding !== 'auto' && encoding !== 'raw' && encoding !== 'base64') {
    throw new CatchpointConfigError("v1BearerEncoding must be 'auto', 'raw' or 'base64'");
  }
  checkBaseURL(options.baseURL);
  return options;
}

/** Whether two option sets talk to Catchpoint the same way (the REST client can be kept). */
function sameSource(a: NodeDirectoryOptions, b: NodeDirectoryOptions): boolean {
  const ca = a.credentials as Record<string, unknown>;
  const cb = b.credentials as Record<string, unknown>;
  return (
    a.api === b.api &&
    a.baseURL === b.baseURL &&
    (a.v1BearerEncoding ?? 'auto') === (b.v1BearerEncoding ?? 'auto') &&
    a.requestTimeoutMs === b.requestTimeoutMs &&
    ca.clientId === cb.clientId &&
    ca.clientSecret === cb.clientSecret &&
    ca.apiKey === cb.apiKey &&
    JSON.stringify(a.rateLimit ?? {}) === JSON.stringify(b.rateLimit ?? {})
  );
}

/** Logs a failed load (without credentials) and returns its code for lastError. */
function describeFailure(err: unknown, logger: Logger, context: Record<string, unknown>): string {
  if (hasCode(err, ...CATCHPOINT_API_ERROR_CODES)) {
    logger.warn(
      { ...context, code: err.code, status: (err as CatchpointApiError).status },
      `node directory load failed: ${err.message}`,
    );
    return err.code;
  }
  if (hasCode(err, 'CPB_ERR_CATCHPOINT_CONFIG')) {
    logger.error({ ...context, code: err.code }, `node directory load failed: ${err.message}`);
    return err.code;
  }
  // A bug, not Catchpoint: keep the stack. Our errors never carry credentials; others might
  // quote anything, so only their name, message and stack are logged.
  const e = err instanceof Error ? err : new Error(String(err));
  logger.error(
    {
      ...context,
      code: 'CPB_ERR_CATCHPOINT_INTERNAL',
      err: { type: e.name, message: e.message, stack: e.stack },
    },
    'node directory load failed unexpectedly',
  );
  return 'CPB_ERR_CATCHPOINT_INTERNAL';
}
