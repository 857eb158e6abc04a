import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, spreadMs } from '../../../src/shared/backoff.ts';

describe('backoffDelayMs', () => {
  const exact = { baseMs: 100, maxMs: 1000, jitter: 'none' } as const;

  it('doubles from the base after each failure and stops at the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelayMs(n, exact)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('stays finite for a key that fails forever', () => {
    assert.equal(backoffDelayMs(10_000, exact), 1000);
    assert.equal(backoffDelayMs(0, exact), 100, 'no failure yet counts as the first');
  });

  it('equal jitter: between half the step and the whole step', () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelayMs(3, { ...policy, random: () => 0 }), 200);
    assert.equal(backoffDelayMs(3, { ...policy, random: () => 1 }), 400);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(3, policy);
      assert.ok(d >= 200 && d <= 400, String(d));
    }
  });

  it('a Retry-After lengthens the wait, never shortens it', () => {
    assert.equal(backoffDelayMs(1, exact, 5_000), 5_000);
    assert.equal(backoffDelayMs(4, exact, 10), 800);
  });
});

describe('spreadMs', () => {
  it('spreads a period over the given factors', () => {
    assert.equal(
      spreadMs(1000, 0.9, 1.1, () => 0),
      900,
    );
    assert.equal(
      spreadMs(1000, 0.9, 1.1, () => 1),
      1100,
    );
    assert.equal(
      spreadMs(1000, 1, 1.2, () => 0.5),
      1100,
    );
  });
});
