import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBoolean, parseListen, parseNumber, UsageError } from '../../src/cli-options.ts';

describe('cli options', () => {
  it('--listen takes HOST:PORT, [v6]:PORT or PORT, and names the flag when it is wrong', () => {
    assert.deepEqual(parseListen('--listen', '127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('--listen', '[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen('--listen', '9090'), { host: '0.0.0.0', port: 9090 });
    for (const bad of ['127.0.0.1:', '127.0.0.1:65536', ':8080x', 'host:-1', 'host:1e3', '[]:80', 'x']) {
      assert.throws(
        () => parseListen('--listen-metrics', bad),
        (err: Error) => {
          assert.ok(err instanceof UsageError);
          assert.match(err.message, /^--listen-metrics takes HOST:PORT/);
          return true;
        },
        bad,
      );
    }
  });

  it('numbers are checked against their range; NaN, negatives, exponents and fractions where whole are refused', () => {
    assert.equal(parseNumber('--drain', '20', { min: 0, max: 3600 }), 20);
    assert.equal(parseNumber('--drain', '0.5', { min: 0, max: 3600 }), 0.5);
    assert.equal(parseNumber('--workers', '4', { min: 1, max: 64, integer: true }), 4);
    for (const [flag, text, opts] of [
      ['--drain', 'abc', { min: 0, max: 3600 }],
      ['--drain', '', { min: 0, max: 3600 }],
      ['--drain', '-1', { min: 0, max: 3600 }],
      ['--drain', '1e3', { min: 0, max: 3600 }],
      ['--drain', '3601', { min: 0, max: 3600 }],
      ['--workers', '0', { min: 1, max: 64, integer: true }],
      ['--workers', '2.5', { min: 1, max: 64, integer: true }],
    ] as const) {
      assert.throws(
        () => parseNumber(flag, text, opts),
        new RegExp(`^UsageError: ${flag} takes`),
        `${flag} ${text}`,
      );
    }
  });

  it('booleans are true or false, nothing else', () => {
    assert.equal(parseBoolean('--leader-elect', 'true'), true);
    assert.equal(parseBoolean('--leader-elect', 'false'), false);
    assert.throws(() => parseBoolean('--leader-elect', 'no'), /--leader-elect takes true or false, not "no"/);
  });
});
