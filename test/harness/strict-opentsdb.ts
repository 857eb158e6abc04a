/**
 * A strict OpenTSDB 2.x contract server for tests: the /api/put and telnet `put` rules of
 * docs/opentsdb.md §1–§2, enforced the way the TSD's Netty pipeline and PutDataPointRpc do,
 * because genuine OpenTSDB cannot run here (no HBase, §6). Per-point checks come from
 * src/opentsdb/validate.ts, the same code the writers use, so they cannot drift apart; where
 * OpenTSDB is lenient and VictoriaMetrics drops data (numeric tag values, float timestamps),
 * this server refuses, so a writer that passes here works on both.
 *
 * Like the TSD, one port serves both protocols: a connection whose first byte is A–Z is HTTP,
 * anything else telnet. Nothing leaves 127.0.0.1.
 *
 * HTTP (§1.6, §1.7):
 * - chunked transfer, `Expect: 100-continue` or Content-Length > 8192 (wire bytes, before gzip)
 *   → 400 HTML "Chunked request not supported." unless `enableChunked`; then bodies over
 *   max(8192, maxChunk) make it close the connection without an answer;
 * - gzip/deflate bodies are decoded; a broken one closes the connection;
 * - empty body, not `{`/`[`, bad JSON, `[]` → 400, nothing stored;
 * - all points stored → 204, or 200 with {success, failed, errors} under summary/details;
 * - some refused → 400: with details {success, failed, errors:[{datapoint, error}]} where the
 *   datapoint is echoed like OpenTSDB's IncomingDataPoint (value as a string, tags reordered
 *   as a HashMap would); without flags the "One or more data points had errors" envelope.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Datapoint } from '../../src/opentsdb/datapoint.ts';
import { DEFAULT_MAX_TAGS, VALUE_PARSE_ERROR, validateIncoming } from '../../src/opentsdb/validate.ts';

/** Netty 3 HttpMessageDecoder's maxChunkSize: longer bodies are delivered as "chunked". */
const NETTY_MAX_CHUNK = 8192;
/** LineBasedFrameDecoder(1024): a longer telnet frame closes the connection. */
const TELNET_MAX_LINE = 1024;
const SECOND_LIMIT = 4294967296;

export interface StrictOpenTsdbOptions {
  /** tsd.storage.max_tags. Default 8. */
  maxTags?: number;
  /**
   * tsd.core.auto_create_metrics. Default **true** here for convenience (OpenTSDB's default is
   * false); set false, with `metrics` as the allow-list of existing metrics, to test "Unknown metric".
   */
  autoCreateMetrics?: boolean;
  /** Metrics that exist (have a UID). Only consulted when autoCreateMetrics is false. */
  metrics?: Iterable<string>;
  /** tsd.http.request.enable_chunked. Default false. */
  enableChunked?: boolean;
  /** tsd.http.request.max_chunk. Default 4096. */
  maxChunk?: number;
  /** Path prefix before /api/put (OpenTSDB behind a proxy). Default ''. */
  basePath?: string;
  /** tsd.rpc.telnet.return_errors. Default true. */
  telnetReturnErrors?: boolean;
}

export type Protocol = 'http' | 'telnet';

/** A stored point: timestamps normalised to ms, values parsed. */
export interface StoredPoint extends Datapoint {
  protocol: Protocol;
}

export interface RefusedPoint {
  /** The point as far as it could be read; absent when the whole request/line was unusable. */
  point?: { metric?: unknown; timestamp?: unknown; value?: string | null; tags?: unknown };
  reason: string;
  protocol: Protocol;
}

export interface HttpRequestRecord {
  method: string;
  url: string;
  /** Content-Length header, when sent. */
  contentLength: number | undefined;
  /** Body bytes actually received (before decompression). */
  wireBytes: number;
  /** `Transfer-Encoding: chunked`. */
  chunked: boolean;
  /** `Expect: 100-continue`. */
  expect: boolean;
  contentEncoding: string | undefined;
  authorization: string | undefined;
  /** The status sent, or 'closed' when the connection was dropped without an answer. */
  status: number | 'closed';
  /** Points in the body (0 when refused whole). */
  points: number;
  /** Why the request was refused as a whole, if it was. */
  refusedWhole: string | undefined;
}

export type FaultResponse = number | 'close';

