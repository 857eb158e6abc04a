/**
 * Operator metrics, named as controller-runtime names them so existing dashboards and alerts for
 * Go operators work unchanged, plus a count of API writes (what a reconcile costs).
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
}

export function createOperatorMetrics(withProcessMetrics = true): OperatorMetrics {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
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
      help: 'Reads the operator sent to the API server outside its watches (Secrets are fetched, never cached), by kind.',
      labelNames: ['kind'],
      registers,
    }),
  };
}
