import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deduper } from '../../../src/bridge/dedupe.ts';

test('a stored push is a duplicate within the window and new after it', async () => {
  const d = new Deduper(1000);
  const first = await d.check('1:2:3', 0);
  assert.equal(first.kind, 'new');
  if (first.kind === 'new') first.settle(true);
  assert.equal((await d.check('1:2:3', 500)).kind, 'duplicate');
  assert.equal((await d.check('1:2:3', 1500)).kind, 'new');
});

test('a push whose first delivery failed is not a duplicate', async () => {
  const d = new Deduper(1000);
  const first = await d.check('k', 0);
  if (first.kind === 'new') first.settle(false);
  assert.equal((await d.check('k', 1)).kind, 'new');
});

test('a concurrent duplicate waits for the first outcome', async () => {
  const d = new Deduper(1000);
  const first = await d.check('k', 0);
  const second = d.check('k', 1);
  if (first.kind === 'new') setTimeout(() => first.settle(false), 5);
  assert.equal((await second).kind, 'new', 'first failed, so the retry must be stored');
  const third = await d.check('x', 0);
  const fourth = d.check('x', 1);
  if (third.kind === 'new') setTimeout(() => third.settle(true), 5);
  assert.equal((await fourth).kind, 'duplicate');
});

test('memory is bounded', async () => {
  const d = new Deduper(1_000_000, 100);
  for (let i = 0; i < 1000; i++) {
    const r = await d.check(`k${i}`, 0);
    if (r.kind === 'new') r.settle(true);
  }
  assert.ok(d.size <= 101);
});

test('at the cap the newest keys are still recognised, the oldest forgotten, and checks stay fast', async () => {
  const d = new Deduper(1_000_000, 1000);
  for (let i = 0; i < 20_000; i++) {
    const r = await d.check(`k${i}`, i);
    if (r.kind === 'new') r.settle(true);
  }
  assert.ok(d.size <= 1001);
  assert.equal((await d.check('k19999', 20_000)).kind, 'duplicate');
  assert.equal((await d.check('k19001', 20_000)).kind, 'duplicate');
  const old = await d.check('k0', 20_000);
  assert.equal(old.kind, 'new', 'the oldest key was evicted');
});

test('expired keys are forgotten as the window moves', async () => {
  const d = new Deduper(100);
  for (let i = 0; i < 50; i++) {
    const r = await d.check(`k${i}`, i * 10);
    if (r.kind === 'new') r.settle(true);
  }
  assert.equal((await d.check('k0', 500)).kind, 'new');
  assert.equal((await d.check('k45', 500)).kind, 'duplicate');
  assert.ok(d.size < 20, `size ${d.size}`);
});
