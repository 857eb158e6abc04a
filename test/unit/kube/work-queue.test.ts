import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  runWorkers,
  type WorkerErrorInfo,
  WorkQueue,
} from '../../../src/kube/work-queue.ts';

/** A queue whose retries are quick, so tests measure behaviour, not waiting. */
function fastQueue(baseMs = 5): WorkQueue {
  return new WorkQueue({ rateLimiter: new ItemExponentialRateLimiter(baseMs, 1000) });
}

/** Resolves with the promise's value, or 'pending' if it has not settled after a macrotask. */
async function settled<T>(promise: Promise<T>, ms = 0): Promise<T | 'pending'> {
  return Promise.race([promise, sleep(ms).then(() => 'pending' as const)]);
}

describe('WorkQueue', () => {
  it('collapses duplicate adds of a waiting key into one', async () => {
    const queue = fastQueue();
    for (const key of ['a', 'b', 'a', 'a', 'b', 'c']) queue.add(key);
    assert.equal(queue.len, 3);
    assert.deepEqual([await queue.get(), await queue.get(), await queue.get()], ['a', 'b', 'c']);
    assert.equal(queue.len, 0);
    queue.shutdown();
  });

  it('never hands out a key that is being processed; a re-add comes back once after done()', async () => {
    const queue = fastQueue();
    queue.add('a');
    assert.equal(await queue.get(), 'a');

    queue.add('a');
    queue.add('a');
    queue.add('b');
    // 'a' is processing, so only 'b' is ready.
    assert.equal(queue.len, 1);
    assert.equal(await queue.get(), 'b');
    const next = queue.get();
    assert.equal(await settled(next), 'pending');

    queue.done('a');
    assert.equal(await next, 'a');
    queue.done('a');
    queue.done('b');
    assert.equal(queue.len, 0);
    assert.equal(await settled(queue.get()), 'pending');
    queue.shutdown();
  });

  it('hands a key added to an empty queue straight to a waiting getter', async () => {
    const queue = fastQueue();
    const waiting = queue.get();
    queue.add('x');
    assert.equal(await waiting, 'x');
    // It counts as processing: adding it again must wait for done().
    queue.add('x');
    assert.equal(queue.len, 0);
    queue.done('x');
    assert.equal(queue.len, 1);
    queue.shutdown();
  });

  it('done() for a key that was never handed out does not queue it twice', async () => {
    const queue = fastQueue();
    queue.add('a');
    queue.done('a');
    assert.equal(queue.len, 1);
    queue.shutdown();
  });

  it('addAfter hands keys out in deadline order, and the earliest deadline of a key wins', async () => {
    const queue = fastQueue();
    queue.addAfter('c', 90);
    queue.addAfter('a', 30);
    queue.addAfter('b', 60);
    queue.addAfter('late-then-early', 5_000);
    queue.addAfter('late-then-early', 10);
    queue.addAfter('early-then-late', 20);
    queue.addAfter('early-then-late', 5_000);
    assert.equal(queue.len, 0);
    assert.equal(queue.delayedLen, 5);

    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push((await queue.get()) ?? 'undefined');
    assert.deepEqual(order, ['late-then-early', 'early-then-late', 'a', 'b', 'c']);
    assert.equal(queue.delayedLen, 0, 'the later deadline of a key is dropped, not kept as a second add');
    queue.shutdown();
  });

  it('addAfter with a zero or negative delay adds at once', async () => {
    const queue = fastQueue();
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    assert.equal(queue.len, 2);
    queue.shutdown();
  });

  it('shutdown() resolves waiting getters with undefined, drops delayed adds and ignores new ones', async () => {
    const queue = fastQueue();
    const first = queue.get();
    const second = queue.get();
    queue.addAfter('later', 60_000);
    queue.shutdown();
    assert.equal(await first, undefined);
    assert.equal(await second, undefined);
    assert.equal(queue.delayedLen, 0);
    queue.add('x');
    queue.addRateLimited('y');
    assert.equal(queue.len, 0);
    assert.equal(await queue.get(), undefined);
    assert.equal(queue.shuttingDown, true);
  });

  it('addRateLimited backs a key off exponentially and forget() resets it', async () => {
    const queue = fastQueue(20);
    const started = performance.now();
    queue.addRateLimited('k'); // 20 ms
    assert.equal(await queue.get(), 'k');
    const first = performance.now() - started;
    queue.done('k');
    queue.addRateLimited('k'); // 40 ms
    queue.addRateLimited('k'); // 80 ms, but the 40 ms deadline is earlier and wins
    const before = performance.now();
    assert.equal(await queue.get(), 'k');
    const second = performance.now() - before;
    queue.done('k');
    assert.equal(queue.retries('k'), 3);
    assert.ok(first >= 18, `first retry after ${first} ms`);
    assert.ok(second >= 38, `second retry after ${second} ms`);

    queue.forget('k');
    assert.equal(queue.retries('k'), 0);
    const afterForget = performance.now();
    queue.addRateLimited('k');
    assert.equal(await queue.get(), 'k');
    assert.ok(performance.now() - afterForget < 38, 'forget() starts the backoff from the base again');
    queue.shutdown();
  });
});

