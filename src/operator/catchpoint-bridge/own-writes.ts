/**
 * What the operator wrote, and therefore whether a child drifted from it. The one place that
 * decides whether a CR's children must be re-applied whole (controller-runtime's Owns(): child
 * events only enqueue the owner; here is where we tell our own writes coming back from somebody
 * else's).
 *
 * Read-your-own-writes over informer caches. The reconciler decides whether to apply a child by
 * reading the child's input hash from the cache; the next reconcile of the same CR (the children's
 * own watch events trigger one) often runs before the informer has delivered what the first one
 * applied, so without this every child was applied twice (500 CRs: 16 writes per CR instead of 8,
 * measured by the operator benchmark). The apply response is the object as stored: it is read in
 * place of the cache entry until the informer shows that version or a newer one.
 *
 * Drift. The version each write stored is remembered too. A child's update that changed what the
 * operator owns (childDrifted) is noted for its owner, and decided when the owner is reconciled
 * (drifted): the watch event may arrive before the apply's answer has been recorded, so only then
 * can our own version be told from somebody else's. A child deleted is always drift. Drift asks
 * for every child to be re-applied (force): server-side apply reverts what was changed, which the
 * input hash alone cannot see.
 *
 * Versions are compared as integers: etcd's resourceVersions are. Should one not parse, the
 * cache wins — at worst one no-op apply more, never a write skipped on stale data.
 */
export interface Versioned {
  metadata?: { resourceVersion?: string };
}

/** A child's informer event. */
export type ChildEvent<T> =
  | { type: 'add'; obj: T }
  | { type: 'update'; obj: T; old: T }
  | { type: 'delete'; obj: T };

/** Whether `a` is an older version than `b` (false when either cannot be compared). */
export function olderThan(a: Versioned, b: Versioned): boolean {
  const va = parseVersion(a.metadata?.resourceVersion);
  const vb = parseVersion(b.metadata?.resourceVersion);
  return va !== undefined && vb !== undefined && va < vb;
}

function parseVersion(rv: string | undefined): bigint | undefined {
  return rv !== undefined && /^\d{1,30}$/.test(rv) ? BigInt(rv) : undefined;
}

export class OwnWrites<T extends Versioned> {
  /** Stored objects the informer has not shown yet: read in place of the cache. */
  readonly #unseen = new Map<string, T>();
  /** The last version we stored, per key: tells our own changes from somebody else's. */
  readonly #versions = new Map<string, string>();
  /** Owner → children changes seen since its last reconcile that may not be ours. */
  readonly #changes = new Map<string, Array<{ key: string; rv: string | undefined } | 'deleted'>>();

  /** Entries the informers have not caught up with yet. */
  get size(): number {
    return this.#unseen.size;
  }

  /** Records what a write returned. */
  wrote(key: string, stored: T): void {
    this.#unseen.set(key, stored);
    const rv = stored.metadata?.resourceVersion;
    if (rv === undefined) this.#versions.delete(key);
    else this.#versions.set(key, rv);
  }

  /** Whether `rv` of `key` is the version our last write stored. */
  isOwnVersion(key: string, rv: string | undefined): boolean {
    return rv !== undefined && this.#versions.get(key) === rv;
  }

  /**
   * An informer event for `key`, a child of `owner` (the owner's queue key; undefined: none).
   * Once the informer shows our version, a newer one, or a delete that came after our write, the
   * cache is the truth again. A change that may be drift is noted for the owner's next reconcile.
   */
  observed(owner: string | undefined, key: string, event: ChildEvent<T>): void {
    const mine = this.#unseen.get(key);
    if (mine !== undefined && !olderThan(event.obj, mine)) this.#unseen.delete(key);
    if (owner === undefined) return;
    if (event.type === 'delete') this.#note(owner, 'deleted');
    else if (event.type === 'update' && childDrifted(event.old, event.obj))
      this.#note(owner, { key, rv: event.obj.metadata?.resourceVersion });
  }

  /**
   * Whether a child of `owner` drifted since its last reconcile: deleted, or changed to a version
   * our last write did not store. Asked once per reconcile; the answer is not given twice.
   */
  drifted(owner: string): boolean {
    const changes = this.#changes.get(owner);
    if (changes === undefined) return false;
    this.#changes.delete(owner);
    return changes.some((c) => c === 'deleted' || !this.isOwnVersion(c.key, c.rv));
  }

  /** We deleted `key`: nothing of ours to prefer or to recognise any more. */
  forget(key: string): void {
    this.#unseen.delete(key);
    this.#versions.delete(key);
  }

  /** The cache entry, or our own write when the cache has not seen it yet. */
  read(key: string, cached: T | undefined): T | undefined {
    const mine = this.#unseen.get(key);
    if (mine === undefined) return cached;
    if (cached !== undefined && !olderThan(cached, mine)) {
      this.#unseen.delete(key);
      return cached;
    }
    return mine;
  }

  #note(owner: string, change: { key: string; rv: string | undefined } | 'deleted'): void {
    const list = this.#changes.get(owner);
    if (list === undefined) this.#changes.set(owner, [change]);
    else list.push(change);
  }
}

/**
 * Whether an update changed what the operator owns, not just status: spec (generation, where the
 * kind has one) or labels — or, for kinds without a generation (ServiceAccount, Role,
 * RoleBinding, Service), anything but status and bookkeeping. Annotations are left out: other
 * controllers add their own (the Deployment controller's revision), and a changed input-hash
 * annotation already makes the next pass re-apply.
 */
export function childDrifted(old: Versioned, current: Versioned): boolean {
  const a = (old.metadata ?? {}) as { generation?: number; labels?: unknown };
  const b = (current.metadata ?? {}) as typeof a;
  if (JSON.stringify(a.labels) !== JSON.stringify(b.labels)) return true;
  if (a.generation !== undefined || b.generation !== undefined) return a.generation !== b.generation;
  return JSON.stringify(withoutBookkeeping(old)) !== JSON.stringify(withoutBookkeeping(current));
}

function withoutBookkeeping(obj: Versioned): Record<string, unknown> {
  const {
    status: _status,
    metadata,
    ...rest
  } = obj as unknown as Record<string, unknown> & {
    metadata: Record<string, unknown>;
  };
  const { resourceVersion: _rv, managedFields: _mf, annotations: _an, ...meta } = metadata;
  return { ...rest, metadata: meta };
}
