/**
 * What an /api/put?details answer means for the request that got it, as OpenTSDB 2.x,
 * VictoriaMetrics and a TLS-terminating nginx answer:
 *
 *   204, or 200 with failed = 0             every point stored
 *   400/200 with {success, failed, errors}  only the listed points failed, the rest are stored
 *   400 whose message blames the body       the request was refused whole, nothing stored:
 *   (parse error, "Chunked request not      split it until the bad line or the size limit is
 *   supported.", too big), 413              isolated
 *   other 400s ("unexpected path", ...)     misconfiguration, not the data: resend later, loudly
 *                                           (rejecting points here would drop every point)
 *   400 "No required SSL certificate was    nginx in front wants a client certificate (its 496,
 *   sent" / "The SSL certificate error"     495 answered as 400): a TLS error, resend later
 *   400 "...timedout..." (sync_timeout)     storage did not confirm in time: resend later
 *   408, 429, 5xx                           the server cannot take data now: resend later
 *   anything else (401, 403, 404, 405, 3xx) misconfiguration: resend later, loudly
 */
import type { TlsFailure, TsdbErrorCode } from './errors.ts';

export interface PutPointError {
  /** The point as the server echoes it: OpenTSDB's IncomingDataPoint, value as a string. */
  datapoint: unknown;
  error: string;
}

export type PutVerdict =
  | { kind: 'ok' }
  | { kind: 'partial'; errors: PutPointError[]; failed: number }
  | { kind: 'refused'; reason: string }
  | { kind: 'retry'; code: TsdbErrorCode; reason: string; tlsFailure?: TlsFailure };

const OK: PutVerdict = { kind: 'ok' };

/**
 * Whole-request refusals caused by the body: OpenTSDB ("Unable to parse the given JSON", "The
 * JSON must start as...", "Chunked request not supported."), VictoriaMetrics ("cannot parse HTTP
 * OpenTSDB json", "too big HTTP OpenTSDB request"), InfluxDB ("json array decode error").
 */
const BODY_REFUSAL = /parse|decode|json|chunked|too (?:big|large|long)|exceed/i;

/** nginx's answers to a missing or unverifiable client certificate (`ssl_verify_client on`). */
const CLIENT_CERT_REFUSAL = /No required SSL certificate was sent|The SSL certificate error/;

