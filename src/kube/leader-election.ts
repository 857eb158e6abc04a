/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's protocol:
 *
 * - Candidates poll the Lease every retryPeriod (+ up to 20 % jitter). A missing Lease is created;
 *   a Lease whose holder is empty, or has not changed for the holder's leaseDurationSeconds, is
 *   taken over. Writes carry the resourceVersion read, so of two racing candidates exactly one
 *   wins and the other gets 409 Conflict.
 * - Expiry is judged by the LOCAL time at which we last saw the record change, never by the
 *   holder's renewTime, so clock skew between nodes does not matter.
 * - The leader renews every retryPeriod. If it has not renewed for renewDeadline (< leaseDuration,
 *   so before anyone else may take over), or sees another holder, it steps down at once: the
 *   signal given to onStartedLeading aborts. It then campaigns again.
 * - stop() ends the term and releases the Lease (empty holder, leaseDurationSeconds 1), so a
 *   standby takes over within one retryPeriod instead of a whole leaseDuration.
 *
 * All requests go through request.ts as raw JSON: timestamps are MicroTime, which the API server
 * parses with six fractional digits (Date#toISOString's three are rejected).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { spreadMs } from '../shared/backoff.ts';
import { describeKubeError, isConflict, isNotFound, KubeError } from './errors.ts';
import { pause, StoppableLoop } from './loop.ts';
import { kubeRequest } from './request.ts';

export interface LeaderElectorOptions {
  kc: KubeConfig;
  namespace: string;
  /** Lease name, one per controller (e.g. `catchpoint-operator`). */
  name: string;
  /** Unique per process: pod name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  /**
   * Called when this process becomes leader. `signal` aborts when leadership ends; the work must
   * stop then. If it returns a promise, a new term (or the Lease release on stop()) waits for it
   * to settle, for at most renewDeadlineMs.
   */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called after each term, once the signal has aborted. */
  onStoppedLeading?: () => void;
}

/** A coordination.k8s.io/v1 Lease's spec: who holds it, for how long, since when. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  [field: string]: unknown;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [field: string]: unknown };
  spec?: LeaseSpec;
}

/** Outcome of one try: ours now; validly held by someone else; or could not tell (retry). */
type Attempt = 'ours' | 'held' | 'failed';

export class LeaderElector {
  readonly #kc: KubeConfig;
  readonly #namespace: string;
  readonly #name: string;
  readonly #identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #logger: Logger;
  readonly #onStartedLeading: LeaderElectorOptions['onStartedLeading'];
  readonly #onStoppedLeading: (() => void) | undefined;

  readonly #loop = new StoppableLoop('leader elector', (signal) => this.#run(signal));
  /** The Lease as last read or written by us. */
  #lease: Lease | undefined;
  #observedRecord: string | undefined;
  #observedAt = 0;
  #term: { controller: AbortController; work: Promise<void> } | undefined;
  #failing = false;

  constructor(options: LeaderElectorOptions) {
    this.#kc = options.kc;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#identity = options.identity;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#logger = options.logger.child({
      component: 'leader-election',
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
    this.#onStartedLeading = options.onStartedLeading;
    this.#onStoppedLeading = options.onStoppedLeading;
    // client-go's invariants: the leader gives up before others may take over, with room for retries.
    if (
      !options.identity ||
      this.#leaseDurationMs < 1000 ||
      this.#leaseDurationMs <= this.#renewDeadlineMs ||
      this.#renewDeadlineMs <= this.#retryPeriodMs * 1.2 ||
      this.#retryPeriodMs <= 0
    ) {
      throw new KubeError(
        'CPB_ERR_KUBE_BAD_OPTIONS',
        'leader election needs an identity and leaseDuration (>= 1 s) > renewDeadline > 1.2 × retryPeriod > 0',
      );
    }
  }

  get isLeader(): boolean {
    return this.#term !== undefined && !this.#term.controller.signal.aborted;
  }

  get identity(): string {
    return this.#identity;
  }

  /** Starts campaigning; idempotent. An elector cannot be restarted after stop(). */
  start(): void {
    this.#loop.start();
  }

  /** Ends a term in progress, releases the Lease if we hold it, and stops campaigning. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#campaign(signal))) break;
      if (signal.aborted) {
        // Won just as stop() was called: no term, hand the Lease straight back.
        await this.#release();
        break;
      }
      this.#startTerm();
      await this.#renewUntilLost(signal);
      await this.#endTerm();
      if (signal.aborted) await this.#release();
    }
  }

  /** Tries every retryPeriod until the Lease is ours (true) or we are stopped (false). */
  async #campaign(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if ((await this.#tryAcquireOrRenew(this.#renewDeadlineMs)) === 'ours') return true;
      await pause(spreadMs(this.#retryPeriodMs, 1, 1.2), signal);
    }
    return false;
  }

  /** Renews every retryPeriod; returns when leadership is lost or we are stopped. */
  async #renewUntilLost(signal: AbortSignal): Promise<void> {
    let renewedAt = performance.now();
    while (!signal.aborted) {
      const left = () => this.#renewDeadlineMs - (performance.now() - renewedAt);
      await pause(Math.min(this.#retryPeriodMs, Math.max(0, left())), signal);
      if (signal.aborted) return;
      if (left() > 0) {
        // Counted from before the request: others count from when they see our write, later.
        const sentAt = performance.now();
        const attempt = await this.#tryAcquireOrRenew(left());
        if (attempt === 'ours') {
          renewedAt = sentAt;
          continue;
        }
        if (attempt === 'held') {
          this.#logger.warn('another candidate holds the lease: stepping down');
          return;
        }
      }
      if (left() <= 0 && !signal.aborted) {
        this.#logger.error(
          { renewDeadlineMs: this.#renewDeadlineMs },
          'could not renew the lease in time: stepping down',
        );
        return;
      }
    }
  }

  /**
   * One read-and-write of the Lease. Deliberately not aborted by stop(): a write the server has
   * committed but we never saw would leave us holding a Lease we do not know about (so nothing
   * releases it) or with a stale resourceVersion (so the release gets 409). The timeout bounds it.
   */
  async #tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    // One deadline for the whole attempt (it may take up to three requests).
    const ms = Math.max(1, Math.round(timeoutMs));
    const request = { signal: AbortSignal.timeout(ms), timeoutMs: ms };
    try {
      // Fast path for the leader: write on top of what we last wrote; 409 means it changed.
      if (this.isLeader && this.#lease !== undefined) {
        try {
          this.#saw(await this.#put(this.#recordFor(this.#lease), request), true);
          return this.#succeeded();
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
      }
      let lease: Lease;
      try {
        lease = await kubeRequest<Lease>(this.#kc, { path: this.#path(), ...request });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await kubeRequest<Lease>(this.#kc, {
          method: 'POST',
          path: this.#path(false),
          body: this.#recordFor(undefined),
          ...request,
        });
        this.#saw(created, true);
        return this.#succeeded();
      }
      this.#saw(lease, false);
      const holder = lease.spec?.holderIdentity;
      if (holder && holder !== this.#identity && !this.#expired(lease)) {
        this.#failing = false;
        return 'held';
      }
      this.#saw(await this.#put(this.#recordFor(lease), request), true);
      return this.#succeeded();
    } catch (err) {
      // 409 (on create: AlreadyExists): another candidate wrote first; the next read tells who.
      if (isConflict(err)) {
        this.#logger.debug('lost a race for the lease');
        return 'failed';
      }
      if (!this.#failing) this.#logger.warn({ error: describeKubeError(err) }, 'lease request failed');
      this.#failing = true;
      return 'failed';
    }
  }

  #succeeded(): Attempt {
    if (this.#failing) this.#logger.info('lease requests work again');
    this.#failing = false;
    return 'ours';
  }

  /** The Lease to write: renewed if ours, taken over (new acquireTime, one more transition) if not. */
  #recordFor(current: Lease | undefined): Lease {
    const now = microTime(Date.now());
    const spec = current?.spec ?? {};
    const ours = spec.holderIdentity === this.#identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...current?.metadata, name: this.#name, namespace: this.#namespace },
      spec: {
        ...spec,
        holderIdentity: this.#identity,
        leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
        acquireTime: ours && spec.acquireTime ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: current === undefined ? 0 : (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
  }

  /** Records a Lease we read or wrote; the expiry clock restarts whenever the record changed. */
  #saw(lease: Lease, wroteIt: boolean): void {
    this.#lease = lease;
    const record = JSON.stringify(lease.spec ?? {});
    if (wroteIt || record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = performance.now();
    }
  }

  #expired(lease: Lease): boolean {
    // The holder's duration, not ours: replicas of different versions may disagree.
    const seconds = lease.spec?.leaseDurationSeconds ?? Math.ceil(this.#leaseDurationMs / 1000);
    return performance.now() - this.#observedAt > seconds * 1000;
  }

  #startTerm(): void {
    const controller = new AbortController();
    const term = { controller, work: Promise.resolve() };
    // Set before the callback runs, so isLeader is already true inside it.
    this.#term = term;
    this.#logger.info('became leader');
    let work: Promise<void>;
    try {
      work = Promise.resolve(this.#onStartedLeading(controller.signal));
    } catch (err) {
      work = Promise.reject(err);
    }
    term.work = work.catch((err: unknown) => {
      this.#logger.error({ error: describeKubeError(err) }, 'onStartedLeading failed');
    });
  }

  async #endTerm(): Promise<void> {
    const term = this.#term;
    if (term === undefined) return;
    term.controller.abort();
    this.#logger.info('stopped leading');
    // Let the work wind down before a new term or the release, but not forever.
    const giveUp = new AbortController();
    await Promise.race([term.work, pause(this.#renewDeadlineMs, giveUp.signal)]);
    giveUp.abort();
    this.#term = undefined;
    try {
      this.#onStoppedLeading?.();
    } catch (err) {
      this.#logger.error({ error: describeKubeError(err) }, 'onStoppedLeading failed');
    }
  }

  /**
   * Hands the Lease over at once: empty holder, 1 s duration; only while it is still ours. A 409
   * usually means stop() aborted a renewal the server had already committed (our resourceVersion
   * is stale), so read the Lease again and retry once before leaving it to expire.
   */
  async #release(): Promise<void> {
    const request = { timeoutMs: this.#renewDeadlineMs };
    let lease = this.#lease;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (lease?.spec?.holderIdentity !== this.#identity) return;
      const { holderIdentity: _, ...rest } = lease.spec;
      const released: Lease = {
        ...lease,
        spec: { ...rest, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
      };
      try {
        this.#saw(await this.#put(released, request), true);
        this.#logger.info('released the lease');
        return;
      } catch (err) {
        if (!isConflict(err) || attempt > 0) {
          // It expires after leaseDuration anyway.
          this.#logger.warn({ error: describeKubeError(err) }, 'could not release the lease');
          return;
        }
      }
      try {
        lease = await kubeRequest<Lease>(this.#kc, { path: this.#path(), ...request });
      } catch (err) {
        this.#logger.warn({ error: describeKubeError(err) }, 'could not release the lease');
        return;
      }
    }
  }

  #put(lease: Lease, request: { signal?: AbortSignal; timeoutMs: number }): Promise<Lease> {
    return kubeRequest<Lease>(this.#kc, { method: 'PUT', path: this.#path(), body: lease, ...request });
  }

  #path(withName = true): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#namespace)}/leases`;
    return withName ? `${base}/${encodeURIComponent(this.#name)}` : base;
  }
}

/** RFC 3339 with exactly six fractional digits (metav1.MicroTime). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
