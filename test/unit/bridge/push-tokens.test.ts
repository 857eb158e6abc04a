import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PushTokens } from '../../../src/bridge/push-tokens.ts';

describe('push tokens', () => {
  it('only the configured token matches', () => {
    const t = new PushTokens();
    assert.equal(t.required, false);
    t.update('s3cret-token-abc', 1000, 0);
    assert.equal(t.required, true);
    assert.equal(t.matches('s3cret-token-abc', 1), true);
    assert.equal(t.matches('s3cret-token-abd', 1), false);
    assert.equal(t.matches('', 1), false);
    assert.equal(t.matches('s3cret-token-abc ', 1), false);
  });

  it('a rotated token keeps working for the overlap, then stops', () => {
    const t = new PushTokens();
    t.update('old-token', 60_000, 0);
    t.update('new-token', 60_000, 1000);
    assert.equal(t.matches('new-token', 2000), true);
    assert.equal(t.matches('old-token', 2000), true);
    assert.equal(t.matches('old-token', 61_001), false);
    assert.equal(t.matches('new-token', 61_001), true);
  });

  it('removing the token closes the old one after the overlap too', () => {
    const t = new PushTokens();
    t.update('tok', 10, 0);
    t.update(undefined, 10, 0);
    assert.equal(t.matches('tok', 5), true);
    assert.equal(t.matches('tok', 11), false);
  });
});
