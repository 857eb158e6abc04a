/**
 * Reading numeric measurements out of a parsed push. This runs once per configured measurement
 * per push, so it does no per-call compilation: keys are compiled once into path steps and kept
 * in a module-level map, and values are converted without regex compilation or splitting.
 *
 * Keys are case-insensitive dot paths under `Summary` ('timing.total', 'byte.response.totalcontent',
 * 'ping.packetlosspct', 'score.speedindex', any other Summary path), `rtt` as an alias of
 * 'timing.total' (canonicalMeasurementKey resolves it: go through it rather than spell the alias
 * out again), plus three keys derived from `Diagnostic.TraceRoute.Hops` (notes §2.4):
 *  - traceroute.hops: number of hops;
 *  - traceroute.rtt: mean of the last hop's answered probes (ms);
 *  - traceroute.loss: percent of the last hop's probes that got no answer (null), 0–100, rounded
 *    to 3 decimals. Catchpoint's sample integrations multiply by 33.333 (so 3 lost probes give
 *    99.999); we divide by the actual probe count so total loss reads exactly 100.
 *
 * Missing keys are missing, never 0. A value that is an object (`Timing.ContentType`), a
 * non-numeric string, or not finite (1e400, "NaN", "Infinity") reads as undefined from
 * readMeasurement; readMeasurementOrInvalid tells such a value (NOT_A_NUMBER: counted and logged
 * as dropped) from a missing one (absent, null, or "" as templates render an unmeasured value).
 */
import { type CompiledPath, compilePath, readStep, resolvePath } from './path.ts';
import { kPushBody, kPushSummary, kPushTemplate } from './symbols.ts';
import type { CatchpointPush } from './types.ts';

/**
 * Measurement keys are case-insensitive dot paths under Summary. `rtt` is the seed's name for
 * `timing.total`, so both spellings address the same value (a template may map either).
 * Template field maps, readMeasurement and the bridge's measurement list key through this.
 */
export function canonicalMeasurementKey(key: string): string {
  const lower = key.toLowerCase();
  return lower === 'rtt' ? 'timing.total' : lower;
}

const DERIVED_NONE = 0;
const DERIVED_HOPS = 1;
const DERIVED_RTT = 2;
const DERIVED_LOSS = 3;
type Derived = typeof DERIVED_NONE | typeof DERIVED_HOPS | typeof DERIVED_RTT | typeof DERIVED_LOSS;

interface CompiledKey {
  /** Lower-case key with `rtt` resolved, as template measurement maps are keyed. */
  readonly canonical: string;
  /** Path under Summary for default-JSON pushes; undefined for derived or unusable keys. */
  readonly summaryPath: CompiledPath | undefined;
  readonly derived: Derived;
}

const DERIVED_KEYS: ReadonlyMap<string, Derived> = new Map([
  ['traceroute.hops', DERIVED_HOPS],
  ['traceroute.rtt', DERIVED_RTT],
  ['traceroute.loss', DERIVED_LOSS],
]);

/** Config names a bounded set of keys; the bound only guards against a caller passing input. */
const MAX_CACHED_KEYS = 1024;
const keyCache = new Map<string, CompiledKey>();

function compileKey(key: string): CompiledKey {
  const canonical = canonicalMeasurementKey(key);
  const derived = DERIVED_KEYS.get(canonical) ?? DERIVED_NONE;
  // Capitalised hints match Catchpoint's spelling ('Timing', 'Total') without a key scan.
  const summaryPath = derived === DERIVED_NONE ? compilePath(canonical, true) : undefined;
  return { canonical, summaryPath, derived };
}

/** What readMeasurementOrInvalid returns for a value that is there but is not a number. */
export const NOT_A_NUMBER: unique symbol = Symbol('catchpoint-bridge.measurement.notANumber');

export function readMeasurement(push: CatchpointPush, key: string): number | undefined {
  const value = readMeasurementOrInvalid(push, key);
  return value === NOT_A_NUMBER ? undefined : value;
}

/** As readMeasurement, but a value that is present and not a number reads as NOT_A_NUMBER. */
export function readMeasurementOrInvalid(
  push: CatchpointPush,
  key: string,
): number | undefined | typeof NOT_A_NUMBER {
  let compiled = keyCache.get(key);
  if (compiled === undefined) {
    compiled = compileKey(key);
    if (keyCache.size < MAX_CACHED_KEYS) keyCache.set(key, compiled);
  }
  const template = push[kPushTemplate];
  if (template !== undefined) {
    const path = template.measurements.get(compiled.canonical);
    return path === undefined ? undefined : checked(resolvePath(push[kPushBody], path));
  }
  if (compiled.derived !== DERIVED_NONE) return readTraceroute(push[kPushBody], compiled.derived);
  if (compiled.summaryPath === undefined) return undefined;
  return checked(resolvePath(push[kPushSummary], compiled.summaryPath));
}

/** toMeasurement, telling a value that is not a number from one that is not there. */
function checked(value: unknown): number | undefined | typeof NOT_A_NUMBER {
  if (value === undefined || value === null) return undefined;
  const n = toMeasurement(value);
  if (n !== undefined) return n;
  return typeof value === 'string' && value.trim().length === 0 ? undefined : NOT_A_NUMBER;
}

// Strict decimal grammar: Number() alone would read '' and '  ' as 0 and '0x1f' as 31.
const NUMERIC = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const MAX_NUMERIC_TEXT = 64;

/**
 * A JSON value as a measurement: finite numbers as they are, booleans and .NET-style
 * "True"/"False" (any case, as templates render them) as 1/0, decimal strings as numbers, and
 * everything else (empty strings, objects, "NaN", "Infinity", 1e400) as undefined.
 */
export function toMeasurement(value: unknown): number | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : undefined;
    case 'string':
      return parseNumericText(value);
    case 'boolean':
      return value ? 1 : 0;
    default:
      return undefined;
  }
}

function parseNumericText(text: string): number | undefined {
  const length = text.length;
  if (length === 0 || length > MAX_NUMERIC_TEXT) return undefined;
  if (length === 4 && (text === 'True' || text === 'true' || text.toLowerCase() === 'true')) return 1;
  if (length === 5 && (text === 'False' || text === 'false' || text.toLowerCase() === 'false')) return 0;
  if (!NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

const HOPS_PATH = compilePath('Diagnostic.TraceRoute.Hops', true)!;
const RTTS_STEP = compilePath('RoundTripTimes', true)![0]!;

function readTraceroute(body: unknown, derived: Derived): number | undefined {
  const hops = resolvePath(body, HOPS_PATH);
  if (!Array.isArray(hops)) return undefined;
  if (derived === DERIVED_HOPS) return hops.length;
  if (hops.length === 0) return undefined;
  const probes = readStep(hops[hops.length - 1], RTTS_STEP);
  if (!Array.isArray(probes) || probes.length === 0) return undefined;
  let answered = 0;
  let sum = 0;
  for (let i = 0; i < probes.length; i++) {
    const rtt: unknown = probes[i];
    if (typeof rtt === 'number' && Number.isFinite(rtt)) {
      answered++;
      sum += rtt;
    }
  }
  if (derived === DERIVED_RTT) return answered === 0 ? undefined : sum / answered;
  const lost = probes.length - answered;
  return Math.round((lost * 100000) / probes.length) / 1000;
}