function refusedOrMisconfigured(status: number, reason: string): PutVerdict {
  if (CLIENT_CERT_REFUSAL.test(reason)) {
    return { kind: 'retry', code: 'CPB_ERR_TSDB_TLS', reason, tlsFailure: 'client_certificate' };
  }
  if (status === 413 || BODY_REFUSAL.test(reason)) return { kind: 'refused', reason };
  return { kind: 'retry', code: 'CPB_ERR_TSDB_HTTP_STATUS', reason };
}
const MAX_REASON = 200;

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  const c = text.charCodeAt(0);
  if (c !== 0x7b && c !== 0x5b) return undefined; // not '{' or '[': HTML or plain text
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A short, single-line reason from any body: the OpenTSDB error message or the HTML's text. */
function bodyReason(status: number, text: string): string {
  const stripped = text
    .replace(/<(?:script|style)[\s\S]*?<\/(?:script|style)>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  // OpenTSDB's HTML error page repeats the message in an <h1>/<blockquote>; keep the known one.
  if (stripped.includes('Chunked request not supported')) return 'Chunked request not supported.';
  const short = stripped.length > MAX_REASON ? `${stripped.slice(0, MAX_REASON)}...` : stripped;
  return short.length > 0 ? `HTTP ${status}: ${short}` : `HTTP ${status}`;
}

function asErrors(v: unknown): PutPointError[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: PutPointError[] = [];
  for (const e of v) {
    if (typeof e !== 'object' || e === null) return undefined;
    const error = (e as { error?: unknown }).error;
    out.push({
      datapoint: (e as { datapoint?: unknown }).datapoint,
      error: typeof error === 'string' ? error : 'unknown error',
    });
  }
  return out;
}

function countOf(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function interpretPutResponse(status: number, text: string): PutVerdict {
  if (status === 204) return OK;
  if (status >= 200 && status < 300) {
    const body = parseJson(text) as Record<string, unknown> | undefined;
    if (body === undefined || typeof body !== 'object' || Array.isArray(body)) return OK;
    const failed = countOf(body.failed);
    if (failed === 0) return OK;
    // Only with ?sync: storage said no after validation passed ("Please throttle", HBase errors).
    const errors = asErrors(body.errors);
    if (errors === undefined || errors.length === 0) {
      return { kind: 'retry', code: 'CPB_ERR_TSDB_STORAGE', reason: `${failed} points failed in storage` };
    }
    return { kind: 'partial', errors, failed };
  }
  if (status === 400) {
    const body = parseJson(text);
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
      const o = body as Record<string, unknown>;
      if (countOf(o.timeouts) > 0) {
        return {
          kind: 'retry',
          code: 'CPB_ERR_TSDB_STORAGE',
          reason: `${countOf(o.timeouts)} writes timed out`,
        };
      }
      const errors = asErrors(o.errors);
      if (errors !== undefined) return { kind: 'partial', errors, failed: countOf(o.failed) };
      const error = o.error as { message?: unknown } | undefined;
      const message = typeof error?.message === 'string' ? error.message : undefined;
      if (message !== undefined) {
        if (message.includes('timedout') || message.includes('timed out')) {
          return { kind: 'retry', code: 'CPB_ERR_TSDB_STORAGE', reason: message };
        }
        return refusedOrMisconfigured(status, message);
      }
    }
    return refusedOrMisconfigured(status, bodyReason(status, text));
  }
  // A proxy's body-size limit: the request never reached the TSD.
  if (status === 413) return { kind: 'refused', reason: bodyReason(status, text) };
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', code: 'CPB_ERR_TSDB_UNAVAILABLE', reason: bodyReason(status, text) };
  }
  return { kind: 'retry', code: 'CPB_ERR_TSDB_HTTP_STATUS', reason: bodyReason(status, text) };
}

function canonicalValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    const n = Number(v);
    return v.trim().length > 0 && Number.isFinite(n) ? String(n) : v;
  }
  return String(v);
}

/**
 * A key equal for our line and the server's echo of it. The echo is OpenTSDB's
 * IncomingDataPoint: the value comes back as a string ("42", "1.5") and tags in HashMap order,
 * so values are compared as numbers and tags sorted.
 */
export function pointKey(p: unknown): string | undefined {
  if (typeof p !== 'object' || p === null) return undefined;
  const { metric, timestamp, value, tags } = p as Record<string, unknown>;
  let key = `${String(metric)}\u0000${String(timestamp)}\u0000${canonicalValue(value)}\u0000`;
  if (typeof tags === 'object' && tags !== null) {
    const keys = Object.keys(tags).sort();
    for (const k of keys) key += `${k}=${String((tags as Record<string, unknown>)[k])}\u0001`;
  }
  return key;
}

/**
 * For each reported error, the index (into `lines`) of the line it is about, or undefined when
 * any error cannot be matched: then the caller cannot tell which lines were stored and splits.
 * Identical lines are matched one error each.
 */
export function matchErrorsToLines(
  lines: readonly string[],
  start: number,
  end: number,
  errors: readonly PutPointError[],
): number[] | undefined {
  const byKey = new Map<string, number[]>();
  for (let i = start; i < end; i++) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[i] as string);
    } catch {
      continue;
    }
    const key = pointKey(parsed);
    if (key === undefined) continue;
    const slot = byKey.get(key);
    if (slot === undefined) byKey.set(key, [i]);
    else slot.push(i);
  }
  const out: number[] = [];
  for (const e of errors) {
    const key = pointKey(e.datapoint);
    const slot = key === undefined ? undefined : byKey.get(key);
    const index = slot?.shift();
    if (index === undefined) return undefined;
    out.push(index);
  }
  return out;
}
