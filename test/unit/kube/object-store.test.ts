import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ObjectStore, type StoredObject } from '../../../src/kube/object-store.ts';

const obj = (namespace: string | undefined, name: string, resourceVersion = '1'): StoredObject => ({
  metadata: { name, resourceVersion, ...(namespace === undefined ? {} : { namespace }) },
});

describe('ObjectStore', () => {
  it('keeps objects by namespace and name; cluster-scoped ones under no namespace', () => {
    const store = new ObjectStore<StoredObject>();
    const a = obj('ns1', 'a');
    const b = obj('ns2', 'b');
    const node = obj(undefined, 'node-1');
    assert.equal(store.set(a), undefined);
    store.set(b);
    store.set(node);
    assert.equal(store.get('ns1', 'a'), a, 'the object as given, not a copy');
    assert.equal(store.get('ns2', 'a'), undefined);
    assert.equal(store.get(undefined, 'node-1'), node);
    assert.equal(store.get('', 'node-1'), node);
    assert.deepEqual(store.list('ns1'), [a]);
    assert.deepEqual(store.list('nowhere'), []);
    assert.deepEqual(store.list(), [a, b, node]);
  });

  it('set() returns what it replaced; delete() removes and returns it; nameless objects are not kept', () => {
    const store = new ObjectStore<StoredObject>();
    const v1 = obj('ns', 'a', '1');
    const v2 = obj('ns', 'a', '2');
    store.set(v1);
    assert.equal(store.set(v2), v1);
    assert.equal(store.get('ns', 'a'), v2);
    assert.equal(store.delete(obj('ns', 'a', '3')), v2, 'found by namespace and name');
    assert.equal(store.get('ns', 'a'), undefined);
    assert.deepEqual(store.list(), []);
    assert.equal(store.delete(obj('ns', 'a')), undefined);
    assert.equal(store.set({ metadata: {} }), undefined);
    assert.deepEqual(store.list(), []);
  });

  it('replace() swaps the contents and reports adds and updates in order, then deletes', () => {
    const store = new ObjectStore<StoredObject>();
    const kept = obj('ns', 'kept', '1');
    const changed = obj('ns', 'changed', '1');
    const gone = obj('other', 'gone', '1');
    assert.deepEqual(store.replace([kept, changed, gone]), [
      { type: 'add', obj: kept },
      { type: 'add', obj: changed },
      { type: 'add', obj: gone },
    ]);

    const keptAgain = obj('ns', 'kept', '1');
    const changedNow = obj('ns', 'changed', '2');
    const added = obj(undefined, 'added', '1');
    const changes = store.replace([added, keptAgain, changedNow, { metadata: {} }]);
    assert.deepEqual(changes, [
      { type: 'add', obj: added },
      { type: 'update', obj: changedNow, old: changed },
      { type: 'delete', obj: gone },
    ]);
    assert.equal(
      store.get('ns', 'kept'),
      keptAgain,
      'an unchanged object is still replaced by the listed one',
    );
    assert.equal(store.get('other', 'gone'), undefined);
    assert.deepEqual(store.list(), [added, keptAgain, changedNow]);
    assert.deepEqual(store.replace([]), [
      { type: 'delete', obj: added },
      { type: 'delete', obj: keptAgain },
      { type: 'delete', obj: changedNow },
    ]);
  });
});
