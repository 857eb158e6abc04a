/**
 * A self-healing list+watch cache of one collection (client-go's reflector + store, minus the
 * parts we do not need). This is the reflector: the store is object-store.ts, the splitting of a
 * watch stream into events watch-lines.ts.
 *
 * Loop: list (paged) → replace the store, emitting add/update/delete for the differences → watch
 * from the list's resourceVersion. A 410 Gone (HTTP or ERROR event) drops the resourceVersion and
 * relists; every other error or close restarts with capped, jittered exponential backoff. A
 * watchdog reconnects when nothing (not even a bookmark) arrived for `silenceTimeoutMs`, catching
 * half-open connections; a jittered periodic relist repairs anything missed. Nothing escapes the
 * loop: errors are logged (rate-limited) and retried until stop().
 *
 * client-node's Watch cannot send a custom Accept header (needed for metadata-only watches) and its
 * ListWatch stops for good on the first non-410 error, hence our own loop over request.ts.
 *
 * Cached objects are shared with every handler and caller: treat them as read-only.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelayMs, spreadMs } from '../shared/backoff.ts';
import { hasCode } from '../shared/errors.ts';
import { describeKubeError, isGone, KubeApiError, KubeError, type KubeStatus } from './errors.ts';
import { pause, StoppableLoop } from './loop.ts';
import { ObjectStore, type StoreChange, type StoredObject } from './object-store.ts';
import { kubeRequest, kubeStream } from './request.ts';
import { LineSplitter } from './watch-lines.ts';

/** What an informer caches: an object with a name, maybe a namespace, and a resourceVersion. */
export type InformerObject = StoredObject;

export interface InformerOptions {
  kc: KubeConfig;
  logger: Logger;
  /** Collection path: `/apis/g/v/plural` (all namespaces) or `/api/v1/namespaces/ns/secrets`. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  /**
   * List and watch as PartialObjectMetadata: only apiVersion, kind and metadata are transferred and
   * cached (e.g. Secrets without their data). The RBAC verbs are the same as for full objects.
   */
  metadataOnly?: boolean;
  /** Full relist period, ±10 % jitter. Default 10 min; 0 disables. */
  resyncMs?: number;
  /** Reconnect when no event or bookmark arrived for this long. Default 5 min. */
  silenceTimeoutMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** Reconnect backoff: initial and cap, and how long a watch must last to reset it. */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** At most one reconnect warning per this interval (the rest go to debug). Default 30 s. */
  reconnectLogIntervalMs?: number;
}

export interface InformerStats {
  /** Completed lists (the first one included). */
  relists: number;
  /** Watch restarts after an error, close, 410 or silence (not counting periodic resyncs). */
  reconnects: number;
  /** `Date.now()` of the last watch event or bookmark, 0 before the first. */
  lastEventAt: number;
}

type AddHandler<T> = (obj: T) => void;
type UpdateHandler<T> = (obj: T, old: T) => void;

/** Why a watch ended without an error. */
type WatchEnd = 'closed' | 'resync' | 'silence';

const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

// client-go's reflector: the server ends each watch after a random 5–10 min, spreading reconnects.
const MIN_WATCH_TIMEOUT_S = 300;
const LIST_TIMEOUT_MS = 60_000;

export class Informer<T extends InformerObject> {
  readonly #kc: KubeConfig;
  readonly #logger: Logger;
  readonly #path: string;
  readonly #selectors: { fieldSelector?: string | undefined; labelSelector?: string | undefined };
  readonly #metadataOnly: boolean;
  readonly #resyncMs: number;
  readonly #silenceTimeoutMs: number;
  readonly #pageSize: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #backoffResetAfterMs: number;
  readonly #reconnectLogIntervalMs: number;

  readonly #store = new ObjectStore<T>();
  readonly #addHandlers: AddHandler<T>[] = [];
  readonly #updateHandlers: UpdateHandler<T>[] = [];
  readonly #deleteHandlers: AddHandler<T>[] = [];

