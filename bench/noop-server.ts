/**
 * The ingress ceiling: the bridge's fastify server (createHttpServer: same options, logger and
 * raw-body content parser) with the same route shape, whose push handler does nothing but answer like
 * the bridge does. Run as its own process so it can be pinned to a core like the bridge.
 * Logs `noop listening` with its url (JSON on stdout, like the bridge); stops on SIGTERM.
 */
import type { FastifyReply } from 'fastify';
import { createHttpServer } from '../src/bridge/app.ts';
import { createLogger } from '../src/shared/logger.ts';

const logger = createLogger();
// The bridge's own server: same fastify options, logger and raw-body parser.
const app = createHttpServer(logger.child({ component: 'http' }));

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
