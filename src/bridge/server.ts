/**
 * Runs a bridge: first config from its source, the spool, the HTTP listener, live reload, and a
 * graceful shutdown on SIGTERM/SIGINT (stop taking pushes, deliver what the spool holds within
 * the drain budget, keep the rest on disk for the next start).
 */
import type { Logger } from 'pino';
import { type BridgeRef, buildApp } from './app.ts';
import { Bridge } from './bridge.ts';
import type { ConfigSource, ResolvedConfig } from './config.ts';

export interface ServeOptions {
  source: ConfigSource;
  listen: { host: string; port: number };
  spoolDir: string;
  logger: Logger;
  /** Time given to delivery on shutdown before handing the rest over (or leaving it in the spool). */
  drainMs: number;
  /** A peer bridge (in a cluster: the bridge Service) to hand undelivered points to on shutdown. */
  handoffUrl?: string;
  /**
   * On shutdown, time spent out of the Service's endpoints (/readyz 503) while still taking
   * pushes, before the listener closes: a pod's deletion reaches kube-proxy and the pod at the
   * same time, and connections routed to it meanwhile would otherwise be refused. Default 0.
   */
  shutdownDelayMs?: number;
}

export interface RunningBridge {
  bridge: Bridge;
  url: string;
  close(): Promise<void>;
}

export async function serveBridge(options: ServeOptions): Promise<RunningBridge> {
  const { logger } = options;
  const ref: BridgeRef = { current: undefined };
  const onChange = (config: ResolvedConfig) => {
    try {
      ref.current?.apply(config);
    } catch (err) {
      ref.current?.metrics.configErrors.inc({ reason: 'apply' });
      logger.error({ err }, 'could not apply new config; keeping the last good one');
    }
  };
  const onError = (err: Error) => {
    ref.current?.metrics.configErrors.inc({ reason: (err as { code?: string }).code ?? 'error' });
    logger.error(
      { code: (err as { code?: string }).code, error: err.message },
      'new config refused; keeping the last good one',
    );
  };
  // A source that waits (the API server) gets the listener first: probes answer (healthy, not
  // ready) while the first config is awaited, e.g. a Secret that does not exist yet. One that
  // answers at once (a file) gets it last: a bad config fails before anything listens.
  const app = buildApp({ bridge: ref, logger: logger.child({ component: 'http' }) });
  const listen = () => app.listen({ host: options.listen.host, port: options.listen.port });
  let url = options.source.immediate === true ? undefined : await listen();
  let bridge: Bridge;
  try {
    const config = await options.source.start(onChange, onError);
    bridge = await Bridge.create(config, { spoolDir: options.spoolDir, logger });
  } catch (err) {
    await options.source.stop();
    await app.close();
    throw err;
  }
  ref.current = bridge;
  if (url === undefined) {
    try {
      url = await listen();
    } catch (err) {
      await options.source.stop();
      await bridge.close(0);
      throw err;
    }
  }
  bridge.start();
  logger.info(
    {
      url,
      resource: bridge.config.resource,
      generation: bridge.config.generation,
      tokenRequired: bridge.tokens.required,
    },
    'bridge listening',
  );
  if (!bridge.tokens.required) {
    logger.warn(
      'no push token configured: anyone who can reach POST / can write datapoints (seed-compatible mode)',
    );
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ref.terminating = true;
      if ((options.shutdownDelayMs ?? 0) > 0) {
        logger.info(
          { delayMs: options.shutdownDelayMs },
          'shutting down: out of the Service, still taking pushes',
        );
        await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
      }
      logger.info('shutting down: no new pushes, delivering what the spool holds');
      ref.closing = true;
      await app.close();
      await options.source.stop();
      await bridge.close(options.drainMs, options.handoffUrl);
      logger.info({ spoolBytes: bridge.spoolBytes }, 'bridge stopped');
    })();
    return closing;
  };
  return { bridge, url, close };
}

/** Closes on SIGTERM/SIGINT, then exits. */
export function closeOnSignals(running: { close(): Promise<void> }, logger: Logger): void {
  const handler = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}
