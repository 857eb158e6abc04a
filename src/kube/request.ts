/**
 * The one HTTP path to the API server for this package: raw JSON in and out, undici underneath.
 *
 * Why not client-node's typed clients: they deserialise into model classes (unknown fields dropped,
 * dates turned into Date), pick the wrong PATCH content type by default, cannot send the
 * PartialObjectMetadata Accept header, and build a fresh undici Agent (new TLS handshake) per
 * request. We still let client-node do what it does well: `applySecurityAuthentication` gives the
 * exact headers (bearer token re-read from the token file, exec/OIDC plugins, basic auth,
 * impersonation) and dispatcher (CA, client certificate, proxy) its own clients would use.
 */
import type { Readable } from 'node:stream';
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, request } from 'undici';
import { codesOf, hasCode, KUBE_ERRORS } from '../shared/errors.ts';
import { KubeApiError, KubeError, parseStatus } from './errors.ts';

export type KubeMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequestOptions {
  method?: KubeMethod;
  /** API path from the server root, e.g. `/api/v1/namespaces/ns/secrets`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Default `application/json`. */
  accept?: string;
  /** Default `application/json` when there is a body. */
  contentType?: string;
  /** Serialised as JSON (which is also valid YAML, so it serves apply-patch+yaml too). */
  body?: unknown;
  signal?: AbortSignal;
  /** Whole-request limit for JSON requests, default 30 s. Streams use `headersTimeoutMs` only. */
  timeoutMs?: number;
}

export interface KubeStreamOptions extends Omit<KubeRequestOptions, 'timeoutMs' | 'body' | 'contentType'> {
  /** Limit until the response headers arrive, default 30 s; the body may then stay open forever. */
  headersTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const KUBE_ERROR_CODES = codesOf(KUBE_ERRORS);

/** Sends a request and parses the JSON answer; any non-2xx becomes a KubeApiError. */
export async function kubeRequest<T>(kc: KubeConfig, options: KubeRequestOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  const label = `${method} ${options.path}`;
  try {
    const response = await send(kc, { ...options, method }, headers, body, signal, {});
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw apiError(label, response.statusCode, response.headers, text);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      // Never put the text in the message: it may be a Secret.
      throw new KubeError('CPB_ERR_KUBE_BAD_RESPONSE', `${label}: answer is not JSON (${text.length} bytes)`);
    }
  } catch (err) {
    throw classify(err, label, options.signal, timeout, `timed out after ${timeoutMs} ms`);
  }
}

/**
 * Opens a streaming GET (a watch) and returns its body once the server answered 2xx. The caller
 * owns the stream: it ends when the server closes it or when `signal` aborts.
 */
export async function kubeStream(kc: KubeConfig, options: KubeStreamOptions): Promise<Readable> {
  const headersTimeout = options.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const label = `GET ${options.path}`;
  const headers = { accept: options.accept ?? 'application/json' };
  try {
    const response = await send(kc, { ...options, method: 'GET' }, headers, undefined, options.signal, {
      headersTimeout,
      // Silence on a watch is normal; the informer has its own watchdog.
      bodyTimeout: 0,
    });
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw apiError(label, response.statusCode, response.headers, await response.body.text());
    }
    return response.body;
  } catch (err) {
    throw classify(err, label, options.signal, undefined, `no response headers within ${headersTimeout} ms`);
  }
}

/** Builds the URL for a path and query against the current cluster (servers may carry a path prefix). */
export function kubeUrl(kc: KubeConfig, path: string, query: KubeRequestOptions['query'] = {}): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('CPB_ERR_KUBE_BAD_OPTIONS', 'the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url;
}

async function send(
  kc: KubeConfig,
  options: KubeRequestOptions & { method: KubeMethod },
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal | undefined,
  timeouts: { headersTimeout?: number; bodyTimeout?: number },
): Promise<Dispatcher.ResponseData> {
  const url = kubeUrl(kc, options.path, options.query);
  const ctx = new RequestContext(url.toString(), HttpMethod[options.method]);
  await kc.applySecurityAuthentication(ctx);
  return request(url, {
    method: options.method,
    headers: { ...ctx.getHeaders(), ...headers },
    body: body ?? null,
    signal: signal ?? null,
    dispatcher: dispatcherFor(kc, ctx),
    ...timeouts,
  });
}

// One dispatcher (connection pool) per kubeconfig and cluster/user pair. client-node hands out a new
// Agent on every applySecurityAuthentication call; we keep the first so connections are reused
// (the spares are never connected, so dropping them leaks nothing). The cache key follows context
// switches; a rotated client certificate file needs a new KubeConfig (tokens rotate per request).
const dispatchers = new WeakMap<KubeConfig, Map<string, Dispatcher | undefined>>();

function dispatcherFor(kc: KubeConfig, ctx: RequestContext): Dispatcher | undefined {
  let byKey = dispatchers.get(kc);
  if (byKey === undefined) {
    byKey = new Map();
    dispatchers.set(kc, byKey);
  }
  const cluster = kc.getCurrentCluster();
  const key = JSON.stringify([
    kc.getCurrentContext(),
    cluster?.name,
    cluster?.server,
    kc.getCurrentUser()?.name,
  ]);
  if (!byKey.has(key)) byKey.set(key, ctx.getDispatcher());
  return byKey.get(key);
}

function apiError(
  label: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): KubeApiError {
  const parsed = parseStatus(text);
  return new KubeApiError({
    statusCode: status,
    request: label,
    status: parsed,
    retryAfterMs: retryAfterMs(headers['retry-after'], parsed?.details?.retryAfterSeconds),
  });
}

function retryAfterMs(
  header: string | string[] | undefined,
  seconds: number | undefined,
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const fromHeader = value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
  const chosen = fromHeader ?? seconds;
  return chosen !== undefined && chosen >= 0 ? chosen * 1000 : undefined;
}

/** Maps whatever undici threw to our coded errors, keeping the original as `cause`. */
function classify(
  err: unknown,
  label: string,
  callerSignal: AbortSignal | undefined,
  timeout: AbortSignal | undefined,
  timeoutText: string,
): unknown {
  if (hasCode(err, ...KUBE_ERROR_CODES)) return err;
  if (callerSignal?.aborted) {
    // A caller's AbortSignal.timeout() is a deadline, not a cancellation.
    const reason = callerSignal.reason as { name?: unknown } | undefined;
    if (reason?.name === 'TimeoutError') {
      return new KubeError('CPB_ERR_KUBE_UNAVAILABLE', `${label}: caller's deadline passed`, { cause: err });
    }
    return new KubeError('CPB_ERR_KUBE_ABORTED', `${label}: aborted`, { cause: err });
  }
  if (timeout?.aborted) {
    return new KubeError('CPB_ERR_KUBE_UNAVAILABLE', `${label}: ${timeoutText}`, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new KubeError('CPB_ERR_KUBE_UNAVAILABLE', `${label}: ${timeoutText}`, { cause: err });
  }
  return new KubeError('CPB_ERR_KUBE_UNAVAILABLE', `${label}: ${detail}`, { cause: err });
}
