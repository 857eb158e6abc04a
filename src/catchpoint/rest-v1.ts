/**
 * Catchpoint REST API v1 node list (notes §10): OAuth2 client credentials, then
 * `GET {baseURL}/ui/api/v1/nodes` with the access token as `Bearer`.
 *
 * Token handling:
 *  - `POST {baseURL}/ui/api/token` (form-encoded grant_type=client_credentials) → access_token,
 *    expires_in (1800 s in practice). The token is reused and renewed shortly before it expires
 *    (a tenth of its lifetime early, at most 60 s), one request at a time.
 *  - Catchpoint may still call it expired (clock skew, revocation): `{"Message":"Expired token"}`,
 *    with 401 or, per older clients, even with 200. Then the client fetches a new token and
 *    repeats the request, once.
 *  - The bearer value was historically base64(token); Catchpoint's 2021+ scripts send it raw.
 *    'raw' and 'base64' force one form; 'auto' tries the form that worked last (raw at first)
 *    and on a rejection tries the other, then keeps whichever worked.
 *  - A rejection in every form gets one fresh token before the error goes up, since v1 has also
 *    been seen answering "Invalid token" for expired ones.
 *
 * The v1 list is not known to page (the seed read it whole); should an answer say `has_more`,
 * the next `pageNumber` is requested until a page adds no new node.
 */

import { CatchpointApiError, CatchpointConfigError } from './errors.ts';
import {
  badResponse,
  CatchpointHttp,
  catchpointSaid,
  errorForStatus,
  type JsonResponse,
  type RestClientOptions,
} from './http.ts';
import type { NodeInfo } from './node.ts';
import { mapV1Node } from './node-mapping.ts';
import { isObject } from './path.ts';

export type V1BearerEncoding = 'auto' | 'raw' | 'base64';

/** The OAuth client credentials and the v1 knobs; the client appends /ui/api/... to baseURL. */
export interface RestV1Options extends RestClientOptions {
  clientId: string;
  clientSecret: string;
  /** Default 'auto'. */
  bearerEncoding?: V1BearerEncoding;
  /** Clock for token expiry, epoch ms. Default Date.now. */
  now?: () => number;
  /** Safety stop should the server keep saying has_more. Default 100 pages. */
  maxPages?: number;
}

interface Token {
  value: string;
  /** When we stop using it (epoch ms): a little before Catchpoint's expiry. */
  renewAt: number;
}

const DEFAULT_LIFETIME_S = 1800;
const MAX_RENEW_EARLY_MS = 60_000;

type AuthProblem = 'expired' | 'rejected' | undefined;

export class CatchpointV1Client {
  readonly #http: CatchpointHttp;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #mode: V1BearerEncoding;
  readonly #now: () => number;
  readonly #maxPages: number;
  #encoding: 'raw' | 'base64';
  #token: Token | undefined;
  #tokenRequest: Promise<Token> | undefined;

  constructor(options: RestV1Options) {
    if (typeof options.clientId !== 'string' || options.clientId.length === 0) {
      throw new CatchpointConfigError('Catchpoint v1 needs a non-empty clientId');
    }
    if (typeof options.clientSecret !== 'string' || options.clientSecret.length === 0) {
      throw new CatchpointConfigError('Catchpoint v1 needs a non-empty clientSecret');
    }
    const mode = options.bearerEncoding ?? 'auto';
    if (mode !== 'auto' && mode !== 'raw' && mode !== 'base64') {
      throw new CatchpointConfigError("v1 bearer encoding must be 'auto', 'raw' or 'base64'");
    }
    this.#http = new CatchpointHttp(options);
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#mode = mode;
    this.#encoding = mode === 'base64' ? 'base64' : 'raw';
    this.#now = options.now ?? Date.now;
    this.#maxPages = options.maxPages ?? 100;
  }

  /** The bearer form in use: the configured one, or in 'auto' the one that last worked. */
  get bearerEncoding(): 'raw' | 'base64' {
    return this.#encoding;
  }

