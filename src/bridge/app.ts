/**
 * The bridge's HTTP surface (fastify). buildApp never listens: tests drive it with inject() and
 * server.ts owns the socket and signals.
 *
 * Routes: POST /push with the token in `Authorization: Bearer` or the spec's push.tokenHeader
 * (recommended: proxies and load balancers log URLs, not these headers), POST /push/:token, POST /
 * only when no token is configured (like the seed), GET /healthz, GET /readyz, GET /metrics.
 * Bodies of any Content-Type reach the handler as raw bytes: Catchpoint's Content-Type is not
 * documented and templates may send text/plain. Request URLs are never logged (they may carry the
 * token); the route pattern is.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { AcceptResult } from './accept-result.ts';
import type { Bridge } from './bridge.ts';
import { HANDOFF_PATH } from './handoff.ts';

/** Hard cap of what fastify reads; the configured (live-reloadable) limit is checked per push. */
const HARD_BODY_LIMIT = 16 << 20;

/** Holds the bridge once its first config is loaded; until then the app only answers probes. */
export interface BridgeRef {
  current: Bridge | undefined;
  /**
   * Shutdown phases (server.ts): `terminating` takes the bridge out of its Service (/readyz 503)
   * while pushes are still taken; `closing` refuses every request but /healthz with 503 and
   * Retry-After (and Connection: close), so a client retries on a replica that stays.
   */
  terminating?: boolean;
  closing?: boolean;
}

export interface AppOptions {
  bridge: Bridge | BridgeRef;
  logger: Logger;
}

const NOT_CONFIGURED: AcceptResult = {
  status: 503,
  outcome: 'refused_shutting_down',
  code: 'CPB_ERR_NOT_CONFIGURED',
  reason: 'the bridge has no valid config yet',
};

const SHUTTING_DOWN: AcceptResult = {
  status: 503,
  outcome: 'refused_shutting_down',
  reason: 'shutting down; retry (another replica takes pushes)',
};

/** The 401's reason for a push to POST / without a token while one is configured (POST /push/:token always has one). */
const ONLY_PUSH = 'this bridge takes pushes at /push with the token in Authorization: Bearer <token>';

/**
 * The server's options and body parser, shared with the benchmark's no-op baseline
 * (bench/noop-server.ts), so that the two differ only in what the push handler does.
 */
export function createHttpServer(logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Request logs would carry the URL, and a push URL carries its token.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: requests are not logged, and deriving one (bindings
    // serialised, redaction set up) showed in the push path's profile.
    childLoggerFactory: (parent) => parent,
    bodyLimit: HARD_BODY_LIMIT,
    requestTimeout: 30_000,
    // While closing, requests on kept-alive connections reach the onRequest hook of buildApp,
    // which answers 503 with Retry-After (fastify's own 503 has none).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  return app;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { logger } = options;
  const ref: BridgeRef = 'current' in options.bridge ? options.bridge : { current: options.bridge };
  const app = createHttpServer(logger);

  app.addHook('onRequest', async (req, res) => {
    if (ref.closing === true && req.url !== '/healthz') return reply(res, SHUTTING_DOWN);
  });

  const reply = (res: FastifyReply, result: AcceptResult) => {
    if (result.status === 503) res.header('retry-after', '30');
    if (result.status === 200) return res.code(200).send({ ok: true, datapoints: result.datapoints ?? 0 });
    return res
      .code(result.status)
      .send({ ok: false, code: result.code ?? result.outcome, reason: result.reason });
  };

  /** A push with the token the route found (undefined for none); `noTokenReason` is the 401's reason then. */
  const push = async (token: string | undefined, body: unknown, res: FastifyReply, noTokenReason: string) => {
    const bridge = ref.current;
    if (bridge === undefined) return reply(res, NOT_CONFIGURED);
    return reply(res, await bridge.acceptPush({ token, body: bodyBytes(body), noTokenReason }));
  };

  app.post<{ Params: { token: string } }>('/push/:token', (req, res) =>
    push(req.params.token, req.body, res, ONLY_PUSH),
  );
  app.post('/push', (req, res) => {
    const header = ref.current?.config.spec.push.tokenHeader;
    const token = headerToken(req.headers, header);
    const expected =
      header === undefined ? 'Authorization: Bearer <token>' : `Authorization: Bearer <token> or ${header}`;
    return push(token, req.body, res, `a push to /push carries its token in ${expected}`);
  });
  app.post('/', (req, res) => push(undefined, req.body, res, ONLY_PUSH));

  // A stopping peer hands over what it could not deliver (see handoff.ts). Same token as pushes,
  // sent as a bearer header; records are checked before they are spooled.
  app.post(HANDOFF_PATH, async (req, res) => {
    const bridge = ref.current;
    if (bridge === undefined) return reply(res, NOT_CONFIGURED);
    const token = headerToken(req.headers, undefined);
    return reply(res, await bridge.acceptHandoff({ token, body: bodyBytes(req.body) }));
  });

  app.get('/healthz', (_req, res) => res.send({ ok: true }));
  app.get('/readyz', (_req, res) => {
    if (ref.terminating === true) return res.code(503).send({ ok: false, reason: 'shutting down' });
    return ref.current?.ready
      ? res.send({ ok: true })
      : res.code(503).send({ ok: false, reason: 'not ready' });
  });
  app.get('/metrics', async (_req, res) => {
    const registry = ref.current?.metrics.registry;
    if (registry === undefined) return res.code(503).send('# the bridge has no valid config yet\n');
    res.header('content-type', registry.contentType);
    return registry.metrics();
  });

  app.setErrorHandler((err, req, res) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err, route: req.routeOptions.url }, 'request failed');
    const code = (err as { code?: string }).code;
    // Fastify's own client errors (413 body too large, 415, ...) keep their code; nothing else leaks.
    res.code(status).send({
      ok: false,
      code: status < 500 ? code : 'CPB_ERR_INTERNAL',
      reason: status < 500 ? (err as Error).message : 'internal error',
    });
  });
  return app;
}

/** A request's body as the catch-all parser left it: bytes, or none. */
function bodyBytes(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

/**
 * The token a request carries in `Authorization: Bearer` (scheme case-insensitive, RFC 9110) or,
 * when the spec names one, in that header; undefined when neither is there.
 */
export function headerToken(
  headers: Record<string, string | string[] | undefined>,
  tokenHeader: string | undefined,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const token = auth.slice(7).trim();
    if (token !== '') return token;
  }
  if (tokenHeader !== undefined) {
    const value = headers[tokenHeader.toLowerCase()];
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}
