/**
 * What the Bridge decided about a push or a hand-off, for the HTTP layer to turn into a reply.
 * Its own module so the accept pipeline and the hand-off reader share it without importing each
 * other.
 */
import type { PushOutcome } from './metrics.ts';

/** `reason` is safe to send to the client. */
export interface AcceptResult {
  status: 200 | 400 | 401 | 413 | 503;
  outcome: PushOutcome;
  code?: string;
  reason?: string;
  datapoints?: number;
}
