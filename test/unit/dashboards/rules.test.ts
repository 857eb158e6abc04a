// The alert rules in dashboards/prometheus-rules.yaml: valid for Prometheus (`promtool check
// rules`), each alert fires in its scenario and none fires for a healthy bridge (`promtool test
// rules`), every metric, label and label value is one the code exports, and every alert has a
// runbook in docs/operations.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { markdownAnchors } from '../../support/markdown.ts';
import {
  exposedNames,
  promMetrics,
  ROOT,
  SCRAPE_LABELS,
  sourceStringLiterals,
} from '../../support/product.ts';
import { promQlNames, promtool, RULES_FILE, RUNBOOK_BASE } from './support.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

const ruleFile = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
const alerts = ruleFile.groups.flatMap((g) => g.rules);

describe('rules', () => {
  it('promtool check rules accepts the file', async () => {
    const r = await promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  describe('every alert', () => {
    it('is an alert (no recording rules), with a unique CatchpointBridge* name', () => {
      const names = alerts.map((a) => a.alert);
      assert.ok(
        names.every((n) => typeof n === 'string' && /^CatchpointBridge[A-Za-z]+$/.test(n)),
        String(names),
      );
      assert.equal(new Set(names).size, names.length);
    });

    it('has a severity, a summary, a description and a runbook_url into docs/operations.md', () => {
      const anchors = markdownAnchors(readFileSync(join(ROOT, 'docs/operations.md'), 'utf8'));
      for (const a of alerts) {
        assert.ok(['warning', 'critical'].includes(a.labels?.severity ?? ''), `${a.alert}: severity`);
        assert.ok((a.annotations?.summary ?? '').length > 10, `${a.alert}: summary`);
        assert.ok((a.annotations?.description ?? '').length > 20, `${a.alert}: description`);
        const url = a.annotations?.runbook_url ?? '';
        assert.ok(
          url.startsWith(`${RUNBOOK_BASE}#`),
          `${a.alert}: runbook_url ${url} is under ${RUNBOOK_BASE}`,
        );
        const anchor = url.slice(RUNBOOK_BASE.length + 1);
        assert.equal(
          anchor,
          a.alert!.toLowerCase(),
          `${a.alert}: the runbook section is named after the alert`,
        );
        assert.ok(anchors.has(anchor), `${a.alert}: docs/operations.md has no section #${anchor}`);
      }
    });

    it('names only metrics, labels and label values the bridge and the operator export', async () => {
      const metrics = exposedNames(await promMetrics());
      const literals = sourceStringLiterals();
      for (const a of alerts) {
        const names = promQlNames(a.expr);
        const labelsInUse = new Set<string>(SCRAPE_LABELS);
        for (const s of names.selectors) {
          assert.ok(s.metric, `${a.alert}: a selector without a metric name`);
          const m = metrics.get(s.metric);
          assert.ok(m, `${a.alert}: ${s.metric} is not a metric of the bridge or the operator`);
          for (const l of m.labelNames) labelsInUse.add(l);
          for (const matcher of s.matchers) {
            assert.ok(
              m.labelNames.includes(matcher.label) || SCRAPE_LABELS.has(matcher.label),
              `${a.alert}: ${s.metric} has no label ${matcher.label}`,
            );
            if (SCRAPE_LABELS.has(matcher.label)) continue;
            for (const value of matcher.op.endsWith('~') ? matcher.value.split('|') : [matcher.value]) {
              assert.ok(
                literals.has(value),
                `${a.alert}: ${matcher.label}="${value}" appears nowhere in src/`,
              );
            }
          }
        }
        for (const l of names.groupingLabels) {
          assert.ok(labelsInUse.has(l), `${a.alert}: groups by ${l}, a label none of its metrics has`);
        }
        // Annotations may only use labels the expression keeps.
        for (const text of Object.values(a.annotations ?? {})) {
          for (const m of text.matchAll(/\$labels\.([a-z_]+)/g)) {
            assert.ok(labelsInUse.has(m[1]!), `${a.alert}: annotation uses $labels.${m[1]}`);
          }
        }
      }
    });
  });

  // --- promtool test rules ------------------------------------------------------------------------

  const BRIDGE = { namespace: 'monitoring', catchpointbridge: 'dns-perf' };
  const POD = { ...BRIDGE, pod: 'cpb-dns-perf-7d9c-abcde' };
  const OPERATOR = { namespace: 'cpb-system' };

  function series(name: string, labels: Record<string, string>, values: string) {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',');
    return { series: `${name}{${l}}`, values };
  }

  interface Expectation {
    eval_time: string;
    alertname: string;
    exp_alerts: Array<{ exp_labels: Record<string, string> }>;
  }
  interface Scenario {
    name: string;
    input_series: Array<{ series: string; values: string }>;
    alert_rule_test: Expectation[];
  }

  const firing = (
    alertname: string,
    at: string,
    severity: string,
    labels: Record<string, string>,
  ): Expectation => ({
    eval_time: at,
    alertname,
    exp_alerts: [{ exp_labels: { severity, ...labels } }],
  });
  const silent = (alertname: string, at: string): Expectation => ({
    eval_time: at,
    alertname,
    exp_alerts: [],
  });

  const scenarios: Scenario[] = [
    {
      name: 'the spool is full: pushes refused with 503',
      input_series: [
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'refused_spool_full' }, '0+10x30'),
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'accepted' }, '0+10x30'),
      ],
      alert_rule_test: [
        silent('CatchpointBridgeSpoolFull', '3m'),
        firing('CatchpointBridgeSpoolFull', '15m', 'critical', BRIDGE),
      ],
    },
    {
      name: 'the spool grows past 16 MiB',
      input_series: [series('catchpoint_bridge_spool_bytes', POD, '20000000+100000x60')],
      alert_rule_test: [
        silent('CatchpointBridgeSpoolGrowing', '10m'),
        firing('CatchpointBridgeSpoolGrowing', '40m', 'warning', POD),
      ],
    },
    {
      name: 'a small spool that does not grow is fine',
      input_series: [series('catchpoint_bridge_spool_bytes', POD, '20000000+0x60')],
      alert_rule_test: [silent('CatchpointBridgeSpoolGrowing', '40m')],
    },
    {
      name: 'the TSDB takes nothing while the spool holds data',
      input_series: [
        series('catchpoint_bridge_datapoints_written_total', POD, '100+0x60'),
        series('catchpoint_bridge_spool_bytes', POD, '5000+1000x60'),
      ],
      alert_rule_test: [firing('CatchpointBridgeDeliveryStalled', '40m', 'critical', POD)],
    },
    {
      name: 'TSDB writes fail and are retried',
      input_series: [
        series('catchpoint_bridge_tsdb_write_duration_seconds_count', { ...POD, outcome: 'error' }, '0+5x60'),
        series('catchpoint_bridge_tsdb_write_duration_seconds_count', { ...POD, outcome: 'ok' }, '0+5x60'),
      ],
      alert_rule_test: [firing('CatchpointBridgeTsdbWriteErrors', '30m', 'warning', POD)],
    },
    {
      name: 'OpenTSDB answers "Unknown metric"',
      input_series: [
        series('catchpoint_bridge_datapoints_rejected_total', { ...POD, reason: 'unknown_metric' }, '0+3x30'),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeTsdbUnknownMetric', '10m', 'critical', BRIDGE),
        silent('CatchpointBridgeTsdbRejectingPoints', '20m'),
      ],
    },
    {
      name: 'OpenTSDB refuses points for another reason',
      input_series: [
        series('catchpoint_bridge_datapoints_rejected_total', { ...POD, reason: 'too_many_tags' }, '0+1x30'),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeTsdbRejectingPoints', '15m', 'warning', {
          ...BRIDGE,
          reason: 'too_many_tags',
        }),
        silent('CatchpointBridgeTsdbUnknownMetric', '15m'),
      ],
    },
    {
      name: 'the node directory is not reloaded for over two hours',
      input_series: [series('catchpoint_bridge_directory_age_seconds', POD, '7000+60x60')],
      alert_rule_test: [
        silent('CatchpointBridgeDirectoryStale', '5m'),
        firing('CatchpointBridgeDirectoryStale', '20m', 'warning', POD),
      ],
    },
    {
      name: 'the node directory never loaded',
      input_series: [series('catchpoint_bridge_directory_nodes', POD, '0x60')],
      alert_rule_test: [firing('CatchpointBridgeDirectoryEmpty', '40m', 'warning', POD)],
    },
    {
      name: 'a third of the pushes carry a wrong token',
      input_series: [
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'accepted' }, '0+10x60'),
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'unauthorized' }, '0+5x60'),
      ],
      alert_rule_test: [
        firing('CatchpointBridgePushesUnauthorized', '40m', 'warning', BRIDGE),
        silent('CatchpointBridgePushesInvalid', '40m'),
      ],
    },
    {
      name: 'a sixth of the pushes are unreadable',
      input_series: [
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'accepted' }, '0+10x60'),
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'invalid' }, '0+2x60'),
      ],
      alert_rule_test: [
        firing('CatchpointBridgePushesInvalid', '40m', 'warning', BRIDGE),
        silent('CatchpointBridgePushesUnauthorized', '40m'),
      ],
    },
    {
      name: 'nothing is pushed',
      input_series: [series('catchpoint_bridge_datapoints_spooled_total', POD, '1200+0x90')],
      alert_rule_test: [firing('CatchpointBridgeNoPushes', '80m', 'warning', BRIDGE)],
    },
    {
      name: 'a new config generation is refused',
      input_series: [
        series(
          'catchpoint_bridge_config_errors_total',
          { ...POD, reason: 'CPB_ERR_SECRET_MISSING' },
          '0 0 1 1 1 1 1 1',
        ),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeConfigRefused', '5m', 'warning', {
          ...BRIDGE,
          reason: 'CPB_ERR_SECRET_MISSING',
        }),
      ],
    },
    {
      name: 'the operator keeps failing to reconcile',
      input_series: [
        series(
          'controller_runtime_reconcile_errors_total',
          { ...OPERATOR, pod: 'op-a', controller: 'catchpointbridge' },
          '0+1x60',
        ),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeOperatorReconcileErrors', '30m', 'warning', {
          ...OPERATOR,
          controller: 'catchpointbridge',
        }),
      ],
    },
    {
      name: 'no operator replica leads',
      input_series: [
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-a', name: 'catchpoint-bridge-operator' },
          '0x30',
        ),
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-b', name: 'catchpoint-bridge-operator' },
          '0x30',
        ),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeOperatorNoLeader', '10m', 'warning', OPERATOR),
        silent('CatchpointBridgeOperatorSplitBrain', '10m'),
      ],
    },
    {
      name: 'two operator replicas lead',
      input_series: [
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-a', name: 'catchpoint-bridge-operator' },
          '1x30',
        ),
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-b', name: 'catchpoint-bridge-operator' },
          '1x30',
        ),
      ],
      alert_rule_test: [
        firing('CatchpointBridgeOperatorSplitBrain', '10m', 'warning', OPERATOR),
        silent('CatchpointBridgeOperatorNoLeader', '10m'),
      ],
    },
    {
      name: 'a CatchpointBridge stays not Ready; a paused one is left out',
      input_series: [
        // Missing Secret for 20 minutes, then fixed; another bridge paused throughout.
        series(
          'catchpoint_operator_bridge_ready',
          {
            ...OPERATOR,
            pod: 'op-a',
            bridge_namespace: 'monitoring',
            bridge_name: 'dns-perf',
            reason: 'SecretNotFound',
          },
          '0x20',
        ),
        series(
          'catchpoint_operator_bridge_ready',
          {
            ...OPERATOR,
            pod: 'op-a',
            bridge_namespace: 'monitoring',
            bridge_name: 'dns-perf',
            reason: 'Ready',
          },
          '_x20 1x30',
        ),
        series(
          'catchpoint_operator_bridge_ready',
          { ...OPERATOR, pod: 'op-a', bridge_namespace: 'monitoring', bridge_name: 'web', reason: 'Paused' },
          '0x50',
        ),
      ],
      alert_rule_test: [
        silent('CatchpointBridgeNotReady', '10m'),
        firing('CatchpointBridgeNotReady', '18m', 'warning', {
          bridge_namespace: 'monitoring',
          bridge_name: 'dns-perf',
        }),
        silent('CatchpointBridgeNotReady', '45m'),
      ],
    },
    {
      name: 'a healthy bridge and operator raise nothing',
      input_series: [
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'accepted' }, '0+10x180'),
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'duplicate' }, '0+1x180'),
        series('catchpoint_bridge_pushes_total', { ...POD, outcome: 'invalid' }, '0+0.01x180'),
        series('catchpoint_bridge_datapoints_spooled_total', POD, '0+120x180'),
        series('catchpoint_bridge_datapoints_written_total', POD, '0+120x180'),
        series('catchpoint_bridge_spool_bytes', POD, '0 2000 0 1500 0 0 3000 0x173'),
        series('catchpoint_bridge_tsdb_write_duration_seconds_count', { ...POD, outcome: 'ok' }, '0+5x180'),
        series('catchpoint_bridge_directory_nodes', POD, '260x180'),
        series('catchpoint_bridge_directory_age_seconds', POD, '0+60x59 0+60x59 0+60x59 0'),
        series('catchpoint_bridge_config_errors_total', { ...POD, reason: 'apply' }, '1x180'),
        series(
          'controller_runtime_reconcile_errors_total',
          { ...OPERATOR, controller: 'catchpointbridge' },
          '3x180',
        ),
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-a', name: 'catchpoint-bridge-operator' },
          '1x180',
        ),
        series(
          'leader_election_master_status',
          { ...OPERATOR, pod: 'op-b', name: 'catchpoint-bridge-operator' },
          '0x180',
        ),
        series(
          'catchpoint_operator_bridge_ready',
          {
            ...OPERATOR,
            pod: 'op-a',
            bridge_namespace: 'monitoring',
            bridge_name: 'dns-perf',
            reason: 'Ready',
          },
          '1x180',
        ),
      ],
      alert_rule_test: alerts.map((a) => silent(a.alert!, '170m')),
    },
  ];

  it('every alert has a scenario in which it fires', () => {
    const fired = new Set(
      scenarios.flatMap((s) =>
        s.alert_rule_test.filter((e) => e.exp_alerts.length > 0).map((e) => e.alertname),
      ),
    );
    assert.deepEqual([...fired].sort(), alerts.map((a) => a.alert!).sort());
  });

  it('promtool test rules: each alert fires in its scenario, with its labels, and only then', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alert-rules-test-'));
    try {
      // Annotations are compared verbatim by promtool; check rules already parsed their templates,
      // so the scenarios compare the labels only.
      const withoutAnnotations: RuleFile = {
        groups: ruleFile.groups.map((g) => ({
          ...g,
          rules: g.rules.map(({ annotations: _, ...rule }) => rule),
        })),
      };
      await writeFile(join(dir, 'rules.yaml'), stringify(withoutAnnotations));
      const tests = {
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: scenarios.map(({ name, ...s }) => ({ name, interval: '1m', ...s })),
      };
      await writeFile(join(dir, 'tests.yaml'), stringify(tests));
      const r = await promtool(['test', 'rules', join(dir, 'tests.yaml')]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