export interface StrictOpenTsdb {
  /** http://127.0.0.1:PORT (+ basePath): the writer's base URL. */
  readonly httpUrl: string;
  /** tcp://127.0.0.1:PORT (same port). */
  readonly telnetUrl: string;
  readonly port: number;
  readonly accepted: StoredPoint[];
  readonly refused: RefusedPoint[];
  readonly requests: HttpRequestRecord[];
  /** Telnet error lines sent back. */
  readonly telnetErrors: string[];
  /** Connections accepted so far (both protocols). */
  readonly connections: () => number;
  /** Stop accepting and drop every open connection (the TSD is down). */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Answer each HTTP request only after this many ms. */
  setDelay(ms: number): void;
  /** The next `n` HTTP requests get this status (nothing stored), or their connection closed. */
  failNext(n: number, response: FaultResponse): void;
  /** `tsdb mkmetric name`: the metric exists from now on. */
  mkmetric(name: string): void;
  setAutoCreateMetrics(on: boolean): void;
  /** Forget recorded points and requests. */
  reset(): void;
  /** Resolves once `count` points were accepted (telnet is asynchronous), or rejects after timeoutMs. */
  waitForAccepted(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// JSON with the source text of numbers (Jackson hands the value's text to OpenTSDB: "1.0" stays
// "1.0", 10000000000000000000 stays too long for a long), via JSON.parse's reviver context.

const RAW = Symbol('rawNumber');
interface RawNumber {
  [RAW]: string;
}

function isRaw(v: unknown): v is RawNumber {
  return typeof v === 'object' && v !== null && RAW in v;
}

function reviveNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number') return { [RAW]: context?.source ?? String(value) } satisfies RawNumber;
  return value;
}

function parseJsonKeepingNumbers(text: string): unknown {
  return (
    JSON.parse as (t: string, r: (k: string, v: unknown, c?: { source?: string }) => unknown) => unknown
  )(text, reviveNumbers);
}

function plain(v: unknown): unknown {
  if (isRaw(v)) return Number(v[RAW]);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

function valueText(v: unknown): string | null | undefined {
  if (v === undefined || v === null) return v;
  if (isRaw(v)) return v[RAW];
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  return JSON.stringify(plain(v));
}

function parseStoredValue(text: string): number {
  const t = text.trim();
  const last = t.charCodeAt(t.length - 1);
  return Number(last > 0x39 ? t.slice(0, -1) : t);
}

function toMs(ts: number): number {
  return ts < SECOND_LIMIT ? ts * 1000 : ts;
}

// ---------------------------------------------------------------------------------------------

const CHUNKED_HTML =
  '<!DOCTYPE html><html><head><meta http-equiv=content-type content="text/html;charset=utf-8">' +
  '<title>Bad Request</title></head><body><div id=queryuimain></div><noscript>' +
  '<h2>Bad Request</h2>The request was not understood:<blockquote><h1>Chunked request not supported.</h1>' +
  '</blockquote></noscript></body></html>';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function errorEnvelope(status: number, message: string, details?: string): unknown {
  return { error: { code: status, message, ...(details === undefined ? {} : { details }) } };
}

/** OpenTSDB's IncomingDataPoint as Jackson writes it: value a string, tags in HashMap order. */
function echo(metric: unknown, timestamp: unknown, value: string | null | undefined, tags: unknown): unknown {
  let echoedTags: unknown = tags;
  if (typeof tags === 'object' && tags !== null && !Array.isArray(tags)) {
    const reordered: Record<string, unknown> = {};
    for (const k of Object.keys(tags).reverse()) reordered[k] = plain((tags as Record<string, unknown>)[k]);
    echoedTags = reordered;
  }
  return {
    metric: plain(metric) ?? null,
    timestamp: plain(timestamp) ?? 0,
    value: value ?? null,
    tags: echoedTags ?? null,
  };
}

export async function startStrictOpenTsdb(options: StrictOpenTsdbOptions = {}): Promise<StrictOpenTsdb> {
  const maxTags = options.maxTags ?? DEFAULT_MAX_TAGS;
  let autoCreate = options.autoCreateMetrics ?? true;
  const metrics = new Set(options.metrics ?? []);
  const enableChunked = options.enableChunked ?? false;
  const maxChunk = Math.max(NETTY_MAX_CHUNK, options.maxChunk ?? 4096);
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const returnErrors = options.telnetReturnErrors ?? true;

  const accepted: StoredPoint[] = [];
  const refused: RefusedPoint[] = [];
  const requests: HttpRequestRecord[] = [];
  const telnetErrors: string[] = [];
  const sockets = new Set<Socket>();
  let connectionCount = 0;
  let delayMs = 0;
  let faults: { remaining: number; response: FaultResponse } = { remaining: 0, response: 503 };
  const waiters = new Set<() => void>();

  function notify(): void {
    for (const w of waiters) w();
  }

  function unknownMetric(metric: string): boolean {
    return !autoCreate && !metrics.has(metric);
  }

  /** One /api/put element: the reason it is refused, or undefined after storing it. */
  function importHttpPoint(
    metric: unknown,
    timestamp: unknown,
    value: unknown,
    tags: unknown,
  ): string | undefined {
    const text = valueText(value);
    const ts = isRaw(timestamp) ? Number(timestamp[RAW]) : timestamp;
    // Tag values that arrived as JSON numbers stay RawNumber objects, so validateIncoming refuses them.
    let reason = validateIncoming(plain(metric), ts, text, tags, maxTags);
    if (reason === undefined && unknownMetric(metric as string)) reason = 'Unknown metric';
    if (reason !== undefined) {
      refused.push({
        point: {
          metric: plain(metric) as string,
          timestamp: ts as number,
          value: text,
          tags: plain(tags) as Record<string, string>,
        },
        reason,
        protocol: 'http',
      });
      return reason;
    }
    accepted.push({
      metric: metric as string,
      timestamp: toMs(ts as number),
      value: parseStoredValue(text as string),
      tags: { ...(tags as Record<string, string>) },
      protocol: 'http',
    });
    return undefined;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  const httpServer = createHttpServer({ keepAliveTimeout: 5_000 });

  function record(req: IncomingMessage): HttpRequestRecord {
    const cl = req.headers['content-length'];
    const rec: HttpRequestRecord = {
      method: req.method ?? '',
      url: req.url ?? '',
      contentLength: cl === undefined ? undefined : Number(cl),
      wireBytes: 0,
      chunked: (req.headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked'),
      expect: (req.headers.expect ?? '').toLowerCase() === '100-continue',
      contentEncoding: req.headers['content-encoding'],
      authorization: req.headers.authorization,
      status: 0,
      points: 0,
      refusedWhole: undefined,
    };
    requests.push(rec);
    return rec;
  }

  async function respond(rec: HttpRequestRecord, res: ServerResponse, fn: () => void): Promise<void> {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (res.destroyed) {
      rec.status = 'closed';
      return;
    }
    fn();
    rec.status = res.statusCode;
    notify();
  }

  function refuseWhole(
    rec: HttpRequestRecord,
    res: ServerResponse,
    status: number,
    message: string,
  ): Promise<void> {
    rec.refusedWhole = message;
    refused.push({ reason: message, protocol: 'http' });
    return respond(rec, res, () => sendJson(res, status, errorEnvelope(status, message)));
  }

  function refuseChunked(rec: HttpRequestRecord, res: ServerResponse): Promise<void> {
    rec.refusedWhole = 'Chunked request not supported.';
    refused.push({ reason: rec.refusedWhole, protocol: 'http' });
    return respond(rec, res, () => {
      res.writeHead(400, {
        'content-type': 'text/html; charset=UTF-8',
        'content-length': Buffer.byteLength(CHUNKED_HTML),
      });
      res.end(CHUNKED_HTML);
    });
  }

  function dropConnection(rec: HttpRequestRecord, req: IncomingMessage, reason: string): void {
    rec.status = 'closed';
    rec.refusedWhole = reason;
    refused.push({ reason, protocol: 'http' });
    req.socket.destroy();
    notify();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = record(req);
    if (faults.remaining > 0) {
      faults.remaining--;
      const response = faults.response;
      req.resume();
      if (response === 'close') {
        dropConnection(rec, req, 'fault: connection closed');
        return;
      }
      rec.refusedWhole = `fault: ${response}`;
      await respond(rec, res, () =>
        sendJson(
          res,
          response,
          errorEnvelope(response, response === 429 ? 'Please throttle writes' : 'Injected fault'),
        ),
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== `${basePath}/api/put`) {
      req.resume();
      await refuseWhole(rec, res, 404, 'Endpoint not found');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      await refuseWhole(rec, res, 405, 'Method not allowed');
      return;
    }
    const chunkedMode = rec.chunked || rec.expect || (rec.contentLength ?? 0) > NETTY_MAX_CHUNK;
    if (chunkedMode && !enableChunked) {
      // Answered before the body is read, as RpcHandler does; node discards the rest.
      await refuseChunked(rec, res);
      return;
    }
    if (rec.expect) res.writeContinue();
    const parts: Buffer[] = [];
    for await (const chunk of req) {
      parts.push(chunk as Buffer);
      rec.wireBytes += (chunk as Buffer).length;
      if (chunkedMode && rec.wireBytes > maxChunk) {
        // HttpChunkAggregator's TooLongFrameException: ConnectionManager closes the channel.
        dropConnection(rec, req, `body over max_chunk (${maxChunk})`);
        return;
      }
    }
    let body = Buffer.concat(parts);
    const encoding = (rec.contentEncoding ?? '').trim().toLowerCase();
    try {
      if (encoding === 'gzip' || encoding === 'x-gzip') body = gunzipSync(body);
      else if (encoding === 'deflate' || encoding === 'x-deflate') body = inflateSync(body);
    } catch {
      dropConnection(rec, req, `bad ${encoding} body`);
      return;
    }
    const text = body.toString('utf8').trim();
    if (text.length === 0) {
      await refuseWhole(rec, res, 400, 'Missing request content');
      return;
    }
    if (text[0] !== '{' && text[0] !== '[') {
      await refuseWhole(rec, res, 400, 'The JSON must start as an object or an array');
      return;
    }
    let parsed: unknown;
    try {
      parsed = parseJsonKeepingNumbers(text);
    } catch {
      await refuseWhole(rec, res, 400, 'Unable to parse the given JSON');
      return;
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    if (items.length === 0) {
      await refuseWhole(rec, res, 400, 'No datapoints found in content');
      return;
    }
    for (const item of items) {
      // Jackson cannot map a non-object element to IncomingDataPoint: the whole body fails.
      if (typeof item !== 'object' || item === null || Array.isArray(item) || isRaw(item)) {
        await refuseWhole(rec, res, 400, 'Unable to parse the given JSON');
        return;
      }
    }
    rec.points = items.length;
    const flags = url.searchParams;
    const details = flags.has('details');
    const summary = details || flags.has('summary');
    const errors: { datapoint: unknown; error: string }[] = [];
    let success = 0;
    for (const item of items as Record<string, unknown>[]) {
      const reason = importHttpPoint(item.metric, item.timestamp, item.value, item.tags);
      if (reason === undefined) success++;
      else
        errors.push({
          datapoint: echo(item.metric, item.timestamp, valueText(item.value), item.tags),
          error: reason,
        });
    }
    const failed = errors.length;
    await respond(rec, res, () => {
      if (failed === 0) {
        if (!summary) {
          res.writeHead(204);
          res.end();
        } else sendJson(res, 200, details ? { success, failed, errors } : { success, failed });
      } else if (summary) {
        sendJson(res, 400, details ? { success, failed, errors } : { success, failed });
      } else {
        sendJson(
          res,
          400,
          errorEnvelope(
            400,
            'One or more data points had errors',
            'Please see the TSD logs or append "details" to the put request',
          ),
        );
      }
    });
  }

  httpServer.on('request', (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorEnvelope(500, String(err)));
    });
  });
  // Expect: 100-continue is "chunked" to Netty 3; without this listener node would answer 100.
  httpServer.on('checkContinue', (req, res) => httpServer.emit('request', req, res));

  // ---- telnet ------------------------------------------------------------------------------------

  function telnetReply(socket: Socket, line: string): void {
    if (!returnErrors) return;
    telnetErrors.push(line);
    if (!socket.destroyed) socket.write(`${line}\n`, 'latin1');
  }

  function telnetPut(socket: Socket, words: string[]): void {
    const fail = (
      reason: string,
      kind: 'illegal argument' | 'invalid value' | 'unknown metric',
      point?: RefusedPoint['point'],
    ) => {
      refused.push({ ...(point === undefined ? {} : { point }), reason, protocol: 'telnet' });
      telnetReply(socket, `put: ${kind}: ${reason}`);
    };
    if (words.length < 5) {
      fail(`not enough arguments (need least 4, got ${words.length - 1})`, 'illegal argument');
      return;
    }
    const metric = words[1] as string;
    if (metric.length === 0) {
      fail('empty metric name', 'illegal argument');
      return;
    }
    const tsWord = (words[2] as string).includes('.')
      ? (words[2] as string).replaceAll('.', '')
      : (words[2] as string);
    if (!/^[+-]?\d{1,19}$/.test(tsWord)) {
      fail(`Invalid character in ${words[2]}`, 'invalid value');
      return;
    }
    const timestamp = Number(tsWord);
    if (timestamp <= 0) {
      fail(`invalid timestamp: ${timestamp}`, 'illegal argument');
      return;
    }
    const value = words[3] as string;
    if (value.length === 0) {
      fail('empty value', 'illegal argument');
      return;
    }
    const tags: Record<string, string> = {};
    for (let i = 4; i < words.length; i++) {
      const word = words[i] as string;
      if (word.length === 0) continue;
      const kv = word.split('=');
      if (kv.length !== 2 || (kv[0] as string).length === 0 || (kv[1] as string).length === 0) {
        fail(`invalid tag: ${word}`, 'illegal argument');
        return;
      }
      const [k, v] = kv as [string, string];
      if (tags[k] !== undefined && tags[k] !== v) {
        fail(`duplicate tag: ${word}, tags=${JSON.stringify(tags)}`, 'illegal argument');
        return;
      }
      tags[k] = v;
    }
    const point = { metric, timestamp, value, tags };
    let reason = validateIncoming(metric, timestamp, value, tags, maxTags);
    if (reason === 'Missing tags') reason = `Need at least one tag (metric=${metric}, tags={})`;
    if (reason !== undefined) {
      fail(reason, reason === VALUE_PARSE_ERROR ? 'invalid value' : 'illegal argument', point);
      return;
    }
    if (unknownMetric(metric)) {
      fail(`No such name for 'metrics': '${metric}'`, 'unknown metric', point);
      return;
    }
    accepted.push({
      metric,
      timestamp: toMs(timestamp),
      value: parseStoredValue(value),
      tags,
      protocol: 'telnet',
    });
    notify();
  }

  function telnetLine(socket: Socket, line: string): void {
    const words = line.split(' ');
    const command = words[0] as string;
    switch (command) {
      case 'put':
        telnetPut(socket, words);
        return;
      case 'version':
        socket.write(
          'net.opentsdb.tools BuildData built at revision strict (MODIFIED)\nBuilt on 2024/12/12 by test\n',
        );
        return;
      case 'exit':
        socket.end();
        return;
      case 'help':
        socket.write('available commands: put version exit help\n');
        return;
      case '':
        return;
      default:
        telnetReply(socket, `unknown command: ${command}.  Try \`help'.`);
    }
  }

  function serveTelnet(socket: Socket, first: Buffer): void {
    let pending: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      for (let nl = pending.indexOf(0x0a, start); nl !== -1; nl = pending.indexOf(0x0a, start)) {
        let end = nl;
        if (end > start && pending[end - 1] === 0x0d) end--;
        if (end - start > TELNET_MAX_LINE) {
          tooLong(end - start);
          return;
        }
        telnetLine(socket, pending.toString('latin1', start, end));
        start = nl + 1;
      }
      pending = pending.subarray(start);
      if (pending.length > TELNET_MAX_LINE) tooLong(pending.length);
    };
    const tooLong = (length: number): void => {
      refused.push({
        reason: `telnet frame of ${length} bytes exceeds ${TELNET_MAX_LINE}: connection closed`,
        protocol: 'telnet',
      });
      socket.destroy();
      pending = Buffer.alloc(0);
      notify();
    };
    socket.on('data', onData);
    onData(first);
  }

  // ---- the shared port -----------------------------------------------------------------------

  const netServer: Server = createNetServer((socket) => {
    connectionCount++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      const c = first[0] as number;
      if (c >= 0x41 && c <= 0x5a) {
        // PipelineFactory's DetectHttpOrRpc: an upper-case first byte is an HTTP method.
        socket.pause();
        socket.unshift(first);
        httpServer.emit('connection', socket);
        socket.resume();
      } else {
        serveTelnet(socket, first);
      }
    });
  });

