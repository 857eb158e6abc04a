/**
 * Reports what the operator and users need from a running bridge into its CatchpointBridge's
 * `status.bridge` (the operator never writes that field: server-side apply keeps the two field
 * managers apart, so they never fight). Rate-limited and only on change: no status write per
 * push. Times are truncated to the minute so steady traffic writes at most once a minute.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_GROUP, API_VERSION, KIND, PLURAL } from '../api/schema.ts';
import type { BridgeReport } from '../api/types.ts';
import { applyStatus } from '../kube/apply.ts';
import { describeKubeError } from '../kube/errors.ts';
import type { Bridge } from './bridge.ts';

export const BRIDGE_FIELD_MANAGER = 'catchpoint-bridge';

export interface StatusReporterOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  bridge: Bridge;
  logger: Logger;
  intervalMs?: number;
}

const toMinute = (ms: number | undefined) =>
  ms === undefined
    ? undefined
    : new Date(Math.floor(ms / 60_000) * 60_000).toISOString().replace('.000Z', 'Z');

export function bridgeReport(bridge: Bridge): BridgeReport {
  const report: BridgeReport = {
    configGeneration: bridge.config.generation,
    directorySize: bridge.directory?.size ?? 0,
  };
  const dirAt = toMinute(bridge.directory?.lastSuccessAt);
  if (dirAt !== undefined) report.directoryUpdatedAt = dirAt;
  const pushAt = toMinute(bridge.lastPushAt);
  if (pushAt !== undefined) report.lastPushAt = pushAt;
  // Left out once writes succeed: server-side apply then removes it from the status.
  const tsdbError = bridge.metrics.tsdbHealth.error;
  if (tsdbError !== undefined) report.tsdbError = { ...tsdbError };
  return report;
}

/** Starts reporting; returns a function that stops it. */
export function startStatusReporter(o: StatusReporterOptions): () => void {
  let last = '';
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    const report = bridgeReport(o.bridge);
    const text = JSON.stringify(report);
    try {
      if (text !== last) {
        await applyStatus(
          o.kc,
          {
            apiVersion: `${API_GROUP}/${API_VERSION}`,
            kind: KIND,
            plural: PLURAL,
            namespace: o.namespace,
            name: o.name,
            status: { bridge: report },
          },
          { fieldManager: BRIDGE_FIELD_MANAGER, force: true },
        );
        last = text;
      }
    } catch (err) {
      o.logger.warn(describeKubeError(err), 'could not report status; will retry');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), o.intervalMs ?? 5_000);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}
