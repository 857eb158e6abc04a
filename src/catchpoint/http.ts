/**
 * The one place the REST clients touch the network: CatchpointHttp, what both clients send their
 * requests through (base URL, a dispatcher of their own, an undici request with a deadline and a
 * capped JSON body, the 429 retries), and the mapping of HTTP outcomes to coded
 * CatchpointApiErrors.
 *
 * Credentials travel only in headers and request bodies, never in URLs, and no request header or
 * body ends up in an error. Text quoted from Catchpoint's answers is cut short and scrubbed of
 * the caller's secrets, in case an error page echoes the request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher, request } from 'undici';
import { hasCode } from '../shared/errors.ts';
import { CATCHPOINT_API_ERROR_CODES, CatchpointApiError, CatchpointConfigError } from './errors.ts';
import { isObject } from './path.ts';
import {
  DEFAULT_RATE_LIMIT_RETRY,
  parseRetryAfterMs,
  type RateLimitRetryOptions,
  retryRateLimited,
} from './rate-limit.ts';

/** What both REST clients (rest-v1.ts, rest-v2.ts) are configured with besides credentials. */
export interface RestClientOptions {
  /** e.g. https://io.catchpoint.com (the client appends the API's path). */
  baseURL: string;
  rateLimit?: Partial<RateLimitRetryOptions>;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
  maxResponseBytes?: number;
}

interface HttpSettings {
  dispatcher: Dispatcher;
  /** Deadline for one request, response body included. */
  timeoutMs: number;
  /** Larger bodies are refused (a node list is ~1 MB for thousands of nodes). */
  maxResponseBytes: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

const USER_AGENT = 'catchpoint-bridge';

/**
 * One REST client's way to Catchpoint: its base URL, a keep-alive dispatcher of its own (closed
 * with the client), the per-request deadline and body cap, and its 429 retry policy.
 */
export class CatchpointHttp {
  readonly #baseURL: string;
  readonly #retry: RateLimitRetryOptions;
  readonly #settings: HttpSettings;

  /** Throws CatchpointConfigError for a baseURL that is not an http(s) URL. */
  constructor(options: RestClientOptions) {
    this.#baseURL = checkBaseURL(options.baseURL);
    this.#retry = { ...DEFAULT_RATE_LIMIT_RETRY, ...options.rateLimit };
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#settings = {
      dispatcher: createDispatcher(timeoutMs),
      timeoutMs,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    };
  }

