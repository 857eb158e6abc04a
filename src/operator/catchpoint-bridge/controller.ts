/**
 * Watch wiring for CatchpointBridges, declared once (controller-runtime's For/Owns/Watches):
 *  - for:     CatchpointBridges;
 *  - owns:    every child kind, watched by the operator's managed-by label, mapped back to the
 *             owner through the controller ownerReference;
 *  - watches: Secrets, metadata only (their data never enters the cache), mapped to the
 *             CatchpointBridges that reference them.
 * Handlers only enqueue keys; workers run the reconciler. Whether a child drifted from what the
 * operator wrote (changed or deleted by someone else) is decided by own-writes.ts, fed the
 * children's events: drift, and a periodic resync, force a full apply (server-side apply reverts
 * the drift); every other pass skips children whose input hash is unchanged, so an idle operator
 * writes nothing.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { referencedSecrets } from '../../api/references.ts';
import { API_GROUP, API_VERSION, KIND, PLURAL } from '../../api/schema.ts';
import type { CatchpointBridge } from '../../api/types.ts';
import { describeKubeError } from '../../kube/errors.ts';
import { Informer, type InformerObject } from '../../kube/informer.ts';
import { resourcePath } from '../../kube/resources.ts';
import { runWorkers, WorkQueue } from '../../kube/work-queue.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { type CachedObject, KubeCluster, type ObjectCache } from './cluster.ts';
import { ConditionType } from './conditions.ts';
import { CHILD_KINDS, type ChildKind, MANAGED_BY, MANAGED_BY_LABEL, type OperatorConfig } from './desired.ts';
import type { ChildEvent } from './own-writes.ts';
import { CatchpointBridgeReconciler } from './reconciler.ts';

export const CONTROLLER_NAME = 'catchpointbridge';

export interface ControllerOptions {
  kc: KubeConfig;
  logger: Logger;
  config: OperatorConfig;
  metrics: OperatorMetrics;
  /** Namespaces to watch; undefined: all. */
  namespaces?: readonly string[];
  workers?: number;
  /** Who records the Events (their reportingInstance): the operator's pod name. */
  instance?: string;
  /** Full, forced pass over every CatchpointBridge this often. Default 10 min. */
  resyncMs?: number;
}

type BridgeObject = CatchpointBridge & InformerObject;
type OwnerRef = { apiVersion?: string; kind?: string; name?: string; controller?: boolean };

export class CatchpointBridgeController {
  readonly #o: ControllerOptions;
  readonly #queue = new WorkQueue();
  /** Keys whose next pass applies every child: resync, or a forced pass that failed. */
  readonly #force = new Set<string>();
  readonly #informers: Array<Informer<InformerObject>> = [];
  readonly #bridges: Informer<BridgeObject>[] = [];
  readonly #children = new Map<ChildKind, ObjectCache<CachedObject>>();
  readonly #reconciler: CatchpointBridgeReconciler;
  readonly #cluster: KubeCluster;
  #workers: Promise<void> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(options: ControllerOptions) {
    this.#o = options;
    const scopes: Array<string | undefined> = options.namespaces?.length
      ? [...options.namespaces]
      : [undefined];
    const informer = <T extends InformerObject>(
      path: string,
      extra: { labelSelector?: string; metadataOnly?: boolean } = {},
    ) => {
      const inf = new Informer<T>({
        kc: options.kc,
        logger: options.logger.child({ informer: path }),
        path,
        ...extra,
      });
      this.#informers.push(inf as unknown as Informer<InformerObject>);
      return inf;
    };

