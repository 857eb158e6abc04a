// What the code really produces, derived from the code itself, for the checks of the dashboards
// and alert rules: the OpenTSDB series the bridge writes (from the mapping functions run on a
// recorded push), the Prometheus metrics of the bridge and the operator (from their registries),
// and the string literals of the source tree (label values such as outcome="refused_spool_full").
// Renaming a metric, a tag or a label value in the code changes what these return, and the tests
// that compare the dashboards and rules with them fail.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIMENSIONS } from '../../src/api/schema.ts';
import { validateSpec } from '../../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../../src/bridge/mapping.ts';
import { createBridgeMetrics } from '../../src/bridge/metrics.ts';
import { parsePush } from '../../src/catchpoint/push.ts';
import { decodeDatapoint } from '../../src/opentsdb/datapoint.ts';
import { createOperatorMetrics } from '../../src/operator/metrics.ts';
import { JINAN_NODE } from '../fixtures/catchpoint/nodes.ts';

export const ROOT = join(import.meta.dirname, '../..');
// --- The OpenTSDB series the bridge writes ----------------------------------------------------

const NODE = JINAN_NODE;

export interface SeriesShape {
  /** Tag keys on the series. */
  tagKeys: Set<string>;
  /** Tag key → every value seen (status: ok and error). */
  tagValues: Map<string, Set<string>>;
}

export interface WrittenSeries {
  /** naming.prefix the names were made with (the default). */
  prefix: string;
  /** The fixture's test id, which `$testid` stands for in the patterns. */
  testId: string;
  /** Metric name with the test id replaced by `$testid` → its tags. */
  series: Map<string, SeriesShape>;
}

/**
 * The series a bridge with every dimension and the measurements the dashboards use writes for the
 * recorded push (test/fixtures/catchpoint/dns-direct-v3.json), once as a successful run and once
 * as a failed one.
 */
export function writtenSeries(layout: 'seed' | 'tags'): WrittenSeries {
  const spec = validateSpec({
    catchpoint: { credentialsSecretRef: { name: 'catchpoint-api' } },
    // Every dimension in the tags layout is more tags than OpenTSDB's default 8.
    tsdb: { endpoints: ['http://opentsdb:4242'], maxTags: 16 },
    dimensions: [...DIMENSIONS],
    measurements: ['rtt', 'status', 'error'],
    naming: { layout },
  });
  const plan = buildMappingPlan(spec);
  const body = readFileSync(join(ROOT, 'test/fixtures/catchpoint/dns-direct-v3.json'), 'utf8');
  const failedBody = JSON.parse(body) as { Summary: Record<string, unknown> };
  failedBody.Summary.Error = { Code: 12029 };
  const ok = parsePush(body, { type: 'json' });
  const failed = parsePush(JSON.stringify(failedBody), { type: 'json' });
  const series = new Map<string, SeriesShape>();
  for (const push of [ok, failed]) {
    for (const line of mapPush(push, NODE, plan, newMappingStats())) {
      const point = decodeDatapoint(line);
      const name = point.metric.split(push.testId).join('$testid');
      let shape = series.get(name);
      if (shape === undefined) {
        shape = { tagKeys: new Set(), tagValues: new Map() };
        series.set(name, shape);
      }
      for (const [key, value] of Object.entries(point.tags)) {
        shape.tagKeys.add(key);
        let values = shape.tagValues.get(key);
        if (values === undefined) {
          values = new Set();
          shape.tagValues.set(key, values);
        }
        values.add(value);
      }
    }
  }
  return { prefix: spec.naming.prefix, testId: ok.testId, series };
}

// --- The Prometheus metrics of the bridge and the operator ------------------------------------

export interface PromMetric {
  name: string;
  type: string;
  help: string;
  labelNames: string[];
}

/** The product's own metrics (not prom-client's process_* and nodejs_* defaults). */
export async function promMetrics(): Promise<Map<string, PromMetric>> {
  const bridge = createBridgeMetrics(
    {
      spoolBytes: () => 0,
      spoolRecords: () => 0,
      directoryNodes: () => 0,
      directoryAgeSeconds: () => 0,
      lastPushAgeSeconds: () => 0,
    },
    false,
  );
  const operator = createOperatorMetrics(false);
  const out = new Map<string, PromMetric>();
  for (const registry of [bridge.registry, operator.registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] };
      out.set(m.name, {
        name: m.name,
        type: String(m.type),
        help: m.help,
        labelNames: [...(metric.labelNames ?? [])],
      });
    }
  }
  return out;
}

/** The names a metric is exposed under: a histogram's _bucket, _sum and _count series. */
export function exposedNames(metrics: Map<string, PromMetric>): Map<string, PromMetric> {
  const out = new Map<string, PromMetric>();
  for (const m of metrics.values()) {
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, { ...m, labelNames: [...m.labelNames, 'le'] });
      out.set(`${m.name}_sum`, m);
      out.set(`${m.name}_count`, m);
    } else {
      out.set(m.name, m);
    }
  }
  return out;
}

/**
 * Labels a scrape adds (Prometheus Operator's ServiceMonitor/PodMonitor and the usual Kubernetes
 * scrape configs), plus `catchpointbridge`, which the chart's bridge PodMonitor copies from the
 * pod label app.kubernetes.io/instance.
 */
export const SCRAPE_LABELS = new Set([
  'namespace',
  'pod',
  'container',
  'instance',
  'job',
  'endpoint',
  'service',
  'catchpointbridge',
]);

// --- The source tree ----------------------------------------------------------------------

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every file under src/, with its text. */
export function sourceTree(): Array<{ path: string; text: string }> {
  return sourceFiles(join(ROOT, 'src')).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

/** Every simple quoted string literal in src/ (label values must be one of these). */
export function sourceStringLiterals(): Set<string> {
  const out = new Set<string>();
  for (const { text } of sourceTree()) {
    for (const m of text.matchAll(/(['"`])([-\w.:/]+)\1/g)) out.add(m[2]!);
  }
  return out;
}
