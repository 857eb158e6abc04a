import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCelError, run } from '@bufbuild/cel';
import { parseKubeQuantity, QUANTITY_FUNCS } from '../../../src/api/cel-quantity.ts';

const cel = (expr: string) => {
  const result = run(expr, {}, { funcs: [...QUANTITY_FUNCS] });
  return isCelError(result) ? new Error(result.message) : result;
};

describe('cel quantity', () => {
  it('quantities parse as resource.ParseQuantity does, exactly, in nano-units', () => {
    const nano = 10n ** 9n;
    const cases: Array<[string, bigint]> = [
      ['0', 0n],
      ['4096', 4096n * nano],
      ['64Mi', 64n * 2n ** 20n * nano],
      ['1.5Ki', 1536n * nano],
      ['100m', 10n ** 8n],
      ['1k', 1000n * nano],
      ['1E', 10n ** 18n * nano],
      ['1e3', 1000n * nano],
      ['2E-3', 2n * 10n ** 6n],
      ['.5', nano / 2n],
      ['+7', 7n * nano],
      ['-1Gi', -(2n ** 30n) * nano],
      ['1n', 1n],
      // Finer than a nano rounds away from zero, as ParseQuantity does.
      ['0.1n', 1n],
      ['-0.0000000001', -1n],
      ['1.0000000001', nano + 1n],
    ];
    for (const [text, expected] of cases) assert.equal(parseKubeQuantity(text), expected, text);
    for (const text of ['', '.', 'Mi', '1K', '1Mb', 'lots', '1e', '1 Gi', '--1', '1Mi5', '0x10']) {
      assert.throws(() => parseKubeQuantity(text), /invalid quantity/, JSON.stringify(text));
    }
  });

  it("the library's functions, as the API server's CEL has them", () => {
    assert.equal(cel("isQuantity('1.5Gi')"), true);
    assert.equal(cel("isQuantity('1.5GB')"), false);
    assert.equal(cel("quantity('1Gi') == quantity('1024Mi')"), true);
    assert.equal(cel("quantity('512Mi').add(quantity('64Mi')) == quantity('576Mi')"), true);
    assert.equal(cel("quantity('1k').add(24) == quantity('1024')"), true);
    assert.equal(cel("quantity('1Gi').sub(quantity('1Gi')).sign()"), 0n);
    assert.equal(cel("quantity('1').sub(2).sign()"), -1n);
    assert.equal(cel("quantity('576Mi').compareTo(quantity('1Gi'))"), -1n);
    assert.equal(cel("quantity('1Gi').compareTo(quantity('1Gi'))"), 0n);
    assert.equal(cel("quantity('1.1Gi').compareTo(quantity('1Gi'))"), 1n);
    assert.equal(cel("quantity('999m').isLessThan(quantity('1'))"), true);
    assert.equal(cel("quantity('1').isGreaterThan(quantity('1'))"), false);
    assert.equal(cel("quantity('64Mi').asInteger()"), 67108864n);
    assert.equal(cel("quantity('1500m').isInteger()"), false);
    assert.equal(cel("quantity('1500m').asApproximateFloat()"), 1.5);
    assert.match(String(cel("quantity('1500m').asInteger()")), /cannot convert value to integer/);
    assert.match(String(cel("quantity('1Ki').compareTo(1024)")), /expected a quantity/);
    assert.match(String(cel("quantity('lots')")), /invalid quantity/);
  });
});
