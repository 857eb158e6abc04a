/**
 * The reconciler's reads and writes against the API server: reads from informer caches (Secrets
 * excepted: their data is never cached; a referenced one is fetched for its key names, which are
 * kept per resourceVersion), writes by
 * server-side apply with the operator's one field manager. Every write is counted, so tests and
 * benchmarks can tell how many requests a reconcile costs.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Counter } from 'prom-client';
import { API_GROUP, API_VERSION, KIND, PLURAL } from '../../api/schema.ts';
import type { CatchpointBridge, CatchpointBridgeStatus } from '../../api/types.ts';
import { applyObject, applyStatus } from '../../kube/apply.ts';
import { isNotFound } from '../../kube/errors.ts';
import type { InformerObject } from '../../kube/informer.ts';
import { kubeRequest } from '../../kube/request.ts';
import { namespaceOf, resourcePath } from '../../kube/resources.ts';
import { CHILD_KINDS, type ChildKind, FIELD_MANAGER, type Manifest } from './desired.ts';
import { type ChildEvent, OwnWrites } from './own-writes.ts';
import type { ChildObject, ClusterReader, ClusterWriter } from './reconciler.ts';

export type CachedObject = InformerObject & ChildObject;

/** What the reconciler needs of an informer: reads of its cache. */
export interface ObjectCache<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
}

export interface KubeClusterOptions {
  kc: KubeConfig;
  bridges: ObjectCache<CatchpointBridge & InformerObject>;
  /** Secrets' metadata (a metadata-only informer): their resourceVersions, never their data. */
  secretsMetadata: ObjectCache<InformerObject>;
  children: ReadonlyMap<ChildKind, ObjectCache<CachedObject>>;
  /** catchpoint_operator_api_writes_total{verb, kind} */
  writes: Counter<'verb' | 'kind'>;
  /** catchpoint_operator_api_reads_total{kind} */
  reads: Counter<'kind'>;
  /** The Events' reportingInstance: the operator's pod name (POD_NAME), or the field manager. */
  instance?: string;
}

const childKey = (kind: string, namespace: string | undefined, name: string | undefined) =>
  `${kind}/${namespace ?? ''}/${name ?? ''}`;

export class KubeCluster implements ClusterReader, ClusterWriter {
  readonly #o: KubeClusterOptions;
  /** What we wrote: reads prefer it until informers catch up, and drift is told from it. */
  readonly #ownWrites = new OwnWrites<CachedObject>();
  /** Secret → the key names it held at a resourceVersion (names only, see getSecretKeys). */
  readonly #secretKeys = new Map<string, { rv: string; keys: ReadonlySet<string> }>();

  constructor(options: KubeClusterOptions) {
    this.#o = options;
  }

  /**
   * Feed of the children's informer events (`owner`: the owning CR's queue key), so reads stop
   * preferring our writes once seen, and changes that may be drift are noted (own-writes.ts).
   */
  observedChild(kind: ChildKind, owner: string | undefined, event: ChildEvent<CachedObject>): void {
    const { namespace, name } = event.obj.metadata;
    this.#ownWrites.observed(owner, childKey(kind, namespace, name), event);
  }

  /** Whether a child of the CR `owner` (its queue key) drifted from what we wrote; asked once. */
  drifted(owner: string): boolean {
    return this.#ownWrites.drifted(owner);
  }

  async getBridge(namespace: string, name: string): Promise<CatchpointBridge | undefined> {
    return this.#o.bridges.get(namespace, name);
  }

  /**
   * Key names come from a GET of the Secret, remembered with its resourceVersion: while the
   * metadata informer shows that same version, the names still hold and no request is sent
   * (without this every reconcile read every referenced Secret). Values are never kept.
   */
  async getSecretKeys(namespace: string, name: string): Promise<ReadonlySet<string> | undefined> {
    const key = `${namespace}/${name}`;
    const rv = this.#o.secretsMetadata.get(namespace, name)?.metadata.resourceVersion;
    const known = this.#secretKeys.get(key);
    if (rv !== undefined && known?.rv === rv) return known.keys;
    this.#o.reads.inc({ kind: 'Secret' });
    let secret: { metadata?: { resourceVersion?: string }; data?: Record<string, string> };
    try {
      secret = await kubeRequest(this.#o.kc, { path: `/api/v1/namespaces/${namespace}/secrets/${name}` });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.#secretKeys.delete(key);
      return undefined;
    }
    const data = secret.data ?? {};
    const keys = new Set(Object.keys(data).filter((k) => data[k] !== ''));
    const fetched = secret.metadata?.resourceVersion;
    if (fetched === undefined) this.#secretKeys.delete(key);
    else this.#secretKeys.set(key, { rv: fetched, keys });
    return keys;
  }

  async getChild(kind: ChildKind, namespace: string, name: string): Promise<ChildObject | undefined> {
    return this.#ownWrites.read(
      childKey(kind, namespace, name),
      this.#o.children.get(kind)?.get(namespace, name),
    );
  }

  async apply(manifest: Manifest): Promise<void> {
    this.#o.writes.inc({ verb: 'apply', kind: manifest.kind });
    const stored = await applyObject<CachedObject>(this.#o.kc, manifest, {
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    const { namespace, name } = manifest.metadata;
    if (CHILD_KINDS.some((k) => k.kind === manifest.kind))
      this.#ownWrites.wrote(childKey(manifest.kind, namespace, name), stored);
  }

  async remove(kind: ChildKind, namespace: string, name: string): Promise<void> {
    const info = CHILD_KINDS.find((k) => k.kind === kind)!;
    this.#o.writes.inc({ verb: 'delete', kind });
    this.#ownWrites.forget(childKey(kind, namespace, name));
    try {
      await kubeRequest(this.#o.kc, {
        method: 'DELETE',
        path: resourcePath({ apiVersion: info.apiVersion, plural: info.plural, namespace, name }),
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async applyStatus(cr: CatchpointBridge, status: CatchpointBridgeStatus): Promise<void> {
    this.#o.writes.inc({ verb: 'status', kind: KIND });
    await applyStatus(
      this.#o.kc,
      {
        apiVersion: `${API_GROUP}/${API_VERSION}`,
        kind: KIND,
        plural: PLURAL,
        namespace: namespaceOf(cr),
        name: cr.metadata.name,
        status: status as Record<string, unknown>,
      },
      { fieldManager: FIELD_MANAGER, force: true },
    );
  }

  async event(
    cr: CatchpointBridge,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = namespaceOf(cr);
    const now = new Date().toISOString();
    this.#o.writes.inc({ verb: 'create', kind: 'Event' });
    await kubeRequest(this.#o.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${cr.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: `${API_GROUP}/${API_VERSION}`,
          kind: KIND,
          name: cr.metadata.name,
          namespace,
          uid: cr.metadata.uid,
          resourceVersion: cr.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: this.#o.instance ?? FIELD_MANAGER,
        action: 'Reconcile',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
