/**
 * A stand-in for Catchpoint's REST API (its cloud is unreachable from tests), serving the shapes
 * recorded in docs/catchpoint.md §10–§11 on 127.0.0.1, port 0:
 *
 *  - v1: `POST /ui/api/token` (form-encoded client_credentials → access_token, expires_in) and
 *    `GET /ui/api/v1/nodes` (`{items, has_more, page_number}`, snake_case items). The bearer is
 *    accepted raw, base64-encoded, or both (configurable); tokens expire (after their lifetime,
 *    or at once through expireTokens()) and are then answered 401 `{"Message":"Expired token"}`;
 *    an unknown bearer gets 401 `{"Message":"Invalid token"}`.
 *  - v2: `GET /api/v2/nodes/all?pageNumber=&pageSize=` with `Bearer <apiKey>`, pageSize ≤ 100,
 *    answers in the `{data, messages, errors, completed, traceId, usageLimits}` envelope with
 *    `data: {nodes, hasMore, next, previous}` (camelCase PublicNodeModel items).
 *  - Faults for the next N requests (optionally of one endpoint): 429 with or without
 *    Retry-After, an outage as an HTML 503 (or any status) or a destroyed connection.
 *  - Counters per endpoint and a log of every request (with its Authorization header, so tests
 *    can see which bearer form a client sent).
 *
 * The default node list (generateNodes) is deterministic: 260 nodes over 40+ cities in 30+
 * countries on every continent but Antarctica, 24 ISPs/ASNs, including the nodes of the fixture
 * pushes (312 "Jinan, CN - Unicom", 540 "Frankfurt, DE - AWS") and of the v1 sample item
 * (1 "Las Vegas, US - Level3").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { type FastifyRequest } from 'fastify';

export type FakeEndpoint = 'token' | 'v1-nodes' | 'v2-nodes';

export interface FakeNode {
  id: number;
  name: string;
  city: string;
  cityId: number;
  region: string;
  regionId: number;
  countryCode: string;
  /** Country name as Catchpoint writes it. */
  country: string;
  countryId: number;
  continent: string;
  continentId: number;
  isp: string;
  ispId: number;
  asn: number;
  asName: string;
  networkType: { id: number; name: string };
  status: { id: number; name: string };
  ipRanges: string;
  latitude: number;
  longitude: number;
}

export interface FakeV1Options {
  clientId: string;
  clientSecret: string;
  /** Which bearer form /ui/api/v1/nodes accepts. Default 'raw'. */
  bearerEncoding: 'raw' | 'base64' | 'both';
  /** expires_in sent with each token, and how long it really lasts. Default 1800. */
  tokenLifetimeSec: number;
  /** Page the v1 list (has_more/page_number, ?pageNumber=) with this size; unset: one page. */
  pageSize: number | undefined;
}

export interface FakeV2Options {
  apiKey: string;
}

export interface FakeCatchpointOptions {
  nodes?: FakeNode[];
  v1?: Partial<FakeV1Options>;
  v2?: Partial<FakeV2Options>;
  /** Address to listen on; default 127.0.0.1 (a real node's pods use the node's address). */
  host?: string;
}

export interface FakeFaults {
  /** The next `count` matching requests get 429, with `Retry-After: retryAfterSec` if set. */
  rateLimit?: { count: number; retryAfterSec?: number; endpoint?: FakeEndpoint };
  /**
   * The next `count` matching requests (Infinity: until cleared) fail: 'status' answers an HTML
   * page with `status` (default 503), 'destroy' closes the connection without an answer.
   */
  outage?: { count: number; mode: 'status' | 'destroy'; status?: number; endpoint?: FakeEndpoint };
}

export interface FakeRequestRecord {
  endpoint: FakeEndpoint | 'other';
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  /** HTTP status answered, or 'destroyed'. */
  status: number | 'destroyed' | undefined;
}

export interface FakeRequestCounters {
  token: number;
  v1Nodes: number;
  v2Nodes: number;
  total: number;
}

export interface FakeCatchpoint {
  /** Base URL to give the client, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The node list served (replace it with setNodes). */
  readonly nodes: readonly FakeNode[];
  readonly requests: FakeRequestCounters;
  readonly log: readonly FakeRequestRecord[];
  readonly v1: Readonly<FakeV1Options>;
  readonly v2: Readonly<FakeV2Options>;
  setFaults(faults: FakeFaults): void;
  clearFaults(): void;
  setNodes(nodes: FakeNode[]): void;
  /** Rotates credentials / changes behaviour; tokens already issued stay valid. */
  setV1(options: Partial<FakeV1Options>): void;
  setV2(options: Partial<FakeV2Options>): void;
  /** Every token issued so far is expired from now on. */
  expireTokens(): void;
  /** Number of tokens issued. */
  readonly tokensIssued: number;
  resetRequests(): void;
  close(): Promise<void>;
}

