// The metric names the docs mention are metrics the code exports, and docs/metrics.md's label
// value table covers every labelled metric.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exposedNames, promMetrics, ROOT } from '../../support/product.ts';

const DOCS = [
  'docs/metrics.md',
  'docs/operations.md',
  'docs/errors.md',
  'docs/reference.md',
  'docs/alerting-bosun.md',
  'dashboards/README.md',
];
const NAME =
  /\b(?:catchpoint_bridge|catchpoint_operator|controller_runtime|workqueue|leader_election)_[a-z_]*[a-z]\b/g;

describe('metrics', () => {
  it('every metric name in the docs is one the bridge or the operator exports', async () => {
    const metrics = await promMetrics();
    const known = new Set([...metrics.keys(), ...exposedNames(metrics).keys()]);
    const unknown: string[] = [];
    for (const path of DOCS) {
      for (const m of readFileSync(join(ROOT, path), 'utf8').matchAll(NAME)) {
        if (!known.has(m[0])) unknown.push(`${path}: ${m[0]}`);
      }
    }
    assert.deepEqual(unknown, []);
  });

  it("docs/metrics.md's label values table has a row for every metric with labels", async () => {
    const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
    const table = doc.slice(doc.indexOf('## Label values'));
    for (const m of (await promMetrics()).values()) {
      for (const label of m.labelNames) {
        const row = table.split('\n').find((line) => {
          const [metric = '', labels = ''] = line.split(' | ');
          const names = [...metric.matchAll(/`([a-z_*]+)`/g)].map((x) => x[1]!);
          const covers = names.some(
            (n) => n === m.name || (n.endsWith('*') && m.name.startsWith(n.slice(0, -1))),
          );
          return covers && labels.includes(`\`${label}\``);
        });
        assert.ok(row, `no label values row for ${m.name}{${label}}`);
      }
    }
  });
});
