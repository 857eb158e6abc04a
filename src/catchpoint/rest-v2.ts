/**
 * Catchpoint REST API v2 node list (notes §11): a static API key (a JWT) as `Bearer`, and
 * `GET {baseURL}/api/v2/nodes/all?pageNumber=N&pageSize=100` looped while `data.hasMore`. Every
 * answer is wrapped in `{data, messages, errors, completed, traceId, usageLimits}`.
 *
 * A 429 is retried per page (Retry-After when sent, else backoff) so that one rate-limited page
 * does not throw away the pages already read; other failures end the listing and the caller
 * (the directory) retries the whole of it later.
 */

import { CatchpointConfigError } from './errors.ts';
import {
  badResponse,
  CatchpointHttp,
  catchpointSaid,
  errorForStatus,
  type RestClientOptions,
} from './http.ts';
import type { NodeInfo } from './node.ts';
import { mapV2Node } from './node-mapping.ts';
import { isObject } from './path.ts';

/** The API key and the paging knobs; the client appends /api/v2/... to baseURL. */
export interface RestV2Options extends RestClientOptions {
  apiKey: string;
  /** Nodes per page, at most 100 (the API's maximum). Default 100. */
  pageSize?: number;
  /** Safety stop for a server that always says hasMore. Default 1000 pages. */
  maxPages?: number;
}

const MAX_PAGE_SIZE = 100;

export class CatchpointV2Client {
  readonly #http: CatchpointHttp;
  readonly #apiKey: string;
  readonly #pageSize: number;
  readonly #maxPages: number;

  constructor(options: RestV2Options) {
    if (typeof options.apiKey !== 'string' || options.apiKey.length === 0) {
      throw new CatchpointConfigError('Catchpoint v2 needs a non-empty apiKey');
    }
    this.#http = new CatchpointHttp(options);
    this.#apiKey = options.apiKey;
    this.#pageSize = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.trunc(options.pageSize ?? MAX_PAGE_SIZE)));
    this.#maxPages = options.maxPages ?? 1000;
  }

  /** Every node visible to the key, all pages. */
  async fetchNodes(signal?: AbortSignal): Promise<NodeInfo[]> {
    const nodes: NodeInfo[] = [];
    for (let page = 1; page <= this.#maxPages; page++) {
      const data = await this.#http.retryRateLimited(() => this.#fetchPage(page, signal), signal);
      for (const item of data.nodes) {
        const node = mapV2Node(item);
        if (node !== undefined) nodes.push(node);
      }
      if (!data.hasMore || data.nodes.length === 0) return nodes;
    }
    throw badResponse('v2 node list', `still hasMore after ${this.#maxPages} pages`);
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  async #fetchPage(page: number, signal?: AbortSignal): Promise<{ nodes: unknown[]; hasMore: boolean }> {
    const what = `v2 node list page ${page}`;
    const res = await this.#http.request(
      {
        method: 'GET',
        url: this.#http.url('/api/v2/nodes/all', {
          pageNumber: String(page),
          pageSize: String(this.#pageSize),
        }),
        headers: { authorization: `Bearer ${this.#apiKey}` },
        what,
      },
      signal,
    );
    if (res.status < 200 || res.status > 299) throw errorForStatus(res, what, [this.#apiKey]);
    const envelope = res.json;
    if (!isObject(envelope)) throw badResponse(what, 'body is not a JSON object', res.status);
    if (envelope.completed === false) {
      const detail = catchpointSaid(envelope, [this.#apiKey]);
      throw badResponse(what, `answer says completed: false${detail}`, res.status);
    }
    const data = envelope.data;
    if (!isObject(data) || !Array.isArray(data.nodes)) {
      throw badResponse(what, 'no data.nodes array in the answer', res.status);
    }
    return { nodes: data.nodes, hasMore: data.hasMore === true };
  }
}
