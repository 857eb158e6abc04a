/** Means with a ± tolerance over repeated trials, and ratios between them. */

export interface Figure {
  mean: number;
  /** Half the spread of the trials (max − min) / 2; or a within-run spread for one trial. */
  tolerance: number;
  trials: number[];
}

/**
 * `values` from repeated trials. With a single trial, `singleTolerance` (e.g. the standard
 * deviation of its per-second samples) stands in for the spread.
 */
export function figure(values: number[], singleTolerance = 0): Figure {
  if (values.length === 0) return { mean: Number.NaN, tolerance: Number.NaN, trials: [] };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const tolerance = values.length === 1 ? singleTolerance : (Math.max(...values) - Math.min(...values)) / 2;
  return { mean, tolerance, trials: values };
}

export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}

export function percentileOf(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