  async function listen(port: number): Promise<void> {
    netServer.listen(port, '127.0.0.1');
    await once(netServer, 'listening');
  }

  await listen(0);
  const address = netServer.address();
  if (address === null || typeof address === 'string') throw new Error('strict OpenTSDB: no TCP address');
  const port = address.port;
  let isUp = true;

  async function down(): Promise<void> {
    if (!isUp) return;
    isUp = false;
    const closed = new Promise<void>((resolve) => netServer.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  }

  return {
    httpUrl: `http://127.0.0.1:${port}${basePath}`,
    telnetUrl: `tcp://127.0.0.1:${port}`,
    port,
    accepted,
    refused,
    requests,
    telnetErrors,
    connections: () => connectionCount,
    down,
    async up() {
      if (isUp) return;
      await listen(port);
      isUp = true;
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    failNext(n: number, response: FaultResponse) {
      faults = { remaining: n, response };
    },
    mkmetric(name: string) {
      metrics.add(name);
    },
    setAutoCreateMetrics(on: boolean) {
      autoCreate = on;
    },
    reset() {
      accepted.length = 0;
      refused.length = 0;
      requests.length = 0;
      telnetErrors.length = 0;
    },
    waitForAccepted(count: number, timeoutMs = 5_000) {
      if (accepted.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (accepted.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`strict OpenTSDB: ${accepted.length}/${count} points accepted after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async close() {
      await down();
      httpServer.close();
    },
  };
}
