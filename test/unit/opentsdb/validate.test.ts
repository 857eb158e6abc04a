import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Datapoint } from '../../../src/opentsdb/datapoint.ts';
import {
  checkValueText,
  validateIncoming,
  validatePointForOpenTsdb,
} from '../../../src/opentsdb/validate.ts';

const ts = 1_700_000_000_123;
const ok: Datapoint = { metric: 'sys.cpu', timestamp: ts, value: 1.5, tags: { host: 'a' } };

describe('validatePointForOpenTsdb', () => {
  const cases: [string, Partial<Datapoint> | Record<string, unknown>, string | RegExp | undefined][] = [
    ['a valid point', {}, undefined],
    ['seconds timestamps', { timestamp: 1_700_000_000 }, undefined],
    ['empty metric', { metric: '' }, 'Metric name was empty'],
    ['zero timestamp', { timestamp: 0 }, 'Invalid timestamp'],
    ['negative timestamp', { timestamp: -5 }, 'Invalid timestamp'],
    ['float timestamp (strict)', { timestamp: 1.5e12 + 0.5 }, 'Invalid timestamp'],
    ['ms timestamp with 14 digits', { timestamp: 10_000_000_000_000 }, /^bad timestamp=/],
    ['timestamp between 2^32 and 1e12', { timestamp: 5_000_000_000 }, /^bad timestamp=/],
    ['NaN value', { value: Number.NaN }, /^value is NaN or Infinite/],
    ['Infinity value', { value: Number.POSITIVE_INFINITY }, /^value is NaN or Infinite/],
    ['integer 2^63 as plain digits', { value: 2 ** 63 }, 'Unable to parse value to a number'],
    ['exponent-form string', { value: '9.223372036854776e+18' }, undefined],
    ['no tags', { tags: {} }, 'Missing tags'],
    [
      '9 tags with max 8',
      { tags: Object.fromEntries([...Array(9).keys()].map((i) => [`k${i}`, 'v'])) },
      'Too many tags: 9 maximum allowed: 8',
    ],
    ['space in metric', { metric: 'a b' }, 'Invalid metric name ("a b"): illegal character:  '],
    ['colon in tag key', { tags: { 'a:b': 'v' } }, 'Invalid tag name ("a:b"): illegal character: :'],
    ['empty tag value', { tags: { host: '' } }, 'Invalid tag value: empty string'],
    ['numeric tag value (VM drops it)', { tags: { port: 8080 } }, 'Invalid tag value for port: not a string'],
    ['Unicode letters', { metric: 'température', tags: { hôst: 'ünï' } }, undefined],
    ['astral letter', { metric: 'm\u{1D400}' }, /illegal character/],
  ];
  for (const [name, patch, expected] of cases) {
    it(name, () => {
      const reason = validatePointForOpenTsdb({ ...ok, ...patch } as Datapoint, 8);
      if (expected === undefined) assert.equal(reason, undefined);
      else if (typeof expected === 'string') assert.equal(reason, expected);
      else assert.match(reason ?? '', expected);
    });
  }

  it('runs the checks in OpenTSDB order (tags before the value, value before names)', () => {
    assert.equal(validatePointForOpenTsdb({ ...ok, value: Number.NaN, tags: {} }, 8), 'Missing tags');
    assert.match(
      validatePointForOpenTsdb({ ...ok, metric: 'a b', value: Number.NaN }, 8) ?? '',
      /^value is NaN/,
    );
  });
});

describe('checkValueText (Java parse rules)', () => {
  const table: [string, boolean][] = [
    ['42', true],
    ['-9223372036854775808', true],
    ['9223372036854775807', true],
    ['9223372036854775808', false], // overflow
    ['+1', true],
    ['12345678901234567890', false], // 20 digits
    ['NaN', false], // integer path: not a number
    ['Infinity', false],
    ['1.5', true],
    ['1e5', true],
    ['1.3E3', true],
    ['1.5f', true], // Java's type suffix
    ['1e400', false], // Infinite
    ['1.5abc', false],
    ['abc', false],
    ['0x10', false],
  ];
  for (const [text, stored] of table) {
    it(`${text} → ${stored ? 'stored' : 'refused'}`, () => {
      assert.equal(checkValueText(text, 'm', 1) === undefined, stored);
    });
  }
});

describe('validateIncoming', () => {
  it('refuses missing fields like IncomingDataPoint.validate', () => {
    assert.equal(validateIncoming(undefined, 1, '1', { a: 'b' }, 8), 'Metric name was empty');
    assert.equal(validateIncoming('m', undefined, '1', { a: 'b' }, 8), 'Invalid timestamp');
    assert.equal(validateIncoming('m', 1, null, { a: 'b' }, 8), 'Empty value');
    assert.equal(validateIncoming('m', 1, '1', null, 8), 'Missing tags');
    assert.equal(validateIncoming('m', 1, '1', ['a'], 8), 'Missing tags');
  });

  it('honours a configured max_tags', () => {
    const tags = { a: '1', b: '2', c: '3' };
    assert.equal(validateIncoming('m', 1, '1', tags, 3), undefined);
    assert.equal(validateIncoming('m', 1, '1', tags, 2), 'Too many tags: 3 maximum allowed: 2');
  });
});
