/**
 * The bridge's Prometheus metrics (prom-client), one registry per Bridge so tests can run several
 * in one process. Names are the reference for dashboards and alerts (docs/metrics.md).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { TsdbHealth } from './tsdb-health.ts';

export type PushOutcome =
  | 'accepted'
  | 'duplicate'
  | 'invalid'
  | 'unauthorized'
  | 'too_large'
  | 'refused_spool_full'
  | 'refused_spool_disk'
  | 'refused_shutting_down';

export interface BridgeMetrics {
  registry: Registry;
  pushes: Counter<'outcome'>;
  handoffsReceived: Counter<'outcome'>;
  datapointsSpooled: Counter;
  datapointsWritten: Counter;
  datapointsRejected: Counter<'reason'>;
  datapointsRetried: Counter;
  spoolRecordsSetAside: Counter;
  spoolTornTails: Counter;
  dimensionMissing: Counter<'dimension'>;
  measurementMissing: Counter<'measurement'>;
  measurementInvalid: Counter<'measurement'>;
  fieldInvalid: Counter<'field'>;
  tsdbRequestDuration: Histogram<'outcome'>;
  /** The failure going on now (status.bridge.tsdbError); counts TLS failures. */
  tsdbHealth: TsdbHealth;
  configGeneration: Gauge;
  configErrors: Counter<'reason'>;
}

export interface GaugeSources {
  spoolBytes: () => number;
  spoolRecords: () => number;
  directoryNodes: () => number;
  directoryAgeSeconds: () => number | undefined;
  lastPushAgeSeconds: () => number | undefined;
}

/** The gauges of a bridge: its spool, its node directory (while there is one), its last push. */
export function bridgeGaugeSources(
  spool: { readonly bytes: number; readonly records: number },
  directory: () => { readonly size: number; readonly lastSuccessAt: number | undefined } | undefined,
  lastPushAt: () => number | undefined,
): GaugeSources {
  const ageSeconds = (at: number | undefined) => (at === undefined ? undefined : (Date.now() - at) / 1000);
  return {
    spoolBytes: () => spool.bytes,
    spoolRecords: () => spool.records,
    directoryNodes: () => directory()?.size ?? 0,
    directoryAgeSeconds: () => ageSeconds(directory()?.lastSuccessAt),
    lastPushAgeSeconds: () => ageSeconds(lastPushAt()),
  };
}

export function createBridgeMetrics(sources: GaugeSources, withProcessMetrics = true): BridgeMetrics {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const v = read();
        if (v !== undefined) this.set(v);
      },
    });
  gauge(
    'catchpoint_bridge_spool_bytes',
    'Bytes in the write-ahead spool not yet delivered.',
    sources.spoolBytes,
  );
  gauge(
    'catchpoint_bridge_spool_datapoints',
    'Datapoints in the spool not yet delivered (estimate after a restart).',
    sources.spoolRecords,
  );
  gauge(
    'catchpoint_bridge_directory_nodes',
    'Nodes in the Catchpoint node directory.',
    sources.directoryNodes,
  );
  gauge(
    'catchpoint_bridge_directory_age_seconds',
    'Seconds since the node directory was last loaded.',
    sources.directoryAgeSeconds,
  );
  gauge(
    'catchpoint_bridge_last_push_age_seconds',
    'Seconds since the last accepted push.',
    sources.lastPushAgeSeconds,
  );
  return {
    registry,
    pushes: new Counter({
      name: 'catchpoint_bridge_pushes_total',
      help: 'Pushes received, by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    handoffsReceived: new Counter({
      name: 'catchpoint_bridge_handoffs_received_total',
      help: 'Hand-offs of undelivered points received from a stopping peer replica (POST /internal/handoff), by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    datapointsSpooled: new Counter({
      name: 'catchpoint_bridge_datapoints_spooled_total',
      help: 'Datapoints accepted into the spool.',
      registers,
    }),
    datapointsWritten: new Counter({
      name: 'catchpoint_bridge_datapoints_written_total',
      help: 'Datapoints the TSDB accepted.',
      registers,
    }),
    datapointsRejected: new Counter({
      name: 'catchpoint_bridge_datapoints_rejected_total',
      help: 'Datapoints the TSDB refused for good, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    datapointsRetried: new Counter({
      name: 'catchpoint_bridge_datapoints_retried_total',
      help: 'Datapoints sent again after a failed TSDB write.',
      registers,
    }),
    spoolRecordsSetAside: new Counter({
      name: 'catchpoint_bridge_spool_records_set_aside_total',
      help: "Spool records delivery could not read (corrupt or over-long), copied to the spool's set-aside/ folder and stepped over.",
      registers,
    }),
    spoolTornTails: new Counter({
      name: 'catchpoint_bridge_spool_torn_tails_total',
      help: 'Torn records cut off the spool on start: written when the process died mid-append, never acknowledged.',
      registers,
    }),
    dimensionMissing: new Counter({
      name: 'catchpoint_bridge_dimension_missing_total',
      help: 'Datapoints or tags left out because the node had no value for the dimension.',
      labelNames: ['dimension'],
      registers,
    }),
    measurementMissing: new Counter({
      name: 'catchpoint_bridge_measurement_missing_total',
      help: 'Pushes that did not carry a configured measurement.',
      labelNames: ['measurement'],
      registers,
    }),
    measurementInvalid: new Counter({
      name: 'catchpoint_bridge_measurement_invalid_total',
      help: 'Measurements left out because the push carried them in a shape that is not a number; the rest of the push was written.',
      labelNames: ['measurement'],
      registers,
    }),
    fieldInvalid: new Counter({
      name: 'catchpoint_bridge_field_invalid_total',
      help: 'Optional push fields (nodeName, asn, errorCode) left out because their value could not be read; the rest of the push was written.',
      labelNames: ['field'],
      registers,
    }),
    tsdbRequestDuration: new Histogram({
      name: 'catchpoint_bridge_tsdb_write_duration_seconds',
      help: 'Duration of TSDB batch writes, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    tsdbHealth: new TsdbHealth(
      new Counter({
        name: 'catchpoint_bridge_tsdb_tls_errors_total',
        help:
          'TSDB writes that failed in the TLS handshake, by endpoint and reason: untrusted, name_mismatch, ' +
          'expired, client_certificate, handshake.',
        labelNames: ['endpoint', 'reason'],
        registers,
      }),
    ),
    configGeneration: new Gauge({
      name: 'catchpoint_bridge_config_generation',
      help: 'Generation of the CatchpointBridge spec in use.',
      registers,
    }),
    configErrors: new Counter({
      name: 'catchpoint_bridge_config_errors_total',
      help: 'Config generations refused (the last good one kept running), by reason.',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/** Bounds the label set of TSDB rejection reasons: OpenTSDB messages embed names and values. */
export function rejectionReason(message: string): string {
  const m = message.toLowerCase();
  if (m.includes('unknown metric')) return 'unknown_metric';
  if (m.includes('too many tags')) return 'too_many_tags';
  if (m.includes('illegal character') || m.includes('invalid')) return 'invalid_name_or_value';
  if (m.includes('missing tags')) return 'missing_tags';
  if (m.includes('parse value') || m.includes('nan') || m.includes('empty value')) return 'invalid_value';
  if (m.includes('timestamp')) return 'invalid_timestamp';
  if (m.includes('too long') || m.includes('1024')) return 'too_long';
  return 'other';
}