export const FAKE_V1_CLIENT_ID = 'cp-fake-client-7f3a';
export const FAKE_V1_CLIENT_SECRET = 'cp-fake-secret-5b9e1c2d8a7f4e6b';
export const FAKE_V2_API_KEY = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLWNvbnN1bWVyIn0.c2lnbmF0dXJlLWZha2U';

const V2_MAX_PAGE_SIZE = 100;

export async function startFakeCatchpoint(options: FakeCatchpointOptions = {}): Promise<FakeCatchpoint> {
  let nodes: FakeNode[] = options.nodes ?? generateNodes();
  const v1: FakeV1Options = {
    clientId: FAKE_V1_CLIENT_ID,
    clientSecret: FAKE_V1_CLIENT_SECRET,
    bearerEncoding: 'raw',
    tokenLifetimeSec: 1800,
    pageSize: undefined,
    ...options.v1,
  };
  const v2: FakeV2Options = { apiKey: FAKE_V2_API_KEY, ...options.v2 };
  let faults: FakeFaults = {};
  const requests: FakeRequestCounters = { token: 0, v1Nodes: 0, v2Nodes: 0, total: 0 };
  const log: FakeRequestRecord[] = [];
  const records = new WeakMap<FastifyRequest, FakeRequestRecord>();
  /** token → expiry (epoch ms). */
  const tokens = new Map<string, number>();
  let tokensIssued = 0;
  const usage = { minute: 0, hour: 0, day: 0 };

  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onRequest', (request, reply, done) => {
    const url = new URL(request.url, 'http://fake');
    const endpoint = endpointOf(request.method, url.pathname);
    const record: FakeRequestRecord = {
      endpoint,
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: request.headers.authorization,
      status: undefined,
    };
    log.push(record);
    records.set(request, record);
    requests.total++;
    if (endpoint === 'token') requests.token++;
    else if (endpoint === 'v1-nodes') requests.v1Nodes++;
    else if (endpoint === 'v2-nodes') requests.v2Nodes++;

    const outage = faults.outage;
    if (outage !== undefined && outage.count > 0 && matches(outage.endpoint, endpoint)) {
      outage.count--;
      if (outage.mode === 'destroy') {
        record.status = 'destroyed';
        reply.hijack();
        request.raw.socket.destroy();
        return;
      }
      reply
        .code(outage.status ?? 503)
        .type('text/html')
        .send('<html><body><h1>503 Service Unavailable</h1></body></html>');
      return;
    }
    const limit = faults.rateLimit;
    if (limit !== undefined && limit.count > 0 && matches(limit.endpoint, endpoint)) {
      limit.count--;
      if (limit.retryAfterSec !== undefined) reply.header('retry-after', String(limit.retryAfterSec));
      const message = 'API rate limit exceeded';
      reply.code(429).send(endpoint === 'v2-nodes' ? envelope(null, [message]) : { Message: message });
      return;
    }
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const record = records.get(request);
    if (record !== undefined && record.status === undefined) record.status = reply.statusCode;
    done();
  });

  app.post('/ui/api/token', async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, string>;
    if (form.grant_type !== 'client_credentials') {
      return reply.code(400).send({ error: 'unsupported_grant_type' });
    }
    if (form.client_id !== v1.clientId || form.client_secret !== v1.clientSecret) {
      return reply.code(401).send({ error: 'invalid_client', Message: 'Invalid client credentials' });
    }
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, Date.now() + v1.tokenLifetimeSec * 1000);
    tokensIssued++;
    return { access_token: token, token_type: 'bearer', expires_in: v1.tokenLifetimeSec };
  });

  app.get('/ui/api/v1/nodes', async (request, reply) => {
    const header = request.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) {
      return reply.code(401).send({ Message: 'Authorization has been denied for this request.' });
    }
    const token = acceptedToken(header.slice('Bearer '.length), v1.bearerEncoding, tokens);
    if (token === undefined) return reply.code(401).send({ Message: 'Invalid token' });
    if ((tokens.get(token) ?? 0) <= Date.now()) return reply.code(401).send({ Message: 'Expired token' });
    const query = request.query as Record<string, string | undefined>;
    if (v1.pageSize === undefined) {
      return { items: nodes.map(renderV1), has_more: false, page_number: 1 };
    }
    const page = Math.max(1, Number(query.pageNumber ?? '1') || 1);
    const slice = nodes.slice((page - 1) * v1.pageSize, page * v1.pageSize);
    return { items: slice.map(renderV1), has_more: page * v1.pageSize < nodes.length, page_number: page };
  });

  app.get('/api/v2/nodes/all', async (request, reply) => {
    if (request.headers.authorization !== `Bearer ${v2.apiKey}`) {
      return reply.code(401).send(envelope(null, ['Unauthorized']));
    }
    const query = request.query as Record<string, string | undefined>;
    const pageNumber = Number(query.pageNumber ?? '1');
    const pageSize = Number(query.pageSize ?? String(V2_MAX_PAGE_SIZE));
    if (!Number.isInteger(pageNumber) || pageNumber < 1) {
      return reply.code(400).send(envelope(null, ['pageNumber must be a positive integer']));
    }
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > V2_MAX_PAGE_SIZE) {
      return reply.code(400).send(envelope(null, [`pageSize must be between 1 and ${V2_MAX_PAGE_SIZE}`]));
    }
    usage.minute++;
    usage.hour++;
    usage.day++;
    const slice = nodes.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    const hasMore = pageNumber * pageSize < nodes.length;
    const link = (n: number) => `/api/v2/nodes/all?pageNumber=${n}&pageSize=${pageSize}`;
    return envelope(
      {
        nodes: slice.map(renderV2),
        hasMore,
        next: hasMore ? link(pageNumber + 1) : null,
        previous: pageNumber > 1 ? link(pageNumber - 1) : null,
      },
      [],
      usage,
    );
  });

  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fake Catchpoint has no TCP address');

  return {
    url: `http://${host}:${address.port}`,
    get nodes() {
      return nodes;
    },
    requests,
    log,
    v1,
    v2,
    get tokensIssued() {
      return tokensIssued;
    },
    setFaults(next) {
      faults = { ...next };
    },
    clearFaults() {
      faults = {};
    },
    setNodes(next) {
      nodes = next;
    },
    setV1(next) {
      Object.assign(v1, next);
    },
    setV2(next) {
      Object.assign(v2, next);
    },
    expireTokens() {
      for (const token of tokens.keys()) tokens.set(token, 0);
    },
    resetRequests() {
      requests.token = 0;
      requests.v1Nodes = 0;
      requests.v2Nodes = 0;
      requests.total = 0;
      log.length = 0;
    },
    async close() {
      await app.close();
    },
  };
}

