/**
 * Kubernetes' CEL quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go), for the CEL
 * interpreter validate.ts runs the CRD's rules with, so a rule that compares sizes means the same
 * in a standalone config as at admission:
 *
 *   isQuantity(string) bool          quantity(string) Quantity
 *   q.add(Quantity | int) Quantity   q.sub(Quantity | int) Quantity
 *   q.compareTo(Quantity) int        q.isLessThan(Quantity) bool   q.isGreaterThan(Quantity) bool
 *   q.sign() int                     q.isInteger() bool            q.asInteger() int
 *   q.asApproximateFloat() double
 *
 * A quantity is exact, like resource.Quantity: a bigint count of nano-units, a finer value being
 * rounded away from zero to the next nano as ParseQuantity does. The interpreter has no opaque
 * values, so a quantity travels as a one-entry CEL map under QUANTITY_KEY; `==` between two then
 * compares their values, as it does on the API server.
 */
import {
  type CelFunc,
  type CelMap,
  CelScalar,
  type CelValue,
  celFunc,
  celMap,
  celMethod,
  isCelMap,
} from '@bufbuild/cel';

const QUANTITY_KEY = 'k8s.io/quantity';
const NANO = 10n ** 9n;
const MAX_INT64 = 2n ** 63n - 1n;
/** Past this many powers of ten a decimal exponent is refused rather than expanded. */
const MAX_EXPONENT = 64;

const DECIMAL_SUFFIXES: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES: Record<string, bigint> = {
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
  Ei: 2n ** 60n,
};
// Sign, whole digits, fraction digits, suffix: the scan of resource.parseQuantityString.
const QUANTITY_SYNTAX = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*(?:[+-]?[0-9]+)?)$/;

/** A Kubernetes quantity string as nano-units; throws on anything ParseQuantity refuses. */
export function parseKubeQuantity(text: string): bigint {
  const m = QUANTITY_SYNTAX.exec(text);
  if (m === null) throw new Error(`invalid quantity: ${JSON.stringify(text)}`);
  const [, sign = '', whole = '', fraction = '', suffix = ''] = m;
  if (whole === '' && fraction === '') throw new Error(`invalid quantity: ${JSON.stringify(text)}`);
  const digits = BigInt(`${whole}${fraction}` || '0');
  // value = digits × 10^-fraction.length × multiplier; in nano-units, × 10^9 more.
  let magnitude: bigint;
  const binary = BINARY_SUFFIXES[suffix];
  if (binary !== undefined) {
    magnitude = scaleUp(digits * binary, 9 - fraction.length);
    if (magnitude > MAX_INT64 * NANO) magnitude = MAX_INT64 * NANO; // ParseQuantity's cap for binary SI
  } else {
    const exponent = DECIMAL_SUFFIXES[suffix] ?? decimalExponent(suffix, text);
    magnitude = scaleUp(digits, exponent + 9 - fraction.length);
  }
  return sign === '-' ? -magnitude : magnitude;
}

function decimalExponent(suffix: string, text: string): number {
  if (!/^[eE][+-]?[0-9]+$/.test(suffix)) throw new Error(`invalid quantity: ${JSON.stringify(text)}`);
  const exponent = Number(suffix.slice(1));
  if (Math.abs(exponent) > MAX_EXPONENT) throw new Error(`quantity out of range: ${JSON.stringify(text)}`);
  return exponent;
}

/** n × 10^power, rounding a fraction up (away from zero: n is non-negative). */
function scaleUp(n: bigint, power: number): bigint {
  if (power >= 0) return n * 10n ** BigInt(power);
  const divisor = 10n ** BigInt(-power);
  return (n + divisor - 1n) / divisor;
}

function quantity(nano: bigint): CelMap {
  return celMap(new Map([[QUANTITY_KEY, nano]]));
}

function nanoOf(value: CelValue): bigint {
  const nano = isCelMap(value) && value.size === 1 ? value.get(QUANTITY_KEY) : undefined;
  if (typeof nano !== 'bigint') throw new Error('no such overload: expected a quantity');
  return nano;
}

/** A quantity, or an int as a whole quantity (the add/sub overloads). */
function nanoOfOperand(value: CelValue): bigint {
  return typeof value === 'bigint' ? value * NANO : nanoOf(value);
}

function compare(a: bigint, b: bigint): bigint {
  return a < b ? -1n : a > b ? 1n : 0n;
}

function asInteger(nano: bigint): bigint | undefined {
  if (nano % NANO !== 0n) return undefined;
  const n = nano / NANO;
  return n > MAX_INT64 || n < -MAX_INT64 - 1n ? undefined : n;
}

const { DYN, STRING, BOOL, INT, DOUBLE } = CelScalar;

/** The library's functions, for `run(rule, bindings, { funcs: QUANTITY_FUNCS })`. */
export const QUANTITY_FUNCS: readonly CelFunc[] = [
  celFunc('isQuantity', [STRING], BOOL, (text) => {
    try {
      parseKubeQuantity(text);
      return true;
    } catch {
      return false;
    }
  }),
  celFunc('quantity', [STRING], DYN, (text) => quantity(parseKubeQuantity(text))),
  celMethod('add', DYN, [DYN], DYN, function (other) {
    return quantity(nanoOf(this) + nanoOfOperand(other));
  }),
  celMethod('sub', DYN, [DYN], DYN, function (other) {
    return quantity(nanoOf(this) - nanoOfOperand(other));
  }),
  celMethod('compareTo', DYN, [DYN], INT, function (other) {
    return compare(nanoOf(this), nanoOf(other));
  }),
  celMethod('isLessThan', DYN, [DYN], BOOL, function (other) {
    return nanoOf(this) < nanoOf(other);
  }),
  celMethod('isGreaterThan', DYN, [DYN], BOOL, function (other) {
    return nanoOf(this) > nanoOf(other);
  }),
  celMethod('sign', DYN, [], INT, function () {
    return compare(nanoOf(this), 0n);
  }),
  celMethod('isInteger', DYN, [], BOOL, function () {
    return asInteger(nanoOf(this)) !== undefined;
  }),
  celMethod('asInteger', DYN, [], INT, function () {
    const n = asInteger(nanoOf(this));
    if (n === undefined) throw new Error('cannot convert value to integer');
    return n;
  }),
  celMethod('asApproximateFloat', DYN, [], DOUBLE, function () {
    return Number(nanoOf(this)) / 1e9;
  }),
];
