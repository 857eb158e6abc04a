import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRetryableWriteError, RetryableWriteError, TsdbConfigError } from '../../../src/opentsdb/errors.ts';
import { codeOf, TSDB_ERRORS } from '../../../src/shared/errors.ts';

describe('writer error codes', () => {
  it('are pinned: a change here is a breaking change for alerting and callers', () => {
    assert.deepEqual(Object.keys(TSDB_ERRORS).sort(), [
      'CPB_ERR_TSDB_ABORTED',
      'CPB_ERR_TSDB_ALL_ENDPOINTS_FAILED',
      'CPB_ERR_TSDB_BAD_ENDPOINT',
      'CPB_ERR_TSDB_FILE_IO',
      'CPB_ERR_TSDB_HTTP_STATUS',
      'CPB_ERR_TSDB_STORAGE',
      'CPB_ERR_TSDB_TLS',
      'CPB_ERR_TSDB_UNAVAILABLE',
      'CPB_ERR_TSDB_WRITER_CLOSED',
    ]);
    for (const code of Object.keys(TSDB_ERRORS)) assert.match(code, /^CPB_ERR_TSDB_[A-Z_]+$/);
  });

  it('RetryableWriteError carries code, cause, status and retryable', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new RetryableWriteError('CPB_ERR_TSDB_UNAVAILABLE', 'down', {
      cause,
      status: 503,
      endpoint: 'http://x',
    });
    assert.equal(err.code, 'CPB_ERR_TSDB_UNAVAILABLE');
    assert.equal(err.retryable, true);
    assert.equal(err.status, 503);
    assert.equal(codeOf(err.cause), 'ECONNREFUSED');
    assert.equal(isRetryableWriteError(err), true);
    // Duck-typed, so a second copy of the module still matches.
    assert.equal(isRetryableWriteError({ retryable: true, code: 'CPB_ERR_TSDB_UNAVAILABLE' }), true);
  });

  it('configuration errors are not retryable', () => {
    const err = new TsdbConfigError('bad');
    assert.equal(err.code, 'CPB_ERR_TSDB_BAD_ENDPOINT');
    assert.equal(isRetryableWriteError(err), false);
  });
});