function endpointOf(method: string, path: string): FakeEndpoint | 'other' {
  if (method === 'POST' && path === '/ui/api/token') return 'token';
  if (method === 'GET' && path === '/ui/api/v1/nodes') return 'v1-nodes';
  if (method === 'GET' && path === '/api/v2/nodes/all') return 'v2-nodes';
  return 'other';
}

function matches(wanted: FakeEndpoint | undefined, endpoint: FakeEndpoint | 'other'): boolean {
  return wanted === undefined || wanted === endpoint;
}

/** The token a bearer value stands for under the accepted encoding(s), if it is one we issued. */
function acceptedToken(
  bearer: string,
  encoding: FakeV1Options['bearerEncoding'],
  tokens: ReadonlyMap<string, number>,
): string | undefined {
  if ((encoding === 'raw' || encoding === 'both') && tokens.has(bearer)) return bearer;
  if (encoding === 'base64' || encoding === 'both') {
    const decoded = Buffer.from(bearer, 'base64').toString('utf8');
    // Only a canonical encoding counts, so a raw token is never mistaken for base64.
    if (Buffer.from(decoded, 'utf8').toString('base64') === bearer && tokens.has(decoded)) return decoded;
  }
  return undefined;
}

function envelope(data: unknown, errors: string[], usage?: { minute: number; hour: number; day: number }) {
  return {
    data,
    messages: [],
    errors: errors.map((message, i) => ({ id: String(i + 1), message })),
    completed: errors.length === 0,
    traceId: randomUUID(),
    usageLimits:
      usage === undefined
        ? null
        : {
            clientId: 22,
            lastRequestTimestamp: new Date().toISOString(),
            limits: { minute: 20, hour: 500, day: 2000 },
            runs: { ...usage },
            exceededMessage: null,
            divisionUsageStatistics: [],
          },
  };
}