  /** The base URL + `path` (and `query`), keeping a path prefix of the base (see joinURL). */
  url(path: string, query?: Record<string, string>): URL {
    return joinURL(this.#baseURL, path, query);
  }

  /** One request (requestJson) with this client's dispatcher, deadline and body cap. */
  request(req: JsonRequest, signal?: AbortSignal): Promise<JsonResponse> {
    return requestJson(req, this.#settings, signal);
  }

  /** Runs `attempt`, retrying it on CPB_ERR_CATCHPOINT_RATE_LIMITED (retryRateLimited). */
  retryRateLimited<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retryRateLimited(attempt, this.#retry, signal);
  }

  close(): Promise<void> {
    return this.#settings.dispatcher.close();
  }
}

function createDispatcher(timeoutMs: number): Agent {
  return new Agent({
    keepAliveTimeout: 10_000,
    connect: { timeout: Math.min(timeoutMs, 10_000) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}

export interface JsonResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed body; undefined when it was empty or not JSON (see `invalidJson`). */
  json: unknown;
  invalidJson: boolean;
}

export interface JsonRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** What is being asked, for messages: 'v2 node list page 3'. */
  what: string;
}

/**
 * Sends one request and reads its body as JSON (whatever the status). Network failures and
 * timeouts become CPB_ERR_CATCHPOINT_UNAVAILABLE; aborting `signal` rejects with its reason.
 */
async function requestJson(
  req: JsonRequest,
  settings: HttpSettings,
  signal?: AbortSignal,
): Promise<JsonResponse> {
  const deadline = AbortSignal.timeout(settings.timeoutMs);
  const combined = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
  try {
    const res = await request(req.url, {
      method: req.method,
      headers: { 'user-agent': USER_AGENT, accept: 'application/json', ...req.headers },
      body: req.body,
      signal: combined,
      dispatcher: settings.dispatcher,
    });
    const text = await readCapped(res.body, settings.maxResponseBytes, req.what);
    let json: unknown;
    let invalidJson = false;
    if (text.trim().length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        // The parser's message quotes the body, which may hold a token: keep only the fact.
        invalidJson = true;
      }
    }
    return { status: res.statusCode, headers: res.headers, json, invalidJson };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (hasCode(err, ...CATCHPOINT_API_ERROR_CODES)) throw err;
    if (deadline.aborted) {
      throw new CatchpointApiError(
        'CPB_ERR_CATCHPOINT_UNAVAILABLE',
        `${req.what}: no answer within ${settings.timeoutMs} ms`,
        { cause: err },
      );
    }
    throw new CatchpointApiError('CPB_ERR_CATCHPOINT_UNAVAILABLE', `${req.what}: ${networkReason(err)}`, {
      cause: err,
    });
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) {
      body.destroy();
      throw new CatchpointApiError(
        'CPB_ERR_CATCHPOINT_BAD_RESPONSE',
        `${what}: response larger than ${max} bytes`,
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function networkReason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return 'request failed';
}

const QUOTE_MAX = 120;

/** Catchpoint's own explanation in an error body: v1 `{Message}`, v2 `{errors: [{message}]}`. */
function catchpointMessage(json: unknown): string | undefined {
  if (!isObject(json)) return undefined;
  if (typeof json.Message === 'string') return json.Message;
  if (typeof json.message === 'string') return json.message;
  if (typeof json.error_description === 'string') return json.error_description;
  if (typeof json.error === 'string') return json.error;
  if (Array.isArray(json.errors)) {
    const first: unknown = json.errors[0];
    if (isObject(first) && typeof first.message === 'string') return first.message;
  }
  return undefined;
}

/**
 * Catchpoint's explanation, scrubbed, as the tail of a message (': Expired token'); '' when the
 * body has none.
 */
export function catchpointSaid(json: unknown, secrets: readonly string[]): string {
  const said = catchpointMessage(json);
  return said === undefined ? '' : `: ${scrub(said, secrets)}`;
}

/** Cuts `text` short and replaces every secret in it, so it is safe in a message or a log. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    // Very short values would blank out ordinary words; credentials are never that short.
    if (secret.length >= 6) out = out.split(secret).join('[redacted]');
  }
  return out.length > QUOTE_MAX ? `${out.slice(0, QUOTE_MAX)}…` : out;
}

/**
 * The error for a non-2xx answer: 401/403 → AUTH, 429 → RATE_LIMITED (with Retry-After),
 * 408/5xx → UNAVAILABLE, anything else → BAD_RESPONSE.
 */
export function errorForStatus(
  res: JsonResponse,
  what: string,
  secrets: readonly string[],
): CatchpointApiError {
  const detail = catchpointSaid(res.json, secrets);
  const status = res.status;
  if (status === 401 || status === 403) {
    return new CatchpointApiError('CPB_ERR_CATCHPOINT_AUTH', `${what}: HTTP ${status}${detail}`, { status });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfterMs(res.headers['retry-after'], Date.now());
    return new CatchpointApiError('CPB_ERR_CATCHPOINT_RATE_LIMITED', `${what}: HTTP 429${detail}`, {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 408 || status >= 500) {
    return new CatchpointApiError('CPB_ERR_CATCHPOINT_UNAVAILABLE', `${what}: HTTP ${status}${detail}`, {
      status,
    });
  }
  return new CatchpointApiError('CPB_ERR_CATCHPOINT_BAD_RESPONSE', `${what}: HTTP ${status}${detail}`, {
    status,
  });
}

export function badResponse(what: string, reason: string, status?: number): CatchpointApiError {
  return new CatchpointApiError(
    'CPB_ERR_CATCHPOINT_BAD_RESPONSE',
    `${what}: ${reason}`,
    status === undefined ? {} : { status },
  );
}

/** `base` + `path`, keeping a path prefix of the base (a proxy mounted under /catchpoint). */
function joinURL(base: string, path: string, query?: Record<string, string>): URL {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  url.search = '';
  url.hash = '';
  if (query !== undefined) for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

/** http(s) URL without query or fragment, returned without a trailing slash. */
export function checkBaseURL(baseURL: string): string {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new CatchpointConfigError('Catchpoint baseURL is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CatchpointConfigError('Catchpoint baseURL must be http:// or https://');
  }
  return baseURL.replace(/\/+$/, '');
}
