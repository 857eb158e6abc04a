import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Delivery } from '../../../src/bridge/delivery.ts';
import { bridgeGaugeSources, createBridgeMetrics } from '../../../src/bridge/metrics.ts';
import type { TsdbWriter, WriteResult } from '../../../src/opentsdb/writer.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { WriteAheadSpool } from '../../../src/spool/wal.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(write: (batch: readonly string[]) => Promise<WriteResult>) {
  const dir = await mkdtemp(join(tmpdir(), 'cpb-delivery-'));
  dirs.push(dir);
  const spool = await WriteAheadSpool.open({ dir, maxBytes: 1 << 20, durability: 'buffered' });
  const metrics = createBridgeMetrics(
    bridgeGaugeSources(
      spool,
      () => undefined,
      () => undefined,
    ),
    false,
  );
  const writer: TsdbWriter = { endpoint: 'http://tsdb.test:4242', write, close: async () => {} };
  const delivery = new Delivery(
    spool,
    writer,
    { maxPoints: 100, maxDelayMs: 10 },
    metrics,
    createLogger({ level: 'silent' }),
  );
  return { spool, metrics, delivery };
}

const records = [
  '{"metric":"m","timestamp":1,"value":1,"tags":{"a":"b"}}',
  '{"metric":"m","timestamp":2,"value":2,"tags":{"a":"b"}}',
];

describe('delivery', () => {
  it('a failed write is retried after a backoff until it succeeds, whatever it threw; then acknowledged', async () => {
    const attempts: number[] = [];
    const failures: unknown[] = [new TypeError('a writer bug'), new Error('connection refused')];
    const { spool, metrics, delivery } = await setup(async (batch) => {
      attempts.push(performance.now());
      const failure = failures.shift();
      if (failure !== undefined) throw failure;
      return { written: batch.length, rejected: [] };
    });
    await spool.append(records);
    delivery.start();
    const deadline = Date.now() + 10_000;
    while (spool.bytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await delivery.stop(1000);
    assert.equal(attempts.length, 3);
    // The waits after the first and the second failure: 250–500 ms, then 500–1000 ms.
    const waits = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
    assert.ok(waits[0]! >= 240 && waits[1]! >= 490, JSON.stringify(waits));
    assert.equal(spool.bytes, 0, 'acknowledged once written');
    assert.equal((await metrics.datapointsRetried.get()).values[0]?.value, 2 * records.length);
    assert.equal((await metrics.datapointsWritten.get()).values[0]?.value, records.length);
    await spool.close();
  });

  it('with the TSDB down, a stop ends the retries at its deadline and the batch stays in the spool', async () => {
    let attempts = 0;
    const { spool, delivery } = await setup(async () => {
      attempts++;
      throw new Error('connection refused');
    });
    await spool.append(records);
    delivery.start();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await delivery.stop(300);
    assert.ok(Date.now() - started < 2000, 'the backoff wait does not outlast the stop');
    assert.ok(attempts >= 1);
    assert.ok(spool.bytes > 0, 'nothing acknowledged');
    await spool.close();
  });

  it('a write that lands after the drain deadline fired is acknowledged: the TSDB has it, so it is not sent again', async () => {
    let calls = 0;
    let release: () => void = () => {};
    const landed = new Promise<void>((r) => {
      release = r;
    });
    const { spool, delivery } = await setup(async (batch) => {
      calls++;
      await landed; // the drain deadline fires while this write is in flight
      return { written: batch.length, rejected: [] };
    });
    await spool.append(records);
    delivery.start();
    while (calls === 0) await new Promise((r) => setTimeout(r, 10));
    const stopped = delivery.stop(50);
    await new Promise((r) => setTimeout(r, 200));
    release();
    await stopped;
    assert.equal(calls, 1);
    assert.equal(spool.bytes, 0, 'acknowledged, not left for the next start');
    await spool.close();
  });
});
