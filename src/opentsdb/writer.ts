import type { EncodedDatapoint } from './datapoint.ts';

/** A point the TSDB refused for good (validation); retrying it would only fail again. */
export interface RejectedDatapoint {
  line: EncodedDatapoint;
  error: string;
}

export interface WriteResult {
  /** Points the TSDB accepted (or, for fire-and-forget protocols, that were handed over). */
  written: number;
  rejected: RejectedDatapoint[];
}

/**
 * A TSDB writer takes one batch and either settles it (every point written or rejected for
 * good) or throws a retryable error, in which case nothing of the batch counts as delivered
 * and the caller sends it again later. Writers never queue: delivery and spooling are the
 * caller's job.
 */
export interface TsdbWriter {
  readonly endpoint: string;
  write(batch: readonly EncodedDatapoint[], signal?: AbortSignal): Promise<WriteResult>;
  close(): Promise<void>;
}