/** A node as /ui/api/v1/nodes lists it (CP-NSM's fixture item, notes §10.4). */
export function renderV1(node: FakeNode): Record<string, unknown> {
  return {
    id: node.id,
    name: node.name,
    status: node.status,
    network_type: node.networkType,
    ip_ranges: node.ipRanges,
    isp: { id: node.ispId, name: node.isp },
    asn: { value: `AS${node.asn}`, name: node.asName },
    city: { id: node.cityId, name: node.city },
    region: { id: node.regionId, name: node.region },
    country: { id: node.countryId, name: node.country },
    continent: { id: node.continentId, name: node.continent },
    targeted: true,
    coordinates: { latitude: node.latitude, longitude: node.longitude },
  };
}

/** A node as /api/v2/nodes/all lists it (PublicNodeModel, notes §11.2): no region/continent/ISP. */
export function renderV2(node: FakeNode): Record<string, unknown> {
  return {
    id: node.id,
    name: node.name,
    ipRanges: node.ipRanges,
    isIPv6: false,
    isTargeted: true,
    availableForSyntheticTests: true,
    availableForInstantTests: node.networkType.name !== 'LastMile',
    latitude: node.latitude,
    longitude: node.longitude,
    status: node.status,
    networkType: node.networkType,
    asn: { id: node.asn, name: node.asName },
    city: { id: node.cityId, name: node.city },
    country: { id: node.countryId, name: node.country },
  };
}

interface City {
  city: string;
  region: string;
  cc: string;
  country: string;
  continent: string;
  lat: number;
  lon: number;
}

