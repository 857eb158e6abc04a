import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RetryableWriteError } from '../../../src/opentsdb/errors.ts';
import { HealthLog } from '../../../src/opentsdb/health-log.ts';

function capture() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => lines.push(JSON.parse(chunk)) });
  return { lines, log: new HealthLog(logger, 'http://tsdb:4242') };
}

describe('HealthLog', () => {
  it('warns once when writes start failing, says once when they are accepted again', () => {
    const { lines, log } = capture();
    log.accepting();
    const err = new RetryableWriteError('CPB_ERR_TSDB_UNAVAILABLE', 'down', {
      cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    });
    log.failing(err);
    log.failing(err);
    log.accepting();
    log.accepting();
    log.failing(err);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.endpoint, l.code, l.cause]),
      [
        [
          40,
          'TSDB endpoint is failing; batches will be retried',
          'http://tsdb:4242',
          'CPB_ERR_TSDB_UNAVAILABLE',
          'ECONNREFUSED',
        ],
        [30, 'TSDB endpoint is accepting writes again', 'http://tsdb:4242', undefined, undefined],
        [
          40,
          'TSDB endpoint is failing; batches will be retried',
          'http://tsdb:4242',
          'CPB_ERR_TSDB_UNAVAILABLE',
          'ECONNREFUSED',
        ],
      ],
    );
  });

  it('logs a status that points at the configuration once; outage statuses never', () => {
    const { lines, log } = capture();
    for (const status of [503, 500, 429, 408, 401, 401, 404, 401]) log.status(status, `HTTP ${status}`);
    assert.deepEqual(
      lines.map((l) => [l.level, l.status, l.reason]),
      [
        [50, 401, 'HTTP 401'],
        [50, 404, 'HTTP 404'],
      ],
    );
    assert.match(lines[0]?.msg ?? '', /points at the configuration/);
  });
});
