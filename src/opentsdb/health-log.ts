/**
 * What the HTTP writer logs about its endpoint, each thing once rather than once per batch: a
 * warning when writes start failing and a line when they succeed again (the caller's retry loop
 * reports the failures in between), and an error, once per status, for an answer that points
 * at the configuration rather than at an outage.
 */
import type { Logger } from 'pino';
import { codeOf } from '../shared/errors.ts';

/** Distinct statuses remembered as logged; past this many, a new one is logged every time. */
const MAX_STATUSES = 32;

export class HealthLog {
  readonly #logger: Logger;
  readonly #endpoint: string;
  #healthy = true;
  readonly #statusesLogged = new Set<number>();

  constructor(logger: Logger, endpoint: string) {
    this.#logger = logger;
    this.#endpoint = endpoint;
  }

  /** A write threw: warns on the first failure after a success. */
  failing(err: unknown): void {
    if (!this.#healthy) return;
    this.#healthy = false;
    this.#logger.warn(
      {
        endpoint: this.#endpoint,
        code: codeOf(err),
        cause: codeOf((err as { cause?: unknown }).cause),
      },
      'TSDB endpoint is failing; batches will be retried',
    );
  }

  /** A write settled: says so when the endpoint was failing. */
  accepting(): void {
    if (this.#healthy) return;
    this.#healthy = true;
    this.#logger.info({ endpoint: this.#endpoint }, 'TSDB endpoint is accepting writes again');
  }

  /** A request's answer was "resend later" with this status. */
  status(status: number, reason: string): void {
    // 5xx/429 are routine during outages and reported by the caller's retry loop; a status that
    // means misconfiguration (401, 403, 404, ...) is logged once, loudly.
    if (status >= 500 || status === 429 || status === 408 || this.#statusesLogged.has(status)) return;
    if (this.#statusesLogged.size < MAX_STATUSES) this.#statusesLogged.add(status);
    this.#logger.error(
      { endpoint: this.#endpoint, status, reason },
      'TSDB answered with a status that points at the configuration (URL, path, credentials)',
    );
  }
}