// Country names as v1 spells them; a few use the official long form on purpose.
// [city, region, ISO code, country as v1 spells it, continent, latitude, longitude]
const CITY_ROWS: ReadonlyArray<readonly [string, string, string, string, string, number, number]> = [
  ['Las Vegas', 'Nevada', 'US', 'United States', 'North America', 36.175, -115.1372],
  ['Jinan', 'Shandong', 'CN', 'China', 'Asia', 36.67, 116.99],
  ['Frankfurt', 'Hesse', 'DE', 'Germany', 'Europe', 50.11, 8.68],
  ['New York', 'New York', 'US', 'United States', 'North America', 40.71, -74.01],
  ['Ashburn', 'Virginia', 'US', 'United States', 'North America', 39.04, -77.49],
  ['Chicago', 'Illinois', 'US', 'United States', 'North America', 41.88, -87.63],
  ['Dallas', 'Texas', 'US', 'United States', 'North America', 32.78, -96.8],
  ['San Jose', 'California', 'US', 'United States', 'North America', 37.34, -121.89],
  ['Seattle', 'Washington', 'US', 'United States', 'North America', 47.61, -122.33],
  ['Toronto', 'Ontario', 'CA', 'Canada', 'North America', 43.65, -79.38],
  ['Montreal', 'Quebec', 'CA', 'Canada', 'North America', 45.5, -73.57],
  ['Mexico City', 'Mexico City', 'MX', 'Mexico', 'North America', 19.43, -99.13],
  ['Sao Paulo', 'Sao Paulo', 'BR', 'Brazil', 'South America', -23.55, -46.63],
  ['Buenos Aires', 'Buenos Aires', 'AR', 'Argentina', 'South America', -34.6, -58.38],
  ['Santiago', 'Santiago Metropolitan', 'CL', 'Chile', 'South America', -33.45, -70.67],
  ['Bogota', 'Bogota', 'CO', 'Colombia', 'South America', 4.71, -74.07],
  ['Lima', 'Lima', 'PE', 'Peru', 'South America', -12.05, -77.04],
  ['London', 'England', 'GB', 'United Kingdom', 'Europe', 51.51, -0.13],
  ['Manchester', 'England', 'GB', 'United Kingdom', 'Europe', 53.48, -2.24],
  ['Paris', 'Ile-de-France', 'FR', 'France', 'Europe', 48.86, 2.35],
  ['Amsterdam', 'North Holland', 'NL', 'Netherlands', 'Europe', 52.37, 4.9],
  ['Madrid', 'Madrid', 'ES', 'Spain', 'Europe', 40.42, -3.7],
  ['Milan', 'Lombardy', 'IT', 'Italy', 'Europe', 45.46, 9.19],
  ['Stockholm', 'Stockholm', 'SE', 'Sweden', 'Europe', 59.33, 18.07],
  ['Warsaw', 'Masovia', 'PL', 'Poland', 'Europe', 52.23, 21.01],
  ['Moscow', 'Moscow', 'RU', 'Russian Federation', 'Europe', 55.76, 37.62],
  ['Zurich', 'Zurich', 'CH', 'Switzerland', 'Europe', 47.38, 8.54],
  ['Dublin', 'Leinster', 'IE', 'Ireland', 'Europe', 53.35, -6.26],
  ['Tokyo', 'Tokyo', 'JP', 'Japan', 'Asia', 35.68, 139.69],
  ['Osaka', 'Osaka', 'JP', 'Japan', 'Asia', 34.69, 135.5],
  ['Seoul', 'Seoul', 'KR', 'Korea, Republic of', 'Asia', 37.57, 126.98],
  ['Beijing', 'Beijing', 'CN', 'China', 'Asia', 39.9, 116.41],
  ['Shanghai', 'Shanghai', 'CN', 'China', 'Asia', 31.23, 121.47],
  ['Hong Kong', 'Hong Kong', 'HK', 'Hong Kong', 'Asia', 22.32, 114.17],
  ['Singapore', 'Singapore', 'SG', 'Singapore', 'Asia', 1.35, 103.82],
  ['Mumbai', 'Maharashtra', 'IN', 'India', 'Asia', 19.08, 72.88],
  ['Bangalore', 'Karnataka', 'IN', 'India', 'Asia', 12.97, 77.59],
  ['Jakarta', 'Jakarta', 'ID', 'Indonesia', 'Asia', -6.21, 106.85],
  ['Ho Chi Minh City', 'Ho Chi Minh', 'VN', 'Viet Nam', 'Asia', 10.82, 106.63],
  ['Dubai', 'Dubai', 'AE', 'United Arab Emirates', 'Asia', 25.2, 55.27],
  ['Tel Aviv', 'Tel Aviv', 'IL', 'Israel', 'Asia', 32.09, 34.78],
  ['Sydney', 'New South Wales', 'AU', 'Australia', 'Oceania', -33.87, 151.21],
  ['Melbourne', 'Victoria', 'AU', 'Australia', 'Oceania', -37.81, 144.96],
  ['Auckland', 'Auckland', 'NZ', 'New Zealand', 'Oceania', -36.85, 174.76],
  ['Johannesburg', 'Gauteng', 'ZA', 'South Africa', 'Africa', -26.2, 28.05],
  ['Cape Town', 'Western Cape', 'ZA', 'South Africa', 'Africa', -33.92, 18.42],
  ['Lagos', 'Lagos', 'NG', 'Nigeria', 'Africa', 6.52, 3.38],
  ['Nairobi', 'Nairobi', 'KE', 'Kenya', 'Africa', -1.29, 36.82],
  ['Cairo', 'Cairo', 'EG', 'Egypt', 'Africa', 30.04, 31.24],
];
const CITIES: readonly City[] = CITY_ROWS.map(([city, region, cc, country, continent, lat, lon]) => ({
  city,
  region,
  cc,
  country,
  continent,
  lat,
  lon,
}));

interface Isp {
  name: string;
  asn: number;
  asName: string;
  networkType: 'Backbone' | 'LastMile' | 'Wireless' | 'PublicCloud';
}

