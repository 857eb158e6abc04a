import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namespaceOf } from '../../../src/kube/resources.ts';

describe('namespaceOf', () => {
  it("is the object's namespace, or default when it names none", () => {
    assert.equal(namespaceOf({ metadata: { namespace: 'monitoring' } }), 'monitoring');
    assert.equal(namespaceOf({ metadata: {} }), 'default');
    assert.equal(namespaceOf({ metadata: { namespace: undefined } }), 'default');
  });
});
