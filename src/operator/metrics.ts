/**
 * Operator metrics, named as controller-runtime names them so existing dashboards and alerts for
 * Go operators work unchanged, plus a count of API writes (what a reconcile costs) and each
 * CatchpointBridge's readiness (what an alert on a broken bridge needs).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  queueDepth: Gauge<'name'>;
  queueAdds: Counter<'name'>;
  queueRetries: Counter<'name'>;
  leader: Gauge<'name'>;
  apiWrites: Counter<'verb' | 'kind'>;
  apiReads: Counter<'kind'>;
  bridgeReady: Gauge<'bridge_namespace' | 'bridge_name' | 'reason'>;
  /** Where bridgeReady reads the CatchpointBridges from at scrape time (the leader's cache). */
  observeBridges(list: () => Iterable<BridgeReadiness>): void;
}

export interface BridgeReadiness {
  namespace: string;
  name: string;
  /** The Ready condition's status; undefined before the operator reported one. */
  ready: 'True' | 'False' | 'Unknown' | undefined;
  /** The Ready condition's reason (a fixed set: conditions.ts), '' before there is one. */
  reason: string;
}

export function createOperatorMetrics(withProcessMetrics = true): OperatorMetrics {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let bridges: () => Iterable<BridgeReadiness> = () => [];
  return {
    registry,
    observeBridges(list) {
      bridges = list;
    },
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller, by result.',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue.',
      labelNames: ['name'],
      registers,
    }),
    queueAdds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue.',
      labelNames: ['name'],
      registers,
    }),
    queueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue.',
      labelNames: ['name'],
      registers,
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: '1 while this process leads, 0 while it stands by.',
      labelNames: ['name'],
      registers,
    }),
    apiWrites: new Counter({
      name: 'catchpoint_operator_api_writes_total',
      help: 'Write requests the operator sent to the API server, by verb and kind.',
      labelNames: ['verb', 'kind'],
      registers,
    }),
    apiReads: new Counter({
      name: 'catchpoint_operator_api_reads_total',
      help: 'Reads the operator sent to the API server outside its watches (a Secret is fetched for its key names, again only when its resourceVersion changes), by kind.',
      labelNames: ['kind'],
      registers,
    }),
    // Labelled bridge_namespace/bridge_name, not namespace/name: Prometheus's own `namespace`
    // target label (the operator's) would otherwise rename ours to exported_namespace.
    bridgeReady: new Gauge({
      name: 'catchpoint_operator_bridge_ready',
      help: "1 when a CatchpointBridge's Ready condition is True, 0 when it is False, Unknown or not yet reported; reason is the condition's (Paused: spec.paused). Exported by the leading operator replica only, from its cache at scrape time.",
      labelNames: ['bridge_namespace', 'bridge_name', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const b of bridges()) {
          this.set(
            { bridge_namespace: b.namespace, bridge_name: b.name, reason: b.reason },
            b.ready === 'True' ? 1 : 0,
          );
        }
      },
    }),
  };
}
