// The Helm chart's monitoring objects, rendered by the real helm (scripts/control-plane/build.sh):
// the dashboard ConfigMaps, the PrometheusRule (its spec passes promtool) and the bridge
// PodMonitor, all off by default, and their copies under files/ matching dashboards/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  selectorLabels,
} from '../../../src/operator/catchpoint-bridge/desired.ts';
import { CHART_DIR, find, helm, type K8sObject, ok, renderChart } from '../../support/chart.ts';
import { SCRAPE_LABELS } from '../../support/product.ts';
import { DASHBOARDS_DIR, promtool, RULES_FILE, RUNBOOK_BASE } from './support.ts';

const MONITORING_APIS = [
  '--api-versions',
  'monitoring.coreos.com/v1/PrometheusRule',
  '--api-versions',
  'monitoring.coreos.com/v1/PodMonitor',
];
const dashboardFiles = readdirSync(DASHBOARDS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{ alert: string; labels: Record<string, string>; annotations: Record<string, string> }>;
  }>;
}

describe('chart', () => {
  it("the chart's files/ hold a copy of every dashboard and of the rules, and nothing else", () => {
    assert.deepEqual(readdirSync(join(CHART_DIR, 'files/dashboards')).sort(), dashboardFiles);
    assert.deepEqual(readdirSync(join(CHART_DIR, 'files')).sort(), ['dashboards', 'prometheus-rules.yaml']);
  });

  it('off by default: no dashboard ConfigMap, PrometheusRule or PodMonitor', async () => {
    const { objects } = await renderChart();
    assert.deepEqual(find(objects, 'PrometheusRule'), []);
    assert.deepEqual(find(objects, 'PodMonitor'), []);
    assert.deepEqual(
      find(objects, 'ConfigMap').filter((c) => c.metadata.name.includes('dashboard')),
      [],
    );
  });

  it('helm lint --strict passes with the dashboards on', async () => {
    const out = await ok(
      helm(['lint', '--strict', CHART_DIR, '--set', 'dashboards.enabled=true']),
      'helm lint',
    );
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
});

describe('dashboards.enabled', () => {
  it('one ConfigMap per dashboard, labelled for the Grafana sidecar, holding the JSON unchanged', async () => {
    const { objects } = await renderChart(['--set', 'dashboards.enabled=true']);
    const maps = find(objects, 'ConfigMap').filter((c) => c.metadata.name.includes('-dashboard-'));
    assert.deepEqual(
      maps.map((m) => m.metadata.name).sort(),
      dashboardFiles.map((f) => `cpb-catchpoint-bridge-dashboard-${f.replace(/\.json$/, '')}`),
    );
    for (const m of maps) {
      assert.equal(m.metadata.namespace, 'cpb-system');
      assert.equal(m.metadata.labels?.grafana_dashboard, '1');
      const data = m.data as Record<string, string>;
      const [key, ...more] = Object.keys(data);
      assert.equal(more.length, 0);
      assert.ok(key && dashboardFiles.includes(key));
      assert.equal(data[key], readFileSync(join(DASHBOARDS_DIR, key), 'utf8'));
    }
  });

  it('namespace, label, label value and annotations are configurable', async () => {
    const { objects } = await renderChart([
      '--set',
      'dashboards.enabled=true',
      '--set',
      'dashboards.namespace=grafana',
      '--set',
      'dashboards.label=example.com/dashboard',
      '--set-string',
      'dashboards.labelValue=catchpoint',
      '--set',
      'dashboards.annotations.grafana_folder=Catchpoint',
    ]);
    const maps = find(objects, 'ConfigMap').filter((c) => c.metadata.name.includes('-dashboard-'));
    assert.equal(maps.length, dashboardFiles.length);
    for (const m of maps) {
      assert.equal(m.metadata.namespace, 'grafana');
      assert.equal(m.metadata.labels?.['example.com/dashboard'], 'catchpoint');
      assert.equal(m.metadata.labels?.grafana_dashboard, undefined);
      assert.deepEqual(m.metadata.annotations, { grafana_folder: 'Catchpoint' });
    }
  });
});

describe('prometheusRule.enabled', () => {
  it('needs the PrometheusRule API, and says so', async () => {
    const r = await helm(['template', 'cpb', CHART_DIR, '--set', 'prometheusRule.enabled=true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /needs the monitoring\.coreos\.com\/v1 PrometheusRule CRD/);
  });

  it('its spec is dashboards/prometheus-rules.yaml and passes promtool check rules', async () => {
    const { objects } = await renderChart(['--set', 'prometheusRule.enabled=true', ...MONITORING_APIS]);
    const [rule, ...more] = find(objects, 'PrometheusRule');
    assert.ok(rule);
    assert.equal(more.length, 0);
    assert.equal(rule.metadata.namespace, 'cpb-system');
    assert.deepEqual(rule.spec, parse(readFileSync(RULES_FILE, 'utf8')));
    const dir = await mkdtemp(join(tmpdir(), 'chart-rules-'));
    try {
      const file = join(dir, 'spec.yaml');
      await writeFile(file, stringify(rule.spec));
      const r = await promtool(['check', 'rules', file]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('alertLabels and runbookBaseURL apply to every alert; labels to the object', async () => {
    const { objects } = await renderChart([
      '--set',
      'prometheusRule.enabled=true',
      '--set',
      'prometheusRule.labels.release=prometheus',
      '--set',
      'prometheusRule.alertLabels.team=network',
      '--set',
      'prometheusRule.runbookBaseURL=https://wiki.example.com/catchpoint-bridge/operations',
      ...MONITORING_APIS,
    ]);
    const [rule] = find(objects, 'PrometheusRule') as Array<K8sObject & { spec: RuleFile }>;
    assert.ok(rule);
    assert.equal(rule.metadata.labels?.release, 'prometheus');
    const source = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    assert.equal(alerts.length, source.groups.flatMap((g) => g.rules).length);
    for (const a of alerts) {
      assert.equal(a.labels.team, 'network');
      assert.ok(a.labels.severity, `${a.alert} keeps its severity`);
      assert.equal(
        a.annotations.runbook_url,
        `https://wiki.example.com/catchpoint-bridge/operations#${a.alert.toLowerCase()}`,
      );
      assert.ok(!a.annotations.runbook_url.startsWith(RUNBOOK_BASE));
    }
  });
});

describe('bridgePodMonitor.enabled', () => {
  it('needs the PodMonitor API, and says so', async () => {
    const r = await helm(['template', 'cpb', CHART_DIR, '--set', 'bridgePodMonitor.enabled=true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /needs the monitoring\.coreos\.com\/v1 PodMonitor CRD/);
  });

  it("selects the operator's bridge pods in every namespace and labels their series with the CR's name", async () => {
    const { objects } = await renderChart(['--set', 'bridgePodMonitor.enabled=true', ...MONITORING_APIS]);
    const [monitor] = find(objects, 'PodMonitor');
    assert.ok(monitor);
    const spec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: Record<string, unknown>;
      podMetricsEndpoints: Array<Record<string, unknown>>;
    };
    // The labels the operator puts on every bridge pod, less the per-CR instance label.
    const podLabels: Record<string, string> = {
      ...selectorLabels({ metadata: { name: 'x', namespace: 'y' } } as Parameters<typeof selectorLabels>[0]),
      [MANAGED_BY_LABEL]: MANAGED_BY,
    };
    delete podLabels['app.kubernetes.io/instance'];
    assert.deepEqual(spec.selector.matchLabels, podLabels);
    assert.deepEqual(spec.namespaceSelector, { any: true });
    const [endpoint] = spec.podMetricsEndpoints;
    assert.ok(endpoint);
    assert.equal(endpoint.port, 'http');
    assert.equal(endpoint.path, '/metrics');
    const relabel = (endpoint.relabelings as Array<Record<string, unknown>>)[0];
    assert.deepEqual(relabel?.sourceLabels, ['__meta_kubernetes_pod_label_app_kubernetes_io_instance']);
    assert.ok(SCRAPE_LABELS.has(String(relabel?.targetLabel)), 'the label the dashboards and rules use');
  });

  it('with watchNamespaces, only those namespaces', async () => {
    const { objects } = await renderChart([
      '--set',
      'bridgePodMonitor.enabled=true',
      '--set',
      'watchNamespaces={team-a,team-b}',
      ...MONITORING_APIS,
    ]);
    const [monitor] = find(objects, 'PodMonitor');
    assert.ok(monitor);
    assert.deepEqual((monitor.spec as { namespaceSelector: unknown }).namespaceSelector, {
      matchNames: ['team-a', 'team-b'],
    });
  });
});

describe('values.schema.json rejects', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'a runbook base that is no URL',
      ['--set', 'prometheusRule.runbookBaseURL=docs/operations.md'],
      /runbookBaseURL/,
    ],
    [
      'an alert label that is no Prometheus label',
      ['--set', 'prometheusRule.alertLabels.bad-name=x'],
      /'bad-name' does not match/,
    ],
    ['a dashboard label value Kubernetes refuses', ['--set', 'dashboards.labelValue=not ok'], /labelValue/],
    ['an unknown key', ['--set', 'dashboards.folder=x'], /additional properties 'folder' not allowed/],
  ];
  for (const [name, flags, message] of cases) {
    it(name, async () => {
      const r = await helm(['template', 'cpb', CHART_DIR, ...flags]);
      assert.notEqual(r.code, 0, 'helm template must fail');
      assert.match(r.stderr, message);
    });
  }
});
