// What the code really produces, derived from the code itself, for the checks of the dashboards
// and alert rules: the OpenTSDB series the bridge writes (from the mapping functions run on a
// recorded push), the Prometheus metrics of the bridge and the operator (from their registries),
// and the string literals of the source tree (label values such as outcome="refused_spool_full").
// Renaming a metric, a tag or a label value in the code changes what these return, and the tests
// that compare the dashboards and rules with them fail.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DIMENSIONS } from '../../../src/api/schema.ts';
import { validateSpec } from '../../../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../../../src/bridge/mapping.ts';
import { createBridgeMetrics } from '../../../src/bridge/metrics.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import { decodeDatapoint } from '../../../src/opentsdb/datapoint.ts';
import { createOperatorMetrics } from '../../../src/operator/metrics.ts';
import { JINAN_NODE } from '../../fixtures/catchpoint/nodes.ts';

export const ROOT = join(import.meta.dirname, '../../..');
export const DASHBOARDS_DIR = join(ROOT, 'dashboards');
export const RULES_FILE = join(DASHBOARDS_DIR, 'prometheus-rules.yaml');
/** Where every alert's runbook_url points: a section of docs/operations.md in the repository. */
export const RUNBOOK_BASE =
  'https://github.com/catchpoint-bridge/catchpoint-bridge/blob/main/docs/operations.md';

// --- Dashboards ------------------------------------------------------------------------------

export type Json = Record<string, unknown>;

export interface Dashboard {
  file: string;
  json: Json;
}

export function loadDashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Json }));
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: Json): Json[] {
  const top = (dashboard.panels as Json[] | undefined) ?? [];
  return top.flatMap((p) => [p, ...((p.panels as Json[] | undefined) ?? [])]);
}

export function variables(dashboard: Json): Json[] {
  return ((dashboard.templating as { list?: Json[] } | undefined)?.list ?? []) as Json[];
}

export function targets(panel: Json): Json[] {
  return (panel.targets as Json[] | undefined) ?? [];
}

export const EXPRESSION_DATASOURCE = '__expr__';

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

// --- PromQL ---------------------------------------------------------------------------------

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  metric: string | undefined;
  matchers: Matcher[];
}

export interface PromQlNames {
  selectors: Selector[];
  /** Labels named in by/without/on/ignoring/group_left/group_right. */
  groupingLabels: string[];
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATIONS = ['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values'];
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
  'bottomk',
  'topk',
  'quantile',
  ...AGGREGATIONS,
  ...GROUPING,
]);

/**
 * The metric names, label matchers and grouping labels of a PromQL expression. A lexer, not a
 * parser (promtool checks the syntax): enough to find every name an expression depends on.
 */
export function promQlNames(expr: string): PromQlNames {
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i]!)) i++;
  };
  const readString = (): string => {
    const quote = expr[i]!;
    let out = '';
    i++;
    while (i < expr.length && expr[i] !== quote) {
      if (expr[i] === '\\' && quote !== '`') i++;
      out += expr[i];
      i++;
    }
    i++;
    return out;
  };
  const readMatchers = (): Matcher[] => {
    const matchers: Matcher[] = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (i >= expr.length) throw new Error(`unterminated {} in ${expr}`);
      if (expr[i] === '}') {
        i++;
        return matchers;
      }
      if (expr[i] === ',') {
        i++;
        continue;
      }
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(expr.slice(i))?.[0];
      if (label === undefined) throw new Error(`cannot read a label matcher at ${expr.slice(i)}`);
      i += label.length;
      skipSpace();
      const op = /^(=~|!~|!=|=)/.exec(expr.slice(i))?.[0] as Matcher['op'] | undefined;
      if (op === undefined) throw new Error(`no matcher operator after ${label} in ${expr}`);
      i += op.length;
      skipSpace();
      matchers.push({ label, op, value: readString() });
    }
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      readString();
    } else if (c === '[') {
      i = expr.indexOf(']', i) + 1;
      if (i === 0) throw new Error(`unterminated [] in ${expr}`);
    } else if (c === '{') {
      selectors.push({ metric: undefined, matchers: readMatchers() });
    } else if (/[0-9.]/.test(c)) {
      while (i < expr.length && /[0-9a-zA-Z_.]/.test(expr[i]!)) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))![0];
      i += ident.length;
      skipSpace();
      if (GROUPING.has(ident) && expr[i] === '(') {
        const end = expr.indexOf(')', i);
        groupingLabels.push(
          ...expr
            .slice(i + 1, end)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
        i = end + 1;
      } else if (expr[i] === '(' || KEYWORDS.has(ident)) {
        // A function or aggregation, or a keyword.
      } else {
        selectors.push({ metric: ident, matchers: expr[i] === '{' ? readMatchers() : [] });
      }
    } else {
      i++;
    }
  }
  return { selectors, groupingLabels };
}

// --- Grafana variables in queries -----------------------------------------------------------

/** Grafana's built-in variables a query may use. */
export const GRAFANA_BUILTINS = new Set([
  '__interval',
  '__interval_ms',
  '__rate_interval',
  '__range',
  '__range_s',
]);

/** Names of the `$name`, `${name}` and `${name:format}` references in a string. */
export function variableRefs(text: string): string[] {
  return [...text.matchAll(/\$(?:\{([a-zA-Z0-9_.]+)(?::[a-z]+)?\}|([a-zA-Z0-9_]+))/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

/** A dashboard PromQL expression with Grafana's variables replaced, for promtool. */
export function concretePromQl(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?[a-zA-Z0-9_]+\}?/g, '.*');
}

// --- promtool --------------------------------------------------------------------------------

const execFileAsync = promisify(execFile);

/**
 * Runs promtool (Debian package `prometheus`, /usr/bin/promtool; $PROMTOOL overrides). Missing
 * promtool is an error, not a skip: scripts/setup.sh installs it.
 */
export async function promtool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = process.env.PROMTOOL ?? 'promtool';
  try {
    const { stdout, stderr } = await execFileAsync(bin, args, { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${bin} not found: install Debian's prometheus package (apt-get install prometheus), which ships /usr/bin/promtool`,
      );
    }
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

// --- Markdown -----------------------------------------------------------------------------

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown document's headings (duplicates get -1, -2, ... as on GitHub). */
export function markdownAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m === null) continue;
    const slug = githubSlug(m[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}
