// Informer behaviour that needs no API server: an unreachable server (a closed port, a real
// connection refusal) must never throw out of the loop, must back off, must log reconnects
// rate-limited, and stop() must end it promptly and reject `synced`.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer, type InformerObject } from '../../../src/kube/informer.ts';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function kubeConfigFor(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

function capture() {
  const lines: { level: number; msg: string; failures?: number; suppressed?: number }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(JSON.parse(String(chunk)));
      callback();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

describe('Informer without a reachable API server', () => {
  it('retries with backoff, logs at most one warning per interval, and stops promptly', async () => {
    const { lines, logger } = capture();
    const informer = new Informer<InformerObject>({
      kc: kubeConfigFor(await closedPort()),
      logger,
      path: '/api/v1/configmaps',
      backoff: { initialMs: 10, maxMs: 40 },
      reconnectLogIntervalMs: 60_000,
    });
    informer.start();
    informer.start(); // idempotent
    await sleep(400);
    const stopping = performance.now();
    await informer.stop();
    assert.ok(performance.now() - stopping < 200, 'stop() does not wait out a backoff');
    await assert.rejects(informer.synced, { code: 'CPB_ERR_KUBE_STOPPED' });
    assert.equal(informer.hasSynced, false);

    const reconnects = lines.filter((l) => l.msg === 'watch reconnecting');
    const warnings = reconnects.filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, 'one warning, the rest at debug');
    // 400 ms at 10–40 ms per try: clearly retrying, clearly not a tight loop.
    assert.ok(reconnects.length >= 5 && reconnects.length <= 40, `${reconnects.length} tries`);
    assert.ok(Math.max(...reconnects.map((l) => l.failures ?? 0)) >= 5, 'failures accumulate');
    assert.equal(informer.stats.relists, 0);
    assert.throws(() => informer.start(), { code: 'CPB_ERR_KUBE_STOPPED' });
  });

  it('stop() before start() just rejects synced', async () => {
    const informer = new Informer<InformerObject>({
      kc: kubeConfigFor(1),
      logger: pino({ level: 'silent' }),
      path: '/api/v1/configmaps',
    });
    await informer.stop();
    await assert.rejects(informer.synced, { code: 'CPB_ERR_KUBE_STOPPED' });
  });
});
