/**
 * Dot paths into a parsed push body ('Summary.Timing.Total', 'resourceMetrics.0.resource'),
 * matched case-insensitively because Catchpoint's own casing is not a contract (macro names are
 * case-insensitive, template authors pick their own keys).
 *
 * A path is compiled once (config load, or first use of a measurement key) into steps. Each step
 * remembers the exact key it last matched (`hint`), so on the hot path a lookup is one own-property
 * read; only when the hint misses does it scan the object's keys, and then it learns the new
 * casing. The walkers are loops over a fixed, short list of steps: no recursion, so hostile
 * nesting cannot blow the stack.
 */

export interface PathStep {
  /** The segment in lower case, for case-insensitive comparison. */
  readonly lower: string;
  /** The key as last seen in a body (starts as a best guess); mutated when it misses. */
  hint: string;
  /** The segment as an array index, or -1 when it is not a canonical non-negative integer. */
  readonly index: number;
}

export type CompiledPath = readonly PathStep[];

/** Case-insensitive scans look at no more keys than this (Catchpoint objects have < 100). */
const MAX_SCAN_KEYS = 512;
const MAX_INDEX_DIGITS = 9;

/**
 * Compiles 'A.b.C' into steps, or returns undefined when the path has an empty segment or is
 * empty. `capitalize` seeds each hint with an upper-case first letter, which is how Catchpoint
 * spells its default-JSON keys ('timing.total' then hits 'Timing'/'Total' without a scan).
 */
export function compilePath(path: string, capitalize = false): CompiledPath | undefined {
  if (path.length === 0) return undefined;
  const segments = path.split('.');
  const steps: PathStep[] = [];
  for (const segment of segments) {
    if (segment.length === 0) return undefined;
    const hint = capitalize ? segment.charAt(0).toUpperCase() + segment.slice(1) : segment;
    steps.push({ lower: segment.toLowerCase(), hint, index: parseIndex(segment) });
  }
  return steps;
}

function parseIndex(segment: string): number {
  if (segment.length > MAX_INDEX_DIGITS) return -1;
  if (segment.length > 1 && segment.charCodeAt(0) === 48 /* '0' */) return -1;
  let n = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** True for a JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads one step from a container; undefined when absent or when `value` is not a container. */
export function readStep(value: unknown, step: PathStep): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    return step.index >= 0 && step.index < value.length ? value[step.index] : undefined;
  }
  const obj = value as Record<string, unknown>;
  // Own properties only: a key like 'constructor' must not reach Object.prototype.
  if (Object.hasOwn(obj, step.hint)) return obj[step.hint];
  const lower = step.lower;
  let scanned = 0;
  for (const key in obj) {
    if (++scanned > MAX_SCAN_KEYS) break;
    if (key.length === lower.length && key.toLowerCase() === lower) {
      step.hint = key;
      return obj[key];
    }
  }
  return undefined;
}

/** Follows every step from `root`; undefined as soon as one is missing. */
export function resolvePath(root: unknown, path: CompiledPath): unknown {
  let value = root;
  for (let i = 0; i < path.length; i++) {
    value = readStep(value, path[i]!);
    if (value === undefined) return undefined;
  }
  return value;
}
