/**
 * What to make of the error strings a TSDB gives back for single points: a small fixed set of
 * kinds (for counters and log-once keys; the raw strings carry names and values, which would
 * make unbounded label sets), whether a kind is worth retrying, and a logger that reports each
 * kind once per writer instead of once per point.
 */
import type { Logger } from 'pino';

export type RejectionKind =
  | 'unknown_metric'
  | 'empty_metric'
  | 'invalid_name'
  | 'missing_tags'
  | 'too_many_tags'
  | 'invalid_timestamp'
  | 'invalid_value'
  | 'line_too_long'
  | 'too_large'
  | 'malformed'
  | 'throttled'
  | 'storage'
  | 'timeout'
  | 'other';

export const REJECTION_KINDS: readonly RejectionKind[] = [
  'unknown_metric',
  'empty_metric',
  'invalid_name',
  'missing_tags',
  'too_many_tags',
  'invalid_timestamp',
  'invalid_value',
  'line_too_long',
  'too_large',
  'malformed',
  'throttled',
  'storage',
  'timeout',
  'other',
];

/** Maps a per-point error string (an /api/put details entry, a telnet error line) to its kind. */
export function classifyRejection(error: string): RejectionKind {
  // Ordered by how often each shows up; startsWith/includes only, no regex per point.
  if (error.startsWith('Unknown metric') || error.includes('No such name for')) return 'unknown_metric';
  if (error.startsWith('Invalid metric name') || error.startsWith('Invalid tag')) return 'invalid_name';
  if (
    error.startsWith('Unable to parse value') ||
    error.startsWith('value is NaN') ||
    error === 'Empty value'
  ) {
    return 'invalid_value';
  }
  if (
    error === 'Invalid timestamp' ||
    error.startsWith('bad timestamp') ||
    error.startsWith('negative timestamp')
  ) {
    return 'invalid_timestamp';
  }
  if (error === 'Missing tags' || error.startsWith('Need at least one tag')) return 'missing_tags';
  if (error.startsWith('Too many tags')) return 'too_many_tags';
  if (error === 'Metric name was empty') return 'empty_metric';
  if (error.startsWith('Please throttle') || error.startsWith('Throttling')) return 'throttled';
  if (error.startsWith('Storage exception') || error.startsWith('HBase')) return 'storage';
  if (error.startsWith('Timeout') || error.startsWith('Write timedout') || error.includes('timed out')) {
    return 'timeout';
  }
  if (error.startsWith('put line')) return 'line_too_long';
  if (error.startsWith('point larger than')) return 'too_large';
  if (error.startsWith('malformed')) return 'malformed';
  return 'other';
}

/** Kinds that say "the server could not take it now", not "this point is bad". */
export function isRetryableRejection(kind: RejectionKind): boolean {
  return kind === 'throttled' || kind === 'storage' || kind === 'timeout';
}

const MAX_REMEMBERED = 1024;

/**
 * Logs each rejection kind once (warn) and each unknown metric name once (error, with the fix),
 * remembering at most MAX_REMEMBERED metric names so a flood of new names cannot grow memory.
 */
export class RejectionLog {
  readonly #logger: Logger;
  readonly #endpoint: string;
  readonly #kindsSeen = new Set<RejectionKind>();
  readonly #unknownMetrics = new Set<string>();
  #unknownOverflowLogged = false;
  readonly counts: Record<RejectionKind, number>;

  constructor(logger: Logger, endpoint: string) {
    this.#logger = logger;
    this.#endpoint = endpoint;
    const counts = {} as Record<RejectionKind, number>;
    for (const kind of REJECTION_KINDS) counts[kind] = 0;
    this.counts = counts;
  }

  /** Records one refused point; logs the first of its kind. Returns the kind. */
  report(error: string, metric: string | undefined): RejectionKind {
    const kind = classifyRejection(error);
    this.counts[kind]++;
    if (kind === 'unknown_metric') {
      this.#unknownMetric(metric ?? '(unknown)', error);
    } else if (!this.#kindsSeen.has(kind)) {
      this.#kindsSeen.add(kind);
      this.#logger.warn(
        { endpoint: this.#endpoint, rejection: { kind, example: error, metric } },
        'TSDB refused a point (further refusals of this kind are counted, not logged)',
      );
    }
    return kind;
  }

  #unknownMetric(metric: string, error: string): void {
    if (this.#unknownMetrics.has(metric)) return;
    if (this.#unknownMetrics.size >= MAX_REMEMBERED) {
      if (!this.#unknownOverflowLogged) {
        this.#unknownOverflowLogged = true;
        this.#logger.error(
          { endpoint: this.#endpoint },
          `more than ${MAX_REMEMBERED} distinct metrics refused as unknown; further names are not logged`,
        );
      }
      return;
    }
    this.#unknownMetrics.add(metric);
    this.#logger.error(
      { endpoint: this.#endpoint, metric, error },
      'OpenTSDB refuses every point of this metric: it does not exist and tsd.core.auto_create_metrics is ' +
        "false. Set tsd.core.auto_create_metrics=true, or create it with 'tsdb mkmetric <name>' or " +
        'POST /api/uid/assign?metric=<name>; the points are dropped until then',
    );
  }
}
