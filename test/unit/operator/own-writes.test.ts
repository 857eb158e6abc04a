import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childDrifted, OwnWrites, olderThan } from '../../../src/operator/catchpoint-bridge/own-writes.ts';

const v = (rv: string | undefined, extra: Record<string, unknown> = {}) => ({
  metadata: { name: 'cpb-x', namespace: 'ns', ...(rv === undefined ? {} : { resourceVersion: rv }) },
  ...extra,
});

describe('own writes', () => {
  it('olderThan compares resourceVersions as integers, and never when one is not an integer', () => {
    assert.equal(olderThan(v('9'), v('10')), true, 'numeric, not lexical');
    assert.equal(olderThan(v('10'), v('10')), false);
    assert.equal(olderThan(v('11'), v('10')), false);
    assert.equal(olderThan(v('abc'), v('10')), false);
    assert.equal(olderThan(v(undefined), v('10')), false);
  });

  it('reads prefer our write until the informer shows that version or a newer one', () => {
    const own = new OwnWrites<ReturnType<typeof v>>();
    const key = 'Role/ns/cpb-x';
    assert.equal(own.read(key, undefined), undefined);
    const stored = v('100', { tag: 'ours' });
    own.wrote(key, stored);
    assert.equal(own.read(key, undefined), stored, 'the cache has not seen it yet');
    assert.equal(own.read(key, v('90')), stored, 'the cache is behind');
    const caught = v('100', { tag: 'cache' });
    assert.equal(own.read(key, caught), caught, 'the cache caught up');
    assert.equal(own.size, 0);
    assert.equal(own.read(key, undefined), undefined, 'forgotten once seen');
  });

  it('an informer event at or after our version clears it; an older one does not', () => {
    const own = new OwnWrites<ReturnType<typeof v>>();
    const key = 'Deployment/ns/cpb-x';
    own.wrote(key, v('100'));
    own.observed(undefined, key, { type: 'update', obj: v('99'), old: v('98') });
    assert.equal(own.size, 1, 'an event from before our write');
    own.observed(undefined, key, { type: 'delete', obj: v('101') });
    assert.equal(own.size, 0, 'a later event, e.g. the delete of what we wrote');
    assert.equal(own.isOwnVersion(key, '100'), true, 'the version our write stored');
    assert.equal(own.isOwnVersion(key, '101'), false, 'somebody else changed it after us');
    assert.equal(own.read(key, undefined), undefined, 'deleted after our write: gone');
    own.wrote(key, v('x1'));
    own.observed(undefined, key, { type: 'add', obj: v('x2') });
    assert.equal(own.size, 0, 'versions that do not compare: the cache wins');
    own.wrote(key, v('5'));
    own.forget(key);
    assert.equal(own.read(key, undefined), undefined);
    assert.equal(own.isOwnVersion(key, '5'), false);
  });

  it("drift is decided at the owner's reconcile: our own apply coming back is not, somebody else's change or a delete is", () => {
    const own = new OwnWrites<ReturnType<typeof v>>();
    const key = 'Role/ns/cpb-x';
    const owner = 'ns/x';
    const role = (rv: string, rules: unknown) => v(rv, { rules });
    assert.equal(own.drifted(owner), false, 'nothing seen');
    // The watch event of our apply may come before the apply's answer is recorded.
    own.observed(owner, key, { type: 'update', obj: role('11', [2]), old: role('10', [1]) });
    own.wrote(key, role('11', [2]));
    assert.equal(own.drifted(owner), false, 'the version our apply stored');
    own.observed(owner, key, { type: 'update', obj: role('12', []), old: role('11', [2]) });
    assert.equal(own.drifted(owner), true, 'somebody else edited the rules');
    assert.equal(own.drifted(owner), false, 'asked once: the next pass is not forced again');
    own.observed(owner, key, { type: 'update', obj: role('13', []), old: role('12', []) });
    assert.equal(own.drifted(owner), false, 'bookkeeping only (a resourceVersion)');
    own.observed(owner, key, { type: 'add', obj: role('14', []) });
    assert.equal(own.drifted(owner), false, 'an add is no drift');
    own.observed(owner, key, { type: 'delete', obj: role('15', []) });
    assert.equal(own.drifted(owner), true, 'a deleted child');
    own.observed(undefined, key, { type: 'delete', obj: role('16', []) });
    assert.equal(own.drifted(owner), false, "a child without an owner is nobody's drift");
  });

  it("childDrifted: status and other controllers' annotations are not drift; spec, labels and fields of kinds without a generation are", () => {
    const dep = (generation: number, status: Record<string, unknown>, labels = { a: '1' }) =>
      ({
        metadata: {
          name: 'd',
          namespace: 'ns',
          generation,
          labels,
          resourceVersion: String(generation * 10 + Object.keys(status).length),
        },
        status,
      }) as never;
    assert.equal(childDrifted(dep(1, {}), dep(1, { availableReplicas: 2 })), false);
    assert.equal(childDrifted(dep(1, {}), dep(2, {})), true, 'spec edited');
    assert.equal(childDrifted(dep(1, {}), dep(1, {}, { a: '2' })), true, 'labels edited');
    const revised = {
      ...(dep(1, {}) as object),
      metadata: {
        ...(dep(1, {}) as { metadata: object }).metadata,
        annotations: { 'deployment.kubernetes.io/revision': '1' },
      },
    } as never;
    assert.equal(childDrifted(dep(1, {}), revised), false, "the Deployment controller's revision annotation");
    const role = (rules: unknown, rv: string) =>
      ({
        metadata: { name: 'r', namespace: 'ns', resourceVersion: rv, managedFields: [{ rv }] },
        rules,
      }) as never;
    assert.equal(childDrifted(role([1], '1'), role([1], '2')), false, 'bookkeeping only');
    assert.equal(childDrifted(role([1], '1'), role([2], '2')), true, 'rules edited');
  });
});