describe('rate limiters', () => {
  it('per-item backoff doubles from the base to the cap, per key', () => {
    const limiter = new ItemExponentialRateLimiter(100, 1000);
    assert.deepEqual(
      Array.from({ length: 6 }, () => limiter.when('a')),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(limiter.when('b'), 100, 'keys back off independently');
    assert.equal(limiter.retries('a'), 6);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.when('a'), 100);
  });

  it('per-item backoff stays finite for a key that fails forever', () => {
    const limiter = new ItemExponentialRateLimiter(100, 300_000);
    for (let i = 0; i < 2000; i++) limiter.when('a');
    assert.equal(limiter.when('a'), 300_000);
  });

  it('the token bucket allows a burst, then spaces calls at 1/qps, and refills over time', () => {
    let now = 0;
    const limiter = new BucketRateLimiter(10, 3, () => now);
    assert.deepEqual(
      Array.from({ length: 5 }, (_, i) => limiter.when(`k${i}`)),
      [0, 0, 0, 100, 200],
    );
    now += 1000; // +10 tokens, but the bucket holds 3 and we owed 2
    assert.deepEqual(
      Array.from({ length: 2 }, (_, i) => limiter.when(`m${i}`)),
      [0, 0],
    );
    now += 60_000;
    assert.deepEqual(
      Array.from({ length: 4 }, (_, i) => limiter.when(`n${i}`)),
      [0, 0, 0, 100],
    );
  });

  it('the controller default is the larger of per-item backoff and the global bucket', () => {
    const now = 0;
    const limiter = new MaxOfRateLimiter(
      new ItemExponentialRateLimiter(100, 300_000),
      new BucketRateLimiter(10, 2, () => now),
    );
    assert.equal(limiter.when('a'), 100); // item backoff dominates while tokens last
    assert.equal(limiter.when('b'), 100);
    assert.equal(limiter.when('c'), 100); // bucket: 100 ms, item: 100 ms
    assert.equal(limiter.when('d'), 200); // bucket now dominates
    assert.equal(limiter.retries('a'), 1);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    const fresh = defaultControllerRateLimiter();
    assert.equal(fresh.when('x'), 100);
    assert.equal(fresh.when('x'), 200);
  });

  it('a queue with a global limit spaces retries of different keys', async () => {
    const queue = new WorkQueue({
      rateLimiter: new MaxOfRateLimiter(
        new ItemExponentialRateLimiter(1, 1000),
        new BucketRateLimiter(20, 2),
      ),
    });
    const started = performance.now();
    for (const key of ['a', 'b', 'c', 'd']) queue.addRateLimited(key);
    const at: Record<string, number> = {};
    for (let i = 0; i < 4; i++) {
      const key = (await queue.get()) as string;
      at[key] = performance.now() - started;
      queue.done(key);
    }
    assert.ok((at.a ?? Infinity) < 40 && (at.b ?? Infinity) < 40, `burst: ${JSON.stringify(at)}`);
    assert.ok((at.c ?? 0) >= 45, `third key waits ~50 ms: ${JSON.stringify(at)}`);
    assert.ok((at.d ?? 0) >= 95, `fourth key waits ~100 ms: ${JSON.stringify(at)}`);
    queue.shutdown();
  });
});

describe('runWorkers', () => {
  it('forgets on success and retries failures with backoff', async () => {
    const queue = fastQueue(5);
    const calls = new Map<string, number>();
    const errors: { key: string; info: WorkerErrorInfo }[] = [];
    const workers = runWorkers(
      queue,
      2,
      async (key) => {
        const n = (calls.get(key) ?? 0) + 1;
        calls.set(key, n);
        if (key === 'flaky' && n < 3) throw new Error('transient');
        return {};
      },
      (key, _err, info) => errors.push({ key, info }),
    );
    queue.add('ok');
    queue.add('flaky');
    await waitFor(() => calls.get('flaky') === 3);
    queue.shutdown();
    await workers;

    assert.equal(calls.get('ok'), 1);
    assert.equal(calls.get('flaky'), 3);
    // Two workers: the interleaving of keys varies, the per-key sequence does not.
    assert.deepEqual(errors.map((e) => `${e.key}:${e.info.retries}`).sort(), ['flaky:1', 'flaky:2']);
    assert.equal(queue.retries('flaky'), 0, 'success resets the backoff');
  });

  it('never runs one key on two workers at once, though events for it keep arriving', async () => {
    const queue = fastQueue();
    const inFlight = new Set<string>();
    let overlap = false;
    const runs: string[] = [];
    const workers = runWorkers(
      queue,
      4,
      async (key) => {
        if (inFlight.has(key)) overlap = true;
        inFlight.add(key);
        runs.push(key);
        queue.add(key); // an event for the key arrives mid-reconcile
        await sleep(10);
        inFlight.delete(key);
      },
      () => {},
    );
    queue.add('a');
    queue.add('b');
    await waitFor(() => runs.length >= 10);
    queue.shutdown();
    await workers;
    assert.equal(overlap, false);
    assert.ok(runs.filter((k) => k === 'a').length >= 3, 'the mid-reconcile event leads to another run');
  });

  it('requeues a key after requeueAfterMs', async () => {
    const queue = fastQueue();
    const runsAt: number[] = [];
    const workers = runWorkers(
      queue,
      1,
      async () => {
        runsAt.push(performance.now());
        return runsAt.length === 1 ? { requeueAfterMs: 50 } : {};
      },
      () => {},
    );
    queue.add('poll');
    await waitFor(() => runsAt.length === 2);
    await sleep(100);
    queue.shutdown();
    await workers;
    assert.equal(runsAt.length, 2, 'a plain success does not requeue');
    const gap = (runsAt[1] ?? 0) - (runsAt[0] ?? 0);
    assert.ok(gap >= 48, `requeued after ${gap} ms`);
  });

  it('resolves only after in-flight handlers have finished', async () => {
    const queue = fastQueue();
    let finished = false;
    const workers = runWorkers(
      queue,
      1,
      async () => {
        await sleep(50);
        finished = true;
      },
      () => {},
    );
    queue.add('a');
    await sleep(5);
    queue.shutdown();
    await workers;
    assert.equal(finished, true);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}
