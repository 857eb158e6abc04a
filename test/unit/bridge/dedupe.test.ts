import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Deduper } from '../../../src/bridge/dedupe.ts';

const stored = async (d: Deduper, id: number, now: number) => {
  const r = await d.check(1, id, 1_700_000_000_000, now);
  if (r.kind === 'new') r.settle(true);
  return r.kind;
};

describe('dedupe', () => {
  it('a stored push is a duplicate within the window and new after it', async () => {
    const d = new Deduper(1000);
    const first = await d.check(1, 2, 3, 0);
    assert.equal(first.kind, 'new');
    if (first.kind === 'new') first.settle(true);
    assert.equal((await d.check(1, 2, 3, 500)).kind, 'duplicate');
    assert.equal((await d.check(1, 2, 4, 500)).kind, 'new', 'another timestamp');
    assert.equal((await d.check(2, 2, 3, 500)).kind, 'new', 'another test');
    assert.equal((await d.check(1, 3, 3, 500)).kind, 'new', 'another node');
    assert.equal((await d.check(1, 2, 3, 1500)).kind, 'new');
  });

  it('keys are exact up to 2^53: neighbours of large ids and timestamps never collide', async () => {
    const d = new Deduper(1_000_000);
    const big = Number.MAX_SAFE_INTEGER;
    const r = await d.check(big, big - 1, 4_102_444_800_000, 0);
    if (r.kind === 'new') r.settle(true);
    assert.equal((await d.check(big, big - 1, 4_102_444_800_000, 1)).kind, 'duplicate');
    assert.equal((await d.check(big - 1, big - 1, 4_102_444_800_000, 1)).kind, 'new');
    assert.equal((await d.check(big, big, 4_102_444_800_000, 1)).kind, 'new');
    assert.equal((await d.check(big, big - 1, 4_102_444_800_001, 1)).kind, 'new');
  });

  it('a push whose first delivery failed is not a duplicate', async () => {
    const d = new Deduper(1000);
    const first = await d.check(1, 1, 1, 0);
    if (first.kind === 'new') first.settle(false);
    assert.equal((await d.check(1, 1, 1, 1)).kind, 'new');
    assert.equal(d.size, 1, 'the failed one was forgotten, the retry is remembered');
  });

  it('a concurrent duplicate waits for the first outcome', async () => {
    const d = new Deduper(1000);
    const first = await d.check(1, 1, 1, 0);
    const second = d.check(1, 1, 1, 1);
    if (first.kind === 'new') setTimeout(() => first.settle(false), 5);
    assert.equal((await second).kind, 'new', 'first failed, so the retry must be stored');
    const third = await d.check(2, 2, 2, 0);
    const fourth = d.check(2, 2, 2, 1);
    if (third.kind === 'new') setTimeout(() => third.settle(true), 5);
    assert.equal((await fourth).kind, 'duplicate');
  });

  it('memory is bounded', async () => {
    const d = new Deduper(1_000_000, 100);
    for (let i = 0; i < 1000; i++) await stored(d, i, 0);
    assert.ok(d.size <= 100);
  });

  it('at the cap the newest keys are still recognised, the oldest forgotten, and checks stay fast', async () => {
    const d = new Deduper(1_000_000, 1000);
    for (let i = 0; i < 20_000; i++) await stored(d, i, i);
    assert.ok(d.size <= 1000);
    assert.equal(await stored(d, 19_999, 20_000), 'duplicate');
    assert.equal(await stored(d, 19_001, 20_000), 'duplicate');
    assert.equal(await stored(d, 0, 20_000), 'new', 'the oldest key was evicted');
  });

  it('expired keys are forgotten as the window moves', async () => {
    const d = new Deduper(100);
    for (let i = 0; i < 50; i++) await stored(d, i, i * 10);
    assert.equal(await stored(d, 0, 500), 'new');
    assert.equal(await stored(d, 45, 500), 'duplicate');
    assert.ok(d.size < 20, `size ${d.size}`);
  });

  it('a shorter window applies to keys already remembered', async () => {
    const d = new Deduper(10_000);
    await stored(d, 1, 0);
    d.windowMs = 10;
    await stored(d, 2, 5); // expiries are set when a key is stored: key 1 keeps its 10 s
    assert.equal(await stored(d, 2, 20), 'new', 'key 2 got the new window');
  });

  /**
   * Against a plain model (a Map of key → expiry): the store never calls a push a duplicate that
   * was not stored within the window (that would lose it), and it recognises every stored key
   * among the newest maxEntries arrivals (the ring may hold dead entries, so not more than that).
   * Small capacities, few distinct keys and failures exercise growth, wrap-around, eviction,
   * re-insertion and the index's backward-shift deletion.
   */
  it('property: no false duplicate; every recent stored key recognised', async () => {
    const op = fc.record({
      node: fc.integer({ min: 0, max: 40 }),
      advanceMs: fc.integer({ min: 0, max: 30 }),
      outcome: fc.constantFrom('stored', 'stored', 'stored', 'failed'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 50, maxLength: 400 }),
        fc.integer({ min: 1, max: 64 }),
        async (ops, max) => {
          const windowMs = 200;
          const d = new Deduper(windowMs, max);
          const model = new Map<number, { expires: number; arrival: number }>();
          let now = 0;
          let arrivals = 0;
          for (const { node, advanceMs, outcome } of ops) {
            now += advanceMs;
            const known = model.get(node);
            const result = await d.check(7, node, 1_700_000_000_000 + node * 1000, now);
            if (result.kind === 'duplicate') {
              assert.ok(known !== undefined && known.expires > now, `false duplicate of ${node} at ${now}`);
              continue;
            }
            const recent = known !== undefined && known.expires > now && arrivals - known.arrival < max;
            assert.ok(!recent, `stored ${node} (arrival ${known?.arrival} of ${arrivals}) not recognised`);
            arrivals++;
            result.settle(outcome === 'stored');
            if (outcome === 'stored') model.set(node, { expires: now + windowMs, arrival: arrivals - 1 });
            else model.delete(node);
            assert.ok(d.size <= max);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