// [name, AS number, AS name, network type]
const ISP_ROWS: ReadonlyArray<readonly [string, number, string, Isp['networkType']]> = [
  ['Level3', 3356, 'LEVEL3', 'Backbone'],
  ['AWS', 16509, 'AMAZON-02', 'PublicCloud'],
  ['Unicom', 4837, 'CHINA169-BACKBONE', 'Backbone'],
  ['Cogent', 174, 'COGENT-174', 'Backbone'],
  ['NTT', 2914, 'NTT-COMMUNICATIONS-2914', 'Backbone'],
  ['Telia', 1299, 'TWELVE99', 'Backbone'],
  ['GTT', 3257, 'GTT-BACKBONE', 'Backbone'],
  ['Zayo', 6461, 'ZAYO-6461', 'Backbone'],
  ['Comcast', 7922, 'COMCAST-7922', 'LastMile'],
  ['Verizon', 701, 'UUNET', 'LastMile'],
  ['AT&T', 7018, 'ATT-INTERNET4', 'LastMile'],
  ['Azure', 8075, 'MICROSOFT-CORP-MSN-AS-BLOCK', 'PublicCloud'],
  ['Google Cloud', 396982, 'GOOGLE-CLOUD-PLATFORM', 'PublicCloud'],
  ['China Telecom', 4134, 'CHINANET-BACKBONE', 'Backbone'],
  ['Tata Communications', 6453, 'AS6453', 'Backbone'],
  ['Deutsche Telekom', 3320, 'DTAG', 'LastMile'],
  ['Orange', 5511, 'OPENTRANSIT', 'Backbone'],
  ['Vodafone', 1273, 'CW', 'Wireless'],
  ['Telstra', 1221, 'ASN-TELSTRA', 'LastMile'],
  ['Akamai Connected Cloud', 63949, 'AKAMAI-LINODE-AP', 'PublicCloud'],
  ['DigitalOcean', 14061, 'DIGITALOCEAN-ASN', 'PublicCloud'],
  ['OVH', 16276, 'OVH', 'PublicCloud'],
  ['Hetzner', 24940, 'HETZNER-AS', 'PublicCloud'],
  ['T-Mobile', 21928, 'T-MOBILE-AS21928', 'Wireless'],
];
const ISPS: readonly Isp[] = ISP_ROWS.map(([name, asn, asName, networkType]) => ({
  name,
  asn,
  asName,
  networkType,
}));

const NETWORK_TYPE_IDS = { Backbone: 0, LastMile: 1, Wireless: 2, PublicCloud: 5 } as const;
const CONTINENT_IDS: Readonly<Record<string, number>> = {
  'North America': 1,
  'South America': 2,
  Europe: 3,
  Asia: 4,
  Africa: 5,
  Oceania: 6,
};

function makeNode(id: number, cityIndex: number, ispIndex: number, active = true): FakeNode {
  const c = CITIES[cityIndex % CITIES.length]!;
  const isp = ISPS[ispIndex % ISPS.length]!;
  const cityId = 1000 + (cityIndex % CITIES.length);
  return {
    id,
    name: `${c.city}, ${c.cc} - ${isp.name}`,
    city: c.city,
    cityId,
    region: c.region,
    regionId: 500 + (cityIndex % CITIES.length),
    countryCode: c.cc,
    country: c.country,
    countryId: 200 + c.cc.charCodeAt(0) * 26 + c.cc.charCodeAt(1),
    continent: c.continent,
    continentId: CONTINENT_IDS[c.continent] ?? 0,
    isp: isp.name,
    ispId: 10 + (ispIndex % ISPS.length),
    asn: isp.asn,
    asName: isp.asName,
    networkType: { id: NETWORK_TYPE_IDS[isp.networkType], name: isp.networkType },
    status: active ? { id: 0, name: 'Active' } : { id: 1, name: 'Inactive' },
    ipRanges: `10.${(id >> 8) & 255}.${id & 255}.0/24`,
    latitude: c.lat,
    longitude: c.lon,
  };
}

/**
 * `count` nodes (at least 3), deterministic: first the fixture nodes 1 (Las Vegas, Level3), 312
 * (Jinan, Unicom) and 540 (Frankfurt, AWS), then ids 1001, 1002, ... spread over the city and
 * ISP tables (every 17th inactive).
 */
export function generateNodes(count = 260): FakeNode[] {
  const nodes = [makeNode(1, 0, 0), makeNode(312, 1, 2), makeNode(540, 2, 1)];
  for (let i = 0; nodes.length < count; i++) {
    // 7 and 5 are coprime with the table sizes, so cities and ISPs mix rather than pair up.
    nodes.push(makeNode(1001 + i, 3 + i * 7, 3 + i * 5, i % 17 !== 16));
  }
  return nodes.slice(0, Math.max(3, count));
}

/** The NodeInfo a v1 directory should produce for a fake node. */
export function expectedV1Info(node: FakeNode): Record<string, string> {
  return {
    id: String(node.id),
    name: node.name,
    asn: String(node.asn),
    city: node.city,
    country: node.country,
    countryCode: node.countryCode,
    region: node.region,
    continent: node.continent,
    isp: node.isp,
    networkType: node.networkType.name,
  };
}

/** The NodeInfo a v2 directory should produce: no region; continent from the country, ISP from the name. */
export function expectedV2Info(node: FakeNode): Record<string, string> {
  const { region: _region, ...rest } = expectedV1Info(node);
  return rest;
}
