/**
 * The ingress ceiling: a fastify server shaped like the bridge's (same fastify, same options, the
 * same raw-body content parser and route shape) whose push handler does nothing but answer like
 * the bridge does. Run as its own process so it can be pinned to a core like the bridge.
 * Logs `noop listening` with its url (JSON on stdout, like the bridge); stops on SIGTERM.
 */
import Fastify, { type FastifyBaseLogger, type FastifyReply, LogController } from 'fastify';
import { createLogger } from '../src/shared/logger.ts';

const logger = createLogger();
const app = Fastify({
  // The bridge's own root logger (pino, JSON to stdout): fastify derives a child per request.
  loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
  logController: new LogController({ disableRequestLogging: true }),
  bodyLimit: 16 << 20,
  requestTimeout: 30_000,
  return503OnClosing: true,
  forceCloseConnections: 'idle',
});
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

const answer = (res: FastifyReply, body: unknown) =>
  res.code(200).send({ ok: true, datapoints: Buffer.isBuffer(body) ? 14 : 0 });
app.post<{ Params: { token: string } }>('/push/:token', async (req, res) => answer(res, req.body));
app.post('/', async (req, res) => answer(res, req.body));
app.get('/healthz', (_req, res) => res.send({ ok: true }));

const url = await app.listen({ host: '127.0.0.1', port: 0 });
logger.info({ url }, 'noop listening');
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
