/**
 * The informer's cache of one collection: objects by namespace ('' for cluster-scoped) and name,
 * as last listed or watched. Objects are kept as given and shared with every reader: treat them
 * as read-only.
 */

export interface StoredObject {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
}

/** What a replace() changed, in the order the informer tells its handlers. */
export type StoreChange<T> =
  | { type: 'add'; obj: T }
  | { type: 'update'; obj: T; old: T }
  | { type: 'delete'; obj: T };

export class ObjectStore<T extends StoredObject> {
  /** namespace ('' for cluster-scoped) → name → object. */
  #byNamespace = new Map<string, Map<string, T>>();

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#byNamespace.get(namespace ?? '')?.get(name);
  }

  /** All objects, or those of one namespace. */
  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.#byNamespace.get(namespace)?.values() ?? [])];
    const all: T[] = [];
    for (const byName of this.#byNamespace.values()) all.push(...byName.values());
    return all;
  }

  /** Stores the object (one without a name is skipped); returns the one it replaced. */
  set(obj: T): T | undefined {
    return put(this.#byNamespace, obj);
  }

  /** Removes the object of that namespace and name; returns the one removed. */
  delete(obj: T): T | undefined {
    const name = obj.metadata.name;
    if (name === undefined) return undefined;
    const ns = obj.metadata.namespace ?? '';
    const byName = this.#byNamespace.get(ns);
    const removed = byName?.get(name);
    byName?.delete(name);
    if (byName?.size === 0) this.#byNamespace.delete(ns);
    return removed;
  }

  /**
   * Swaps in `objects` as the whole contents (those without a name skipped) and returns the
   * differences: adds and updates (a changed resourceVersion) in the order of `objects`, then
   * deletes. The store is already the new one when the caller acts on them.
   */
  replace(objects: Iterable<T>): StoreChange<T>[] {
    const fresh = new Map<string, Map<string, T>>();
    for (const obj of objects) put(fresh, obj);
    const old = this.#byNamespace;
    this.#byNamespace = fresh;
    const changes: StoreChange<T>[] = [];
    for (const [ns, byName] of fresh) {
      const oldByName = old.get(ns);
      for (const [name, obj] of byName) {
        const previous = oldByName?.get(name);
        if (previous === undefined) changes.push({ type: 'add', obj });
        else if (previous.metadata.resourceVersion !== obj.metadata.resourceVersion)
          changes.push({ type: 'update', obj, old: previous });
      }
    }
    for (const [ns, oldByName] of old) {
      const byName = fresh.get(ns);
      for (const [name, obj] of oldByName) if (!byName?.has(name)) changes.push({ type: 'delete', obj });
    }
    return changes;
  }
}

function put<T extends StoredObject>(byNamespace: Map<string, Map<string, T>>, obj: T): T | undefined {
  const name = obj.metadata?.name;
  if (name === undefined) return undefined;
  const ns = obj.metadata.namespace ?? '';
  let byName = byNamespace.get(ns);
  if (byName === undefined) {
    byName = new Map();
    byNamespace.set(ns, byName);
  }
  const previous = byName.get(name);
  byName.set(name, obj);
  return previous;
}