    // One informer per kind and scope; a multi-namespace operator merges them behind `lookup`.
    const bridgeInformers = scopes.map((ns) =>
      informer<BridgeObject>(
        resourcePath({ apiVersion: `${API_GROUP}/${API_VERSION}`, plural: PLURAL, namespace: ns }),
      ),
    );
    this.#bridges.push(...bridgeInformers);
    for (const inf of bridgeInformers) {
      inf.on('add', (cr: BridgeObject) => this.#enqueue(cr));
      inf.on('update', (cr: BridgeObject) => this.#enqueue(cr));
      inf.on('delete', (cr: BridgeObject) => this.#enqueue(cr));
    }

    for (const child of CHILD_KINDS) {
      const perScope = scopes.map((ns) =>
        informer<CachedObject>(
          resourcePath({ apiVersion: child.apiVersion, plural: child.plural, namespace: ns }),
          {
            labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
          },
        ),
      );
      for (const inf of perScope) {
        inf.on('add', (obj: CachedObject) => this.#onChild(child.kind, { type: 'add', obj }));
        inf.on('update', (obj: CachedObject, old: CachedObject) =>
          this.#onChild(child.kind, { type: 'update', obj, old }),
        );
        inf.on('delete', (obj: CachedObject) => this.#onChild(child.kind, { type: 'delete', obj }));
      }
      this.#children.set(child.kind, mergeScopes(perScope));
    }

    const secretInformers: Array<Informer<InformerObject>> = [];
    for (const ns of scopes) {
      const secrets = informer<InformerObject>(
        resourcePath({ apiVersion: 'v1', plural: 'secrets', namespace: ns }),
        {
          metadataOnly: true,
        },
      );
      const onSecret = (s: InformerObject) =>
        this.#enqueueReferencing(s.metadata.namespace ?? '', s.metadata.name ?? '');
      secrets.on('add', onSecret);
      secrets.on('update', onSecret);
      secrets.on('delete', onSecret);
      secretInformers.push(secrets);
    }

    const cluster = new KubeCluster({
      kc: options.kc,
      bridges: mergeScopes(this.#bridges),
      secretsMetadata: mergeScopes(secretInformers),
      children: this.#children,
      writes: options.metrics.apiWrites,
      reads: options.metrics.apiReads,
      ...(options.instance ? { instance: options.instance } : {}),
    });
    this.#cluster = cluster;
    this.#reconciler = new CatchpointBridgeReconciler({
      reader: cluster,
      writer: cluster,
      config: options.config,
      logger: options.logger.child({ controller: CONTROLLER_NAME }),
    });
  }

  get queueLength(): number {
    return this.#queue.len;
  }

  /** Starts informers, waits until every cache is filled, then starts the workers. */
  async start(): Promise<void> {
    for (const inf of this.#informers) inf.start();
    await Promise.all(this.#informers.map((inf) => inf.synced));
    this.#o.metrics.observeBridges(() =>
      this.#allBridges().map((cr) => {
        const ready = cr.status?.conditions?.find((c) => c.type === ConditionType.Ready);
        return {
          namespace: cr.metadata.namespace ?? '',
          name: cr.metadata.name ?? '',
          ready: ready?.status,
          reason: ready?.reason ?? '',
        };
      }),
    );
    this.#o.logger.info({ bridges: this.#allBridges().length }, 'caches synced; reconciling');
    const { metrics } = this.#o;
    this.#workers = runWorkers(
      this.#queue,
      this.#o.workers ?? 4,
      async (key) => {
        const [namespace, name] = key.split('/') as [string, string];
        const force = this.#force.delete(key) || this.#cluster.drifted(key);
        const end = metrics.reconcileTime.startTimer({ controller: CONTROLLER_NAME });
        try {
          const result = await this.#reconciler.reconcile({ namespace, name }, { force });
          metrics.reconcileTotal.inc({ controller: CONTROLLER_NAME, result: 'success' });
          return result;
        } catch (err) {
          if (force) this.#force.add(key);
          throw err;
        } finally {
          end();
          metrics.queueDepth.set({ name: CONTROLLER_NAME }, this.#queue.len);
        }
      },
      (key, err, info) => {
        metrics.reconcileTotal.inc({ controller: CONTROLLER_NAME, result: 'error' });
        metrics.reconcileErrors.inc({ controller: CONTROLLER_NAME });
        metrics.queueRetries.inc({ name: CONTROLLER_NAME });
        this.#o.logger.warn(
          { key, retries: info.retries, ...describeKubeError(err) },
          'reconcile failed; retrying with backoff',
        );
      },
    );
    const resyncMs = this.#o.resyncMs ?? 10 * 60_000;
    this.#resyncTimer = setInterval(() => {
      for (const cr of this.#allBridges()) this.#enqueue(cr, true);
    }, resyncMs);
    this.#resyncTimer.unref();
  }

  /** Stops taking work, lets running reconciles finish, stops the informers. */
  async stop(): Promise<void> {
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    // A replica that stopped leading no longer knows: it exports no readiness.
    this.#o.metrics.observeBridges(() => []);
    this.#queue.shutdown();
    await this.#workers;
    await Promise.all(this.#informers.map((inf) => inf.stop()));
  }

  #allBridges(): BridgeObject[] {
    return this.#bridges.flatMap((inf) => inf.list());
  }

  #enqueue(cr: InformerObject, force = false): void {
    this.#enqueueKey(`${cr.metadata.namespace}/${cr.metadata.name}`, force);
  }

  #enqueueKey(key: string, force = false): void {
    if (force) this.#force.add(key);
    this.#o.metrics.queueAdds.inc({ name: CONTROLLER_NAME });
    this.#queue.add(key);
    this.#o.metrics.queueDepth.set({ name: CONTROLLER_NAME }, this.#queue.len);
  }

  /** A child's event: told to own-writes (what it means for drift), then its owner enqueued. */
  #onChild(kind: ChildKind, event: ChildEvent<CachedObject>): void {
    const owner = ownerKey(event.obj);
    this.#cluster.observedChild(kind, owner, event);
    if (owner !== undefined) this.#enqueueKey(owner);
  }

  #enqueueReferencing(namespace: string, secret: string): void {
    for (const cr of this.#allBridges()) {
      if (cr.metadata.namespace !== namespace || cr.spec === undefined) continue;
      let names: string[];
      try {
        names = referencedSecrets(cr.spec);
      } catch {
        continue; // a spec the reconciler will report as invalid
      }
      if (names.includes(secret)) this.#enqueue(cr);
    }
  }
}

/** The queue key of the CatchpointBridge that controls `obj`, if one does. */
function ownerKey(obj: CachedObject): string | undefined {
  const refs = (obj.metadata as { ownerReferences?: OwnerRef[] }).ownerReferences ?? [];
  const owner = refs.find(
    (r) => r.controller === true && r.kind === KIND && r.apiVersion?.startsWith(`${API_GROUP}/`),
  )?.name;
  return owner === undefined ? undefined : `${obj.metadata.namespace}/${owner}`;
}

/** One read view over per-namespace informers of the same kind. */
function mergeScopes<T extends InformerObject>(informers: Informer<T>[]): ObjectCache<T> {
  return {
    get: (namespace, name) => {
      for (const inf of informers) {
        const hit = inf.get(namespace, name);
        if (hit !== undefined) return hit;
      }
      return undefined;
    },
    list: (namespace) => informers.flatMap((inf) => inf.list(namespace)),
  };
}