  readonly #loop: StoppableLoop;
  #resourceVersion: string | undefined;
  #nextResyncAt = Number.POSITIVE_INFINITY;
  #watchOpenedAt: number | undefined;
  #failures = 0;
  #lastReconnectLogAt = Number.NEGATIVE_INFINITY;
  #suppressedReconnectLogs = 0;
  #hasSynced = false;
  readonly #synced: Promise<void>;
  #resolveSynced!: () => void;
  #rejectSynced!: (err: unknown) => void;
  readonly #stats: InformerStats = { relists: 0, reconnects: 0, lastEventAt: 0 };

  constructor(options: InformerOptions) {
    this.#kc = options.kc;
    this.#path = options.path;
    this.#logger = options.logger.child({ component: 'informer', path: options.path });
    this.#selectors = { fieldSelector: options.fieldSelector, labelSelector: options.labelSelector };
    this.#metadataOnly = options.metadataOnly ?? false;
    this.#resyncMs = options.resyncMs ?? 10 * 60_000;
    this.#silenceTimeoutMs = options.silenceTimeoutMs ?? 5 * 60_000;
    this.#pageSize = options.pageSize ?? 500;
    this.#backoffInitialMs = options.backoff?.initialMs ?? 200;
    this.#backoffMaxMs = options.backoff?.maxMs ?? 30_000;
    this.#backoffResetAfterMs = options.backoff?.resetAfterMs ?? 60_000;
    this.#reconnectLogIntervalMs = options.reconnectLogIntervalMs ?? 30_000;
    this.#loop = new StoppableLoop(`informer for ${options.path}`, (signal) => this.#run(signal));
    this.#synced = new Promise<void>((resolve, reject) => {
      this.#resolveSynced = resolve;
      this.#rejectSynced = reject;
    });
    // Rejected only by stop() before the first list; awaiting it still sees the rejection, but a
    // caller that never awaits it must not get an unhandled rejection.
    this.#synced.catch(() => {});
  }

  /** Handlers run synchronously in event order; keep them cheap (enqueue a key). Throws are logged. */
  on(event: 'add' | 'delete', handler: AddHandler<T>): this;
  on(event: 'update', handler: UpdateHandler<T>): this;
  on(event: 'add' | 'update' | 'delete', handler: AddHandler<T> | UpdateHandler<T>): this {
    if (event === 'add') this.#addHandlers.push(handler as AddHandler<T>);
    else if (event === 'update') this.#updateHandlers.push(handler as UpdateHandler<T>);
    else this.#deleteHandlers.push(handler as AddHandler<T>);
    return this;
  }

  /** Resolves after the first complete list (readiness); rejects if stopped before that. */
  get synced(): Promise<void> {
    return this.#synced;
  }

  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  get stats(): Readonly<InformerStats> {
    return { ...this.#stats };
  }

  /** Starts the loop; idempotent. An informer cannot be restarted after stop(). */
  start(): void {
    this.#loop.start();
  }

  /** Aborts the open request, clears every timer and resolves once the loop has exited. */
  async stop(): Promise<void> {
    const stopped = this.#loop.stop();
    if (!this.#hasSynced) {
      this.#rejectSynced(
        new KubeError('CPB_ERR_KUBE_STOPPED', `informer for ${this.#path} stopped before sync`),
      );
    }
    await stopped;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#store.get(namespace, name);
  }

  /** All cached objects, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.#store.list(namespace);
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let end: WatchEnd | undefined;
      let error: unknown;
      try {
        if (this.#resourceVersion === undefined) await this.#relist(signal);
        end = await this.#watch(signal);
      } catch (err) {
        error = err;
      }
      if (signal.aborted) break;
      // stop() during the backoff ends it at once.
      await pause(this.#afterWatch(end, error), signal);
    }
  }

  /** Decides what follows a watch (or list) that ended; returns the delay before the next try. */
  #afterWatch(end: WatchEnd | undefined, error: unknown): number {
    const openedAt = this.#watchOpenedAt;
    this.#watchOpenedAt = undefined;
    const healthy = openedAt !== undefined && performance.now() - openedAt >= this.#backoffResetAfterMs;
    if (healthy) this.#failures = 0;
    if (end === 'resync') {
      this.#resourceVersion = undefined;
      return 0;
    }
    this.#stats.reconnects++;
    // The server's own timeoutSeconds: reconnect from where we are.
    if (end === 'closed' && healthy) return 0;
    const gone = error !== undefined && isGone(error);
    if (gone) this.#resourceVersion = undefined;
    const first = this.#failures === 0;
    this.#failures++;
    // One 410 after a healthy run is routine (compaction): relist at once. Repeats back off, so a
    // server that keeps answering 410 is not hammered (client-node #1933).
    if (gone && first) {
      this.#logger.debug({ cause: describeKubeError(error) }, 'watch expired: relisting');
      return 0;
    }
    const delayMs = this.#backoffDelay(error);
    this.#logReconnect(end, error, delayMs);
    return delayMs;
  }

  #backoffDelay(error: unknown): number {
    // Equal jitter: at least half the step, so delays still grow, but replicas do not sync up.
    const retryAfter = hasCode(error, 'CPB_ERR_KUBE_API') ? ((error as KubeApiError).retryAfterMs ?? 0) : 0;
    return backoffDelayMs(
      this.#failures,
      { baseMs: this.#backoffInitialMs, maxMs: this.#backoffMaxMs },
      Math.min(retryAfter, this.#backoffMaxMs),
    );
  }

  #logReconnect(end: WatchEnd | undefined, error: unknown, delayMs: number): void {
    const fields = {
      cause: error === undefined ? end : describeKubeError(error),
      delayMs: Math.round(delayMs),
      failures: this.#failures,
      relist: this.#resourceVersion === undefined,
    };
    const now = performance.now();
    if (now - this.#lastReconnectLogAt < this.#reconnectLogIntervalMs) {
      this.#suppressedReconnectLogs++;
      this.#logger.debug(fields, 'watch reconnecting');
      return;
    }
    this.#lastReconnectLogAt = now;
    this.#logger.warn({ ...fields, suppressed: this.#suppressedReconnectLogs }, 'watch reconnecting');
    this.#suppressedReconnectLogs = 0;
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let continueToken: string | undefined;
    do {
      const page = await kubeRequest<KubeList<T>>(this.#kc, {
        path: this.#path,
        query: { ...this.#selectors, limit: this.#pageSize, continue: continueToken },
        accept: this.#metadataOnly ? METADATA_LIST_ACCEPT : 'application/json',
        signal,
        timeoutMs: LIST_TIMEOUT_MS,
      });
      // Every page of a paged list is the same snapshot; a 410 on a stale continue token restarts
      // the whole list through the loop.
      resourceVersion = page.metadata?.resourceVersion;
      const itemKind = page.kind?.replace(/List$/, '');
      for (const item of page.items ?? []) {
        // List items of built-in kinds come without apiVersion/kind; watch events carry them.
        // Fill them in so cached objects have one shape whatever delivered them.
        const obj = item as T & { apiVersion?: string; kind?: string };
        if (obj.apiVersion === undefined && page.apiVersion !== undefined) obj.apiVersion = page.apiVersion;
        if (obj.kind === undefined && itemKind !== undefined) obj.kind = itemKind;
        items.push(obj);
      }
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken !== undefined);
    if (!resourceVersion)
      throw new KubeError('CPB_ERR_KUBE_BAD_RESPONSE', `list ${this.#path} had no resourceVersion`);

    // Swapped in whole only now: a list that fails halfway leaves the cache as it was.
    this.#emit(this.#store.replace(items));
    this.#resourceVersion = resourceVersion;
    this.#stats.relists++;
    this.#nextResyncAt =
      this.#resyncMs > 0 ? performance.now() + spreadMs(this.#resyncMs, 0.9, 1.1) : Number.POSITIVE_INFINITY;
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#resolveSynced();
    }
  }

  /** Tells handlers what a relist changed (after the swap, so they see the new store). */
  #emit(changes: StoreChange<T>[]): void {
    for (const change of changes) {
      if (change.type === 'add') this.#emitAdd(change.obj);
      else if (change.type === 'update') this.#emitUpdate(change.obj, change.old);
      else this.#emitDelete(change.obj);
    }
  }

  async #watch(signal: AbortSignal): Promise<WatchEnd> {
    const controller = new AbortController();
    let end: WatchEnd = 'closed';
    const endWith = (reason: WatchEnd) => {
      end = reason;
      controller.abort();
    };
    let silenceTimer: NodeJS.Timeout | undefined;
    const armSilence = () => {
      clearTimeout(silenceTimer);
      silenceTimer = setTimeout(() => endWith('silence'), this.#silenceTimeoutMs);
    };
    const resyncIn = this.#nextResyncAt - performance.now();
    if (resyncIn <= 0) return 'resync';
    const resyncTimer = Number.isFinite(resyncIn) ? setTimeout(() => endWith('resync'), resyncIn) : undefined;
    try {
      armSilence();
      const body = await kubeStream(this.#kc, {
        path: this.#path,
        query: {
          ...this.#selectors,
          watch: true,
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: MIN_WATCH_TIMEOUT_S + Math.floor(Math.random() * MIN_WATCH_TIMEOUT_S),
        },
        accept: this.#metadataOnly ? METADATA_WATCH_ACCEPT : 'application/json',
        signal: AbortSignal.any([signal, controller.signal]),
      });
      this.#watchOpenedAt = performance.now();
      body.setEncoding('utf8');
      const lines = new LineSplitter();
      for await (const chunk of body as AsyncIterable<string>) {
        armSilence();
        for (const line of lines.push(chunk)) this.#onWatchLine(line);
      }
      return end;
    } catch (err) {
      // Our own abort (resync or silence) is an ordinary end, not an error.
      if (controller.signal.aborted && !signal.aborted) return end;
      throw err;
    } finally {
      clearTimeout(silenceTimer);
      clearTimeout(resyncTimer);
      controller.abort();
    }
  }

  #onWatchLine(line: string): void {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      // Skipping a line could lose an event forever; reconnect instead (client-node ignores it).
      throw new KubeError('CPB_ERR_KUBE_BAD_RESPONSE', `watch ${this.#path}: a line is not JSON`);
    }
    this.#stats.lastEventAt = Date.now();
    const object = event.object as (T & { metadata?: T['metadata'] }) | undefined;
    if (event.type === 'ERROR') {
      const status = object as KubeStatus | undefined;
      throw new KubeApiError({ statusCode: status?.code ?? 500, request: `WATCH ${this.#path}`, status });
    }
    const name = object?.metadata?.name;
    const resourceVersion = object?.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (resourceVersion) this.#resourceVersion = resourceVersion;
      return;
    }
    if (object === undefined || name === undefined || !resourceVersion) {
      throw new KubeError(
        'CPB_ERR_KUBE_BAD_RESPONSE',
        `watch ${this.#path}: ${String(event.type)} event without object`,
      );
    }
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const previous = this.#store.set(object);
        this.#resourceVersion = resourceVersion;
        if (previous === undefined) this.#emitAdd(object);
        else if (previous.metadata.resourceVersion !== resourceVersion) this.#emitUpdate(object, previous);
        return;
      }
      case 'DELETED': {
        this.#store.delete(object);
        this.#resourceVersion = resourceVersion;
        this.#emitDelete(object);
        return;
      }
      default:
        throw new KubeError(
          'CPB_ERR_KUBE_BAD_RESPONSE',
          `watch ${this.#path}: unknown event type ${String(event.type)}`,
        );
    }
  }

  #emitAdd(obj: T): void {
    for (const handler of this.#addHandlers) this.#call('add', () => handler(obj));
  }

  #emitUpdate(obj: T, old: T): void {
    for (const handler of this.#updateHandlers) this.#call('update', () => handler(obj, old));
  }

  #emitDelete(obj: T): void {
    for (const handler of this.#deleteHandlers) this.#call('delete', () => handler(obj));
  }

  #call(event: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A handler bug must not kill the watch (or, as in client-node, the process).
      this.#logger.error({ event, error: describeKubeError(err) }, 'informer handler threw');
    }
  }
}

interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}
