// The chart's files that need no helm binary: the version it installs, and a README that
// documents exactly the values there are. (helm lint, the schema and rendering are in
// test/e2e/chart/.)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../../..');
const CHART = join(ROOT, 'charts/catchpoint-bridge');

/** Dotted paths of values.yaml's leaves; `resources` and empty maps/lists count as one value. */
function leafPaths(value: unknown, path = ''): string[] {
  const isMap = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isMap || Object.keys(value).length === 0 || path.endsWith('.resources')) return [path];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, path ? `${path}.${key}` : key));
}

describe('chart', () => {
  it("Chart.yaml's appVersion is package.json's version (the image tag the chart defaults to)", async () => {
    const chart = parse(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
      kubeVersion: string;
    };
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(chart.kubeVersion, '>=1.29.0-0');
  });

  it("the README's values table lists every value in values.yaml, and no other", async () => {
    const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as unknown;
    const readme = await readFile(join(CHART, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented, leafPaths(values));
  });

  it('every value in values.yaml is described by a comment', async () => {
    const lines = (await readFile(join(CHART, 'values.yaml'), 'utf8')).split('\n');
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      // A leaf: `key: value` (not a parent `key:`), not inside a list nor an example default
      // like operator.resources (deeper than two levels).
      const leaf = /^( {0,4})([A-Za-z][\w]*): \S/.exec(line);
      if (leaf === null) return;
      const previous = lines[i - 1]?.trim() ?? '';
      if (!previous.startsWith('#')) undocumented.push(`${i + 1}: ${line.trim()}`);
    });
    assert.deepEqual(undocumented, []);
  });
});
