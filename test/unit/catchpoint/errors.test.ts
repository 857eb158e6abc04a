import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CatchpointApiError, describeValue, PushParseError } from '../../../src/catchpoint/errors.ts';
import { scrub } from '../../../src/catchpoint/http.ts';
import { parseRetryAfterMs, retryRateLimited } from '../../../src/catchpoint/rate-limit.ts';
import { backoffDelayMs } from '../../../src/shared/backoff.ts';
import {
  BRIDGE_ERRORS,
  CATCHPOINT_API_ERRORS,
  CONFIG_ERRORS,
  PUSH_PARSE_ERRORS,
} from '../../../src/shared/errors.ts';

/** The registry's codes the catchpoint area throws: its own, push parsing and the template map. */
const CATCHPOINT_ERROR_CODES = Object.fromEntries(
  Object.entries({
    ...CATCHPOINT_API_ERRORS,
    ...PUSH_PARSE_ERRORS,
    CPB_ERR_PUSH_FORMAT: CONFIG_ERRORS.CPB_ERR_PUSH_FORMAT,
    CPB_ERR_CATCHPOINT_CONFIG: CONFIG_ERRORS.CPB_ERR_CATCHPOINT_CONFIG,
    CPB_ERR_CATCHPOINT_INTERNAL: BRIDGE_ERRORS.CPB_ERR_CATCHPOINT_INTERNAL,
  }).map(([code, d]) => [code, d.message]),
);

const SRC = new URL('../../../src/catchpoint/', import.meta.url);

describe('error codes', () => {
  it('lists every code the catchpoint sources use, and uses every code it lists', () => {
    // Quoted literals are uses (throws, unions, `as const`); the table's keys are unquoted.
    const used = new Set<string>();
    for (const file of readdirSync(SRC)) {
      if (!file.endsWith('.ts')) continue;
      for (const match of readFileSync(new URL(file, SRC), 'utf8').matchAll(/'(CPB_ERR_[A-Z_]+)'/g)) {
        used.add(match[1]!);
      }
    }
    assert.deepEqual([...used].sort(), Object.keys(CATCHPOINT_ERROR_CODES).sort());
  });

  it('names every code CPB_ERR_<AREA>_<PROBLEM> with a description', () => {
    for (const [code, description] of Object.entries(CATCHPOINT_ERROR_CODES)) {
      assert.match(code, /^CPB_ERR_(PUSH|CATCHPOINT)_[A-Z_]+$/);
      assert.ok(description.length > 10, code);
    }
  });

  it('carries code, path and status on PushParseError', () => {
    const err = new PushParseError('CPB_ERR_PUSH_FIELD_TYPE', 'TestId', 'TestId must be an integer');
    assert.equal(err.name, 'PushParseError');
    assert.equal(err.code, 'CPB_ERR_PUSH_FIELD_TYPE');
    assert.equal(err.path, 'TestId');
    assert.equal(err.statusCode, 400);
    assert.ok(err instanceof Error);
  });

  it('keeps status and Retry-After on CatchpointApiError', () => {
    const err = new CatchpointApiError('CPB_ERR_CATCHPOINT_RATE_LIMITED', 'x', {
      status: 429,
      retryAfterMs: 2000,
    });
    assert.equal(err.status, 429);
    assert.equal(err.retryAfterMs, 2000);
  });

  it('describes values without dumping them', () => {
    assert.equal(describeValue('abc'), 'string "abc"');
    assert.equal(describeValue(12), 'number "12"');
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue([1, 2]), 'an array');
    assert.equal(describeValue({ secret: 'x' }), 'an object');
    assert.equal(describeValue('y'.repeat(1000)), `string "${'y'.repeat(40)}…"`);
  });
});

describe('scrub', () => {
  it('removes secrets and cuts long text', () => {
    assert.equal(scrub('bad secret s3cr3t-value here', ['s3cr3t-value']), 'bad secret [redacted] here');
    assert.equal(scrub('short ab', ['ab']), 'short ab', 'too short to be a credential');
    assert.ok(scrub('z'.repeat(1000), []).length <= 121);
  });
});

describe('backoff', () => {
  it('grows exponentially with equal jitter, capped', () => {
    // The 429 loop's wait after attempt n (from 0) is shared/backoff.ts's after n + 1 failures.
    const afterAttempt = (n: number, random: () => number) =>
      backoffDelayMs(n + 1, { baseMs: 1000, maxMs: 60_000, random });
    assert.equal(
      afterAttempt(0, () => 0),
      500,
    );
    assert.equal(
      afterAttempt(0, () => 1),
      1000,
    );
    assert.equal(
      afterAttempt(3, () => 0),
      4000,
    );
    assert.equal(
      afterAttempt(3, () => 1),
      8000,
    );
    assert.equal(
      afterAttempt(20, () => 1),
      60_000,
    );
    assert.equal(
      afterAttempt(5000, () => 0.5),
      45_000,
    );
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.UTC(2024, 0, 1, 12, 0, 0);
    assert.equal(parseRetryAfterMs('3', now), 3000);
    assert.equal(parseRetryAfterMs(['0.5'], now), 500);
    assert.equal(parseRetryAfterMs('Mon, 01 Jan 2024 12:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfterMs('Mon, 01 Jan 2024 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfterMs('soon', now), undefined);
    assert.equal(parseRetryAfterMs(undefined, now), undefined);
    assert.equal(parseRetryAfterMs('', now), undefined);
  });

  it('retries 429s only, within the attempt budget', async () => {
    const options = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 1000, random: () => 0 };
    let calls = 0;
    const limited = () =>
      new CatchpointApiError('CPB_ERR_CATCHPOINT_RATE_LIMITED', 'HTTP 429', { status: 429 });
    assert.equal(
      await retryRateLimited(async () => (++calls < 3 ? Promise.reject(limited()) : 'ok'), options),
      'ok',
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      retryRateLimited(async () => {
        calls++;
        throw limited();
      }, options),
      { code: 'CPB_ERR_CATCHPOINT_RATE_LIMITED' },
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      retryRateLimited(async () => {
        calls++;
        throw new CatchpointApiError('CPB_ERR_CATCHPOINT_UNAVAILABLE', 'HTTP 503');
      }, options),
      { code: 'CPB_ERR_CATCHPOINT_UNAVAILABLE' },
    );
    assert.equal(calls, 1, 'no retry for other errors');
  });

  it('does not wait out a Retry-After longer than allowed', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retryRateLimited(
        async () => {
          calls++;
          throw new CatchpointApiError('CPB_ERR_CATCHPOINT_RATE_LIMITED', 'HTTP 429', {
            retryAfterMs: 3_600_000,
          });
        },
        { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 60_000, random: () => 0 },
      ),
      (err: unknown) => err instanceof CatchpointApiError && err.retryAfterMs === 3_600_000,
    );
    assert.equal(calls, 1);
    assert.ok(Date.now() - started < 1000);
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const pending = retryRateLimited(
      async () => {
        throw new CatchpointApiError('CPB_ERR_CATCHPOINT_RATE_LIMITED', 'HTTP 429', { retryAfterMs: 30_000 });
      },
      { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 60_000, random: () => 0 },
      controller.signal,
    );
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError' });
  });
});
