import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pause, StoppableLoop } from '../../../src/kube/loop.ts';

describe('StoppableLoop', () => {
  it('runs once however often started; stop() aborts at once and waits for the loop to end', async () => {
    let runs = 0;
    let ended = false;
    const loop = new StoppableLoop('test loop', async (signal) => {
      runs++;
      await pause(60_000, signal);
      ended = true;
    });
    loop.start();
    loop.start();
    assert.equal(runs, 1, 'the loop starts synchronously, once');
    const stopping = loop.stop();
    assert.equal(ended, false);
    await stopping;
    assert.equal(ended, true);
    assert.throws(() => loop.start(), { code: 'CPB_ERR_KUBE_STOPPED', message: /test loop was stopped/ });
    assert.equal(runs, 1);
  });

  it('stop() before start() resolves, and the loop never runs', async () => {
    let runs = 0;
    const loop = new StoppableLoop('test loop', async () => {
      runs++;
    });
    await loop.stop();
    assert.throws(() => loop.start(), { code: 'CPB_ERR_KUBE_STOPPED' });
    assert.equal(runs, 0);
  });
});

describe('pause', () => {
  it('waits, ends early (without rejecting) on abort, and returns at once for nothing to wait', async () => {
    const started = performance.now();
    await pause(20, new AbortController().signal);
    assert.ok(performance.now() - started >= 15);

    const controller = new AbortController();
    const waiting = pause(60_000, controller.signal);
    controller.abort();
    await waiting;

    const aborted = AbortSignal.abort();
    const before = performance.now();
    await pause(60_000, aborted);
    await pause(0, new AbortController().signal);
    await pause(-5, new AbortController().signal);
    assert.ok(performance.now() - before < 1000);
  });
});
