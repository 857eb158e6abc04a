import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonArrayBody, lineSizes, packNext } from '../../../src/opentsdb/body-plan.ts';

/** The whole plan of a batch, as HttpWriter cuts it one packNext at a time: [start0, end0, start1, end1, ...]. */
function packRanges(sizes: Uint32Array, budget: number, maxPoints: number): number[] {
  const ranges: number[] = [];
  for (let start = 0; start < sizes.length; ) {
    const end = packNext(sizes, start, budget, maxPoints);
    ranges.push(start, end);
    start = end;
  }
  return ranges;
}

describe('packNext', () => {
  it('packs consecutive lines under the byte budget and point cap', () => {
    const lines = ['{"a":1}', '{"b":2}', '{"c":3}', '{"é":4}'];
    const sizes = lineSizes(lines);
    assert.equal(sizes[3], 8); // é is two bytes
    assert.deepEqual(packRanges(sizes, 1000, 500), [0, 4]);
    assert.deepEqual(packRanges(sizes, 1000, 3), [0, 3, 3, 4]);
    // "[" + 7 + "," + 7 + "]" = 17 bytes fits 17, not 16
    assert.deepEqual(packRanges(sizes, 17, 500), [0, 2, 2, 3, 3, 4]);
    assert.deepEqual(packRanges(sizes, 16, 500), [0, 1, 1, 2, 2, 3, 3, 4]);
  });

  it('gives an oversized line a range of its own', () => {
    const sizes = lineSizes(['x'.repeat(50), 'y', 'z']);
    assert.deepEqual(packRanges(sizes, 20, 500), [0, 1, 1, 3]);
  });

  it('property: ranges cover every line once, in order, within budget unless alone', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 60 }), { maxLength: 200 }),
        fc.integer({ min: 2, max: 400 }),
        fc.integer({ min: 1, max: 50 }),
        (lines, budget, maxPoints) => {
          const sizes = lineSizes(lines);
          const ranges = packRanges(sizes, budget, maxPoints);
          let expectStart = 0;
          for (let r = 0; r < ranges.length; r += 2) {
            const start = ranges[r] as number;
            const end = ranges[r + 1] as number;
            assert.equal(start, expectStart);
            assert.ok(end > start);
            assert.ok(end - start <= maxPoints);
            const bytes = jsonArrayBody(lines, start, end).length;
            if (end - start > 1) assert.ok(bytes <= budget, `${bytes} > ${budget}`);
            expectStart = end;
          }
          assert.equal(expectStart, lines.length);
        },
      ),
    );
  });
});

describe('jsonArrayBody', () => {
  it('joins the encoded lines without re-serialising', () => {
    assert.equal(jsonArrayBody(['{"a":1.0}', '{"b":2}'], 0, 2).toString(), '[{"a":1.0},{"b":2}]');
    assert.equal(jsonArrayBody(['x', '{"b":2}'], 1, 2).toString(), '[{"b":2}]');
  });
});
