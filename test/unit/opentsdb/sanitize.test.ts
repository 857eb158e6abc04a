import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  isValidName,
  MAX_NAME_LENGTH,
  sanitizeMetricName,
  sanitizeMetricSegment,
  sanitizeTagKey,
  sanitizeTagValue,
  wireValue,
} from '../../../src/opentsdb/sanitize.ts';
import { validateIncoming } from '../../../src/opentsdb/validate.ts';

/**
 * An oracle written apart from sanitize.ts: Java's Tags.validateString, per UTF-16 code unit.
 * String.fromCharCode of a lone surrogate is not a letter, as in Java.
 */
const LETTER = /^\p{L}$/u;
function javaAccepts(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      ch === '-' ||
      ch === '_' ||
      ch === '.' ||
      ch === '/' ||
      (!(c >= 0xd800 && c <= 0xdfff) && LETTER.test(ch));
    if (!ok) return false;
  }
  return true;
}

/** What the strict contract server says about a point carrying this tag value. */
function strictServerAccepts(tagValue: string): boolean {
  return validateIncoming('m', 1700000000, '1', { k: tagValue }, 8) === undefined;
}

describe('sanitizeTagValue', () => {
  it('keeps clean values as the same string', () => {
    const v = 'web-01.lga_x/y';
    assert.equal(sanitizeTagValue(v), v);
    assert.equal(sanitizeTagValue('Zürich'), 'Zürich');
    assert.equal(sanitizeTagValue('東京'), '東京');
  });

  it('turns spaces into underscores as NS1 did, and trims', () => {
    assert.equal(sanitizeTagValue('New York'), 'New_York');
    assert.equal(sanitizeTagValue('  North America  '), 'North_America');
    assert.equal(sanitizeTagValue('AS7018 AT&T Services, Inc.'), 'AS7018_AT_T_Services__Inc.');
  });

  it('returns undefined when nothing meaningful is left', () => {
    assert.equal(sanitizeTagValue(''), undefined);
    assert.equal(sanitizeTagValue('   '), undefined);
    assert.equal(sanitizeTagValue('?!*'), undefined);
    assert.equal(sanitizeTagValue('😀'), undefined);
    // An underscore that was there is content, not a replacement.
    assert.equal(sanitizeTagValue('_'), '_');
  });

  it('replaces one code point with one underscore, astral letters included', () => {
    assert.equal(sanitizeTagValue('a😀b'), 'a_b');
    // U+1D400 is a letter, but outside the BMP: OpenTSDB checks code units and refuses it.
    assert.equal(sanitizeTagValue('x\u{1D400}'), 'x_');
    assert.equal(sanitizeTagValue('a\uD800b'), 'a_b'); // lone surrogate
  });

  it('composes combining marks (NFC) so accented letters survive', () => {
    assert.equal(sanitizeTagValue('Se\u0301ville'), 'Séville');
  });

  it('caps the length', () => {
    assert.equal(sanitizeTagValue('a'.repeat(1000))?.length, MAX_NAME_LENGTH);
    assert.equal(sanitizeTagValue('ab cd', 3), 'ab_');
    assert.equal(sanitizeTagValue('???a', 3), undefined);
  });

  it('property: output is undefined or non-empty, bounded, and accepted by OpenTSDB and the strict server', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme' })),
        (raw) => {
          const out = sanitizeTagValue(raw);
          if (out === undefined) return true;
          return (
            out.length > 0 && out.length <= MAX_NAME_LENGTH && javaAccepts(out) && strictServerAccepts(out)
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: idempotent, and clean input comes back unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (raw) => {
        const once = sanitizeTagValue(raw);
        if (once !== undefined) assert.equal(sanitizeTagValue(once), once);
        if (javaAccepts(raw) && raw.length <= MAX_NAME_LENGTH && raw === raw.normalize('NFC')) {
          assert.equal(once, raw);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('sanitizeMetricSegment / sanitizeMetricName / sanitizeTagKey', () => {
  it('a segment cannot add levels', () => {
    assert.equal(sanitizeMetricSegment('12.34/5'), '12_34_5');
    assert.equal(sanitizeMetricSegment('1234'), '1234');
    assert.equal(sanitizeMetricSegment('..'), undefined);
  });

  it('a metric name keeps dots and slashes', () => {
    assert.equal(sanitizeMetricName('catchpoint.rtt.by node'), 'catchpoint.rtt.by_node');
  });

  it('__name__ is refused as a tag key (VictoriaMetrics would rename the series)', () => {
    assert.equal(sanitizeTagKey('__name__'), undefined);
    assert.equal(sanitizeTagKey('node id'), 'node_id');
  });
});

describe('isValidName', () => {
  it('follows Tags.validateString', () => {
    assert.equal(isValidName('sys.cpu-user_1/x'), true);
    assert.equal(isValidName('température'), true);
    assert.equal(isValidName(''), false);
    assert.equal(isValidName('a b'), false);
    assert.equal(isValidName('a=b'), false);
    assert.equal(isValidName('a:b'), false);
    assert.equal(isValidName('\u{1D400}'), false);
    assert.equal(isValidName(42), false);
  });
});

describe('wireValue', () => {
  it('drops non-finite values', () => {
    assert.equal(wireValue(Number.NaN), undefined);
    assert.equal(wireValue(Number.POSITIVE_INFINITY), undefined);
    assert.equal(wireValue(Number.NEGATIVE_INFINITY), undefined);
  });

  it('keeps safe integers and floats as numbers', () => {
    assert.equal(wireValue(42), 42);
    assert.equal(wireValue(-1.5), -1.5);
    assert.equal(wireValue(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
    // JSON.stringify already writes these in exponent form.
    assert.equal(wireValue(1e300 / 3), 1e300 / 3);
    assert.equal(wireValue(1e21), 1e21);
  });

  it('sends unsafe integers in exponent form (OpenTSDB float path)', () => {
    assert.equal(wireValue(2 ** 63), '9.223372036854776e+18');
    assert.equal(wireValue(-(2 ** 60)), '-1.152921504606847e+18');
    const text = wireValue(1e20) as string;
    assert.match(text, /e\+/);
    assert.equal(Number(text), 1e20);
    assert.equal(validateIncoming('m', 1700000000, text, { k: 'v' }, 8), undefined);
    // Without it: JSON.stringify(1e20) is 21 plain digits, which OpenTSDB cannot parse.
    assert.notEqual(validateIncoming('m', 1700000000, JSON.stringify(1e20), { k: 'v' }, 8), undefined);
  });
});
