import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';
import { FailoverWriter } from '../../../src/opentsdb/failover-writer.ts';
import type { TsdbWriter, WriteResult } from '../../../src/opentsdb/writer.ts';

/** A writer whose next answers are scripted: 'ok', a retryable code, or an Error to throw. */
function scripted(endpoint: string, script: (string | Error)[]): TsdbWriter & { calls: number } {
  return {
    endpoint,
    calls: 0,
    async write(batch): Promise<WriteResult> {
      this.calls++;
      const step = script.shift() ?? 'ok';
      if (step instanceof Error) throw step;
      if (step !== 'ok') {
        throw new RetryableWriteError(step as RetryableWriteError['code'], `${endpoint} failed`, {
          retryAfterMs: 100,
        });
      }
      return { written: batch.length, rejected: [] };
    },
    async close() {},
  };
}

const logger = pino({ level: 'silent' });

describe('FailoverWriter', () => {
  it('does not try other endpoints on a configuration error or an abort', async () => {
    const config = Object.assign(new Error('bad'), { code: 'CPB_ERR_TSDB_BAD_ENDPOINT', retryable: false });
    const a = scripted('a', [config, 'CPB_ERR_TSDB_ABORTED']);
    const b = scripted('b', []);
    const w = new FailoverWriter([a, b], logger);
    await assert.rejects(w.write(['x']), /bad/);
    await assert.rejects(w.write(['x']), { code: 'CPB_ERR_TSDB_ABORTED' });
    assert.equal(b.calls, 0);
  });

  it('with one endpoint, throws its own error unchanged', async () => {
    const w = new FailoverWriter([scripted('a', ['CPB_ERR_TSDB_UNAVAILABLE'])], logger);
    await assert.rejects(w.write(['x']), { code: 'CPB_ERR_TSDB_UNAVAILABLE' });
  });

  it('passes the smallest retryAfterMs on when all fail', async () => {
    const w = new FailoverWriter(
      [scripted('a', ['CPB_ERR_TSDB_UNAVAILABLE']), scripted('b', ['CPB_ERR_TSDB_HTTP_STATUS'])],
      logger,
    );
    await assert.rejects(w.write(['x']), { code: 'CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED', retryAfterMs: 100 });
  });
});
