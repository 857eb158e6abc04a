/**
 * The operator process once cli.ts has parsed its flags: the CatchpointBridge controller, run
 * under leader election (or at once without it), the listener for /healthz, /readyz and /metrics,
 * and what the environment tells it (POD_NAME, POD_NAMESPACE: the Lease's holder and namespace,
 * the Events' reporting instance), read here once. Wiring only; the logic lives in
 * catchpoint-bridge/.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ownNamespace } from '../kube/kube-config.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { CatchpointBridgeController } from './catchpoint-bridge/controller.ts';
import type { OperatorConfig } from './catchpoint-bridge/desired.ts';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';

export const LEASE_NAME = 'catchpoint-bridge-operator';

export interface OperatorOptions {
  kc: KubeConfig;
  logger: Logger;
  config: OperatorConfig;
  namespaces?: string[];
  leaderElect: boolean;
  leaseNamespace?: string;
  listen: { host: string; port: number };
  workers?: number;
  /** Shorter lease timings for tests. */
  lease?: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  processMetrics?: boolean;
  /** This replica's pod name; default $POD_NAME (the chart sets it from the downward API). */
  podName?: string;
}

export interface RunningOperator {
  url: string;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  /** Stops reconciling, releases the Lease, closes the listener. */
  stop(): Promise<void>;
  /** Resolves when leadership is lost without stop() (the process should exit and restart). */
  lostLeadership: Promise<void>;
}

export async function runOperator(o: OperatorOptions): Promise<RunningOperator> {
  const podName = o.podName ?? process.env.POD_NAME;
  const metrics = createOperatorMetrics(o.processMetrics ?? true);
  let controller: CatchpointBridgeController | undefined;
  let stopping = false;
  let lost!: () => void;
  const lostLeadership = new Promise<void>((resolve) => {
    lost = resolve;
  });

  const startController = async (signal?: AbortSignal) => {
    controller = new CatchpointBridgeController({
      kc: o.kc,
      logger: o.logger.child({ component: 'controller' }),
      config: o.config,
      metrics,
      ...(podName ? { instance: podName } : {}),
      ...(o.namespaces ? { namespaces: o.namespaces } : {}),
      ...(o.workers ? { workers: o.workers } : {}),
    });
    await controller.start();
    if (signal) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      await controller.stop();
      controller = undefined;
    }
  };

  let elector: LeaderElector | undefined;
  if (o.leaderElect) {
    const namespace = o.leaseNamespace ?? process.env.POD_NAMESPACE ?? ownNamespace(o.kc) ?? 'default';
    elector = new LeaderElector({
      kc: o.kc,
      namespace,
      name: LEASE_NAME,
      identity: `${podName ?? hostname()}_${randomBytes(4).toString('hex')}`,
      logger: o.logger.child({ component: 'leader-election' }),
      ...(o.lease
        ? {
            leaseDurationMs: o.lease.durationMs,
            renewDeadlineMs: o.lease.renewDeadlineMs,
            retryPeriodMs: o.lease.retryPeriodMs,
          }
        : {}),
      onStartedLeading: (signal) => {
        metrics.leader.set({ name: LEASE_NAME }, 1);
        o.logger.info('became leader');
        return startController(signal).catch((err: unknown) => o.logger.error({ err }, 'controller failed'));
      },
      onStoppedLeading: () => {
        metrics.leader.set({ name: LEASE_NAME }, 0);
        if (!stopping) {
          o.logger.error('lost leadership');
          lost();
        }
      },
    });
    metrics.leader.set({ name: LEASE_NAME }, 0);
    elector.start();
  } else {
    await startController();
  }

  const app = probesApp(metrics);
  const url = await app.listen(o.listen);
  o.logger.info(
    { url, leaderElection: o.leaderElect, namespaces: o.namespaces ?? 'all' },
    'operator started',
  );
  return {
    url,
    metrics,
    isLeader: () => (elector ? elector.isLeader : true),
    lostLeadership,
    async stop() {
      stopping = true;
      if (elector) await elector.stop();
      else await controller?.stop();
      await app.close();
    },
  };
}

function probesApp(metrics: OperatorMetrics): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ ok: true }));
  // A standby replica is ready too: it is healthy and waiting for the Lease.
  app.get('/readyz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, res) => {
    res.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}
