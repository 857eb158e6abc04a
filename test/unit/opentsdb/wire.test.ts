import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyRejection } from '../../../src/opentsdb/rejection.ts';
import { formatPutLine } from '../../../src/opentsdb/wire.ts';

describe('formatPutLine', () => {
  it('writes seconds, single spaces and a newline', () => {
    const line = formatPutLine({
      metric: 'catchpoint.rtt.by_node.123',
      timestamp: 1_700_000_000_987,
      value: 42.5,
      tags: { nodeid: '7', city: 'New_York' },
    });
    assert.equal(line, 'put catchpoint.rtt.by_node.123 1700000000 42.5 nodeid=7 city=New_York\n');
  });

  it('writes unsafe integers in exponent form', () => {
    assert.equal(
      formatPutLine({ metric: 'm', timestamp: 2000, value: 2 ** 63, tags: { a: 'b' } }),
      'put m 2 9.223372036854776e+18 a=b\n',
    );
  });
});

describe('classifyRejection', () => {
  it('maps OpenTSDB error strings to a small set of kinds', () => {
    assert.equal(classifyRejection('Unknown metric'), 'unknown_metric');
    assert.equal(classifyRejection("No such name for 'metrics': 'x'"), 'unknown_metric');
    assert.equal(classifyRejection('Invalid metric name ("a b"): illegal character:  '), 'invalid_name');
    assert.equal(classifyRejection('Too many tags: 9 maximum allowed: 8'), 'too_many_tags');
    assert.equal(classifyRejection('Unable to parse value to a number'), 'invalid_value');
    assert.equal(classifyRejection('bad timestamp=5000000000 for metric=m'), 'invalid_timestamp');
    assert.equal(classifyRejection('Please throttle writes'), 'throttled');
    assert.equal(classifyRejection('Storage exception: x'), 'storage');
    assert.equal(classifyRejection('something new'), 'other');
  });
});
