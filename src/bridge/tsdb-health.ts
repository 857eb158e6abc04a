/**
 * The TSDB write failure going on now (status.bridge.tsdbError) and the count of TLS failures per
 * endpoint. Delivery reports every write attempt here; the status reporter reads `error`. It hangs
 * off BridgeMetrics, so the reporter reaches it through `bridge.metrics` like the other signals.
 * Nothing here carries secret material: writers' endpoints are redacted, and their messages name
 * codes and hosts, never credentials, certificates or keys.
 */
import type { Counter } from 'prom-client';
import { redactUrl } from '../opentsdb/endpoint.ts';

export interface TsdbErrorReport {
  endpoint: string;
  code: string;
  message: string;
  /** ISO time of the first failure in a row. */
  since: string;
}

/** What delivery knows of a failed write: any error a writer threw. */
interface WriteFailure {
  code?: unknown;
  message?: unknown;
  endpoint?: unknown;
  tlsFailure?: unknown;
  cause?: unknown;
}

const MAX_MESSAGE = 1024;

export class TsdbHealth {
  readonly #tlsErrors: Counter<'endpoint' | 'reason'>;
  #error: TsdbErrorReport | undefined;

  constructor(tlsErrors: Counter<'endpoint' | 'reason'>) {
    this.#tlsErrors = tlsErrors;
  }

  /** Undefined while writes succeed. */
  get error(): TsdbErrorReport | undefined {
    return this.#error;
  }

  succeeded(): void {
    this.#error = undefined;
  }

  /** `endpoint`: the writer's, for errors that do not name one. */
  failed(err: unknown, endpoint: string): void {
    // A failover writer's error holds one per endpoint (an AggregateError as its cause).
    const leaves = endpointErrors(err);
    for (const leaf of leaves) {
      if (leaf.code === 'CPB_ERR_TSDB_TLS') {
        this.#tlsErrors.inc({
          endpoint: redactEndpoints(typeof leaf.endpoint === 'string' ? leaf.endpoint : endpoint),
          reason: typeof leaf.tlsFailure === 'string' ? leaf.tlsFailure : 'handshake',
        });
      }
    }
    const source = leaves.length === 1 ? (leaves[0] as WriteFailure) : (err as WriteFailure);
    const message = leaves.map((e) => String(e.message ?? e)).join('; ');
    this.#error = {
      endpoint: redactEndpoints(typeof source.endpoint === 'string' ? source.endpoint : endpoint),
      code: typeof source.code === 'string' ? source.code : 'error',
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      since: this.#error?.since ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  }
}

function endpointErrors(err: unknown): WriteFailure[] {
  const cause = (err as WriteFailure | undefined)?.cause;
  if (cause instanceof AggregateError) return cause.errors as WriteFailure[];
  return [err as WriteFailure];
}

/** A writer's endpoint, or a failover writer's comma-separated list, without credentials or query. */
function redactEndpoints(endpoint: string): string {
  return endpoint
    .split(',')
    .map((e) => redactUrl(e))
    .join(',');
}
