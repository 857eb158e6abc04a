import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBridgeMetrics } from '../../../src/bridge/metrics.ts';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';

const zero = () => 0;
const metrics = () =>
  createBridgeMetrics(
    {
      spoolBytes: zero,
      spoolRecords: zero,
      directoryNodes: zero,
      directoryAgeSeconds: zero,
      lastPushAgeSeconds: zero,
    },
    false,
  );

const tlsError = (endpoint: string) =>
  new RetryableWriteError(
    'CPB_ERR_TSDB_TLS',
    `${endpoint}: TLS: untrusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    {
      endpoint,
      tlsFailure: 'untrusted',
    },
  );

describe('tsdb health', () => {
  it('a failure is reported from its first occurrence until a write succeeds; TLS ones are counted', async () => {
    const m = metrics();
    const health = m.tsdbHealth;
    // A getter, so no assertion narrows what later reads see.
    const error = () => health.error;
    assert.equal(error(), undefined);
    health.failed(tlsError('https://tsdb:4242'), 'https://tsdb:4242');
    const first = error();
    assert.equal(first?.code, 'CPB_ERR_TSDB_TLS');
    assert.equal(first?.endpoint, 'https://tsdb:4242');
    assert.match(first?.since ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await new Promise((r) => setTimeout(r, 1100));
    health.failed(
      new RetryableWriteError('CPB_ERR_TSDB_UNAVAILABLE', 'https://tsdb:4242: ECONNREFUSED'),
      'https://tsdb:4242',
    );
    assert.equal(error()?.code, 'CPB_ERR_TSDB_UNAVAILABLE');
    assert.equal(error()?.since, first?.since, 'since: the first failure in a row');
    health.succeeded();
    assert.equal(error(), undefined);

    const text = await m.registry.metrics();
    assert.match(
      text,
      /catchpoint_bridge_tsdb_tls_errors_total\{endpoint="https:\/\/tsdb:4242",reason="untrusted"\} 1/,
    );
  });

  it("a failover writer's error is reported per endpoint, without credentials", async () => {
    const m = metrics();
    const all = new RetryableWriteError('CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED', 'all 2 TSDB endpoints failed', {
      endpoint: 'https://a:4242,https://b:4242',
      cause: new AggregateError(
        [
          tlsError('https://a:4242'),
          new RetryableWriteError('CPB_ERR_TSDB_UNAVAILABLE', 'https://b:4242: ETIMEDOUT'),
        ],
        'per-endpoint errors',
      ),
    });
    m.tsdbHealth.failed(all, 'https://a:4242,https://b:4242');
    assert.equal(m.tsdbHealth.error?.code, 'CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED');
    assert.equal(m.tsdbHealth.error?.endpoint, 'https://a:4242,https://b:4242');
    assert.match(m.tsdbHealth.error?.message ?? '', /a:4242: TLS: .*; https:\/\/b:4242: ETIMEDOUT/);
    assert.match(
      await m.registry.metrics(),
      /tsdb_tls_errors_total\{endpoint="https:\/\/a:4242",reason="untrusted"\} 1/,
    );

    // An endpoint the writer did not redact (none does that today) still loses its credentials.
    m.tsdbHealth.failed(new Error('boom'), 'https://user:secret@c:4242/base?token=abc');
    assert.equal(m.tsdbHealth.error?.endpoint, 'https://c:4242/base');
  });
});