  async fetchNodes(signal?: AbortSignal): Promise<NodeInfo[]> {
    const nodes = new Map<string, NodeInfo>();
    for (let page = 1; page <= this.#maxPages; page++) {
      const what = page === 1 ? 'v1 node list' : `v1 node list page ${page}`;
      const url = this.#http.url('/ui/api/v1/nodes', page === 1 ? undefined : { pageNumber: String(page) });
      const res = await this.#authorizedGet(url, what, signal);
      const json = res.json;
      const items = Array.isArray(json) ? json : isObject(json) ? json.items : undefined;
      if (!Array.isArray(items)) throw badResponse(what, 'no items array in the answer', res.status);
      const before = nodes.size;
      for (const item of items) {
        const node = mapV1Node(item);
        if (node !== undefined) nodes.set(node.id, node);
      }
      const hasMore = isObject(json) && json.has_more === true;
      if (!hasMore || nodes.size === before) break;
    }
    return [...nodes.values()];
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  /** GET with the bearer token, handling expiry, the encoding quirk and 429s (see the top). */
  async #authorizedGet(url: URL, what: string, signal?: AbortSignal): Promise<JsonResponse> {
    let encoding = this.#encoding;
    let triedOther = false;
    let renewed = false;
    for (;;) {
      const token = await this.#getToken(signal);
      const res = await this.#http.retryRateLimited(
        () => this.#get(url, token, encoding, what, signal),
        signal,
      );
      const problem = authProblem(res);
      if (problem === undefined) {
        if (res.status < 200 || res.status > 299) throw errorForStatus(res, what, this.#secrets(token));
        this.#encoding = encoding;
        return res;
      }
      if (problem === 'rejected' && this.#mode === 'auto' && !triedOther) {
        encoding = encoding === 'raw' ? 'base64' : 'raw';
        triedOther = true;
        continue;
      }
      if (!renewed) {
        this.#dropToken(token);
        renewed = true;
        triedOther = false;
        encoding = this.#encoding;
        continue;
      }
      throw new CatchpointApiError(
        'CPB_ERR_CATCHPOINT_AUTH',
        `${what}: token refused (HTTP ${res.status}${catchpointSaid(res.json, this.#secrets(token))})`,
        { status: res.status },
      );
    }
  }

  async #get(
    url: URL,
    token: string,
    encoding: 'raw' | 'base64',
    what: string,
    signal?: AbortSignal,
  ): Promise<JsonResponse> {
    const bearer = encoding === 'base64' ? Buffer.from(token, 'utf8').toString('base64') : token;
    const res = await this.#http.request(
      { method: 'GET', url, headers: { authorization: `Bearer ${bearer}` }, what },
      signal,
    );
    if (res.status === 429) throw errorForStatus(res, what, this.#secrets(token));
    return res;
  }

  async #getToken(signal?: AbortSignal): Promise<string> {
    const current = this.#token;
    if (current !== undefined && this.#now() < current.renewAt) return current.value;
    this.#tokenRequest ??= this.#http
      .retryRateLimited(() => this.#requestToken(signal), signal)
      .finally(() => {
        this.#tokenRequest = undefined;
      });
    const token = await this.#tokenRequest;
    this.#token = token;
    return token.value;
  }

  #dropToken(value: string): void {
    if (this.#token?.value === value) this.#token = undefined;
  }

  async #requestToken(signal?: AbortSignal): Promise<Token> {
    const what = 'v1 token request';
    const requestedAt = this.#now();
    const res = await this.#http.request(
      {
        method: 'POST',
        url: this.#http.url('/ui/api/token'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: this.#clientId,
          client_secret: this.#clientSecret,
        }).toString(),
        what,
      },
      signal,
    );
    // OAuth servers answer bad client credentials with 400 (invalid_client) as often as 401.
    if (res.status === 400) throw errorForStatus({ ...res, status: 401 }, what, this.#secrets());
    if (res.status < 200 || res.status > 299) throw errorForStatus(res, what, this.#secrets());
    const json = res.json;
    if (!isObject(json) || typeof json.access_token !== 'string' || json.access_token.length === 0) {
      throw badResponse(what, 'no access_token in the answer', res.status);
    }
    const lifetimeMs = lifetimeSeconds(json.expires_in) * 1000;
    const early = Math.min(MAX_RENEW_EARLY_MS, lifetimeMs / 10);
    return { value: json.access_token, renewAt: requestedAt + lifetimeMs - early };
  }

  #secrets(token?: string): string[] {
    return token === undefined
      ? [this.#clientSecret, this.#clientId]
      : [this.#clientSecret, this.#clientId, token];
  }
}

function lifetimeSeconds(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_LIFETIME_S;
}

const EXPIRED = /expired/i;

/** Whether an answer says the token is no good: v1 speaks through `{"Message": ...}`. */
function authProblem(res: JsonResponse): AuthProblem {
  const json = res.json;
  const message = isObject(json) && typeof json.Message === 'string' ? json.Message : undefined;
  if (res.status === 401) return message !== undefined && EXPIRED.test(message) ? 'expired' : 'rejected';
  if (res.status >= 200 && res.status <= 299 && message !== undefined && !Array.isArray(json)) {
    const listed = isObject(json) && Array.isArray(json.items);
    if (!listed) return EXPIRED.test(message) ? 'expired' : 'rejected';
  }
  return undefined;
}
