// The Grafana dashboards in dashboards/: well-formed (schema version, ids, layout, data source
// variables), and every query names a series, tag, metric or label the code really writes. The
// names are derived from the code (support.ts): renaming a metric, a tag or a label value in src/
// fails these tests until the dashboards follow.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import {
  exposedNames,
  promMetrics,
  SCRAPE_LABELS,
  sourceStringLiterals,
  writtenSeries,
} from '../../support/product.ts';
import {
  allPanels,
  concretePromQl,
  DASHBOARDS_DIR,
  type Dashboard,
  EXPRESSION_DATASOURCE,
  GRAFANA_BUILTINS,
  type Json,
  loadDashboards,
  promQlNames,
  promtool,
  targets,
  variableRefs,
  variables,
} from './support.ts';

const dashboards = loadDashboards();
const byFile = (file: string): Dashboard => {
  const d = dashboards.find((x) => x.file === file);
  assert.ok(d, `dashboards/${file} exists`);
  return d;
};

/** Which naming layout each OpenTSDB dashboard is written for. */
const OPENTSDB_LAYOUTS: Record<string, 'seed' | 'tags'> = {
  'network-seed.json': 'seed',
  'network-tags.json': 'tags',
};
const PROMETHEUS_DASHBOARDS = ['operations.json'];

describe('dashboards', () => {
  it('the dashboards are the network dashboards (seed and tags layouts) and the operations dashboard', () => {
    assert.deepEqual(
      dashboards.map((d) => d.file),
      [...Object.keys(OPENTSDB_LAYOUTS), ...PROMETHEUS_DASHBOARDS].sort(),
    );
  });

  describe('dashboard JSON', () => {
    it('uids and titles are unique across the dashboards', () => {
      const uids = dashboards.map((d) => d.json.uid);
      const titles = dashboards.map((d) => d.json.title);
      assert.equal(new Set(uids).size, uids.length);
      assert.equal(new Set(titles).size, titles.length);
      for (const uid of uids) assert.match(String(uid), /^[a-zA-Z0-9_-]{1,40}$/);
    });

    for (const { file, json } of dashboards) {
      describe(file, () => {
        it('is an importable dashboard: schemaVersion 39+, no instance id, a title, tags', () => {
          assert.equal(typeof json.schemaVersion, 'number');
          assert.ok((json.schemaVersion as number) >= 39, `schemaVersion ${json.schemaVersion}`);
          assert.equal(json.id, null, 'no instance-specific id');
          assert.ok(typeof json.title === 'string' && json.title.length > 0);
          assert.ok(Array.isArray(json.tags) && json.tags.includes('catchpoint-bridge'));
          assert.equal(JSON.stringify(json).includes('__inputs'), false, 'no import-time inputs');
        });

        it('panel ids are unique; every panel has a gridPos inside the 24-column grid', () => {
          const panels = allPanels(json);
          assert.ok(panels.length > 5);
          const ids = panels.map((p) => p.id);
          assert.ok(
            ids.every((id) => Number.isInteger(id)),
            'every panel has an integer id',
          );
          assert.equal(new Set(ids).size, ids.length, `duplicate panel ids in ${ids.join(',')}`);
          for (const p of panels) {
            const g = p.gridPos as Record<string, unknown> | undefined;
            assert.ok(g, `panel ${p.id} has a gridPos`);
            for (const k of ['h', 'w', 'x', 'y'])
              assert.ok(Number.isInteger(g[k]), `panel ${p.id} gridPos.${k}`);
            assert.ok((g.x as number) + (g.w as number) <= 24, `panel ${p.id} fits the grid`);
            assert.ok((g.h as number) > 0 && (g.w as number) > 0);
          }
        });

        it('panels do not overlap', () => {
          const cells = new Map<string, unknown>();
          for (const p of allPanels(json)) {
            const g = p.gridPos as { h: number; w: number; x: number; y: number };
            for (let y = g.y; y < g.y + g.h; y++) {
              for (let x = g.x; x < g.x + g.w; x++) {
                const key = `${x},${y}`;
                assert.ok(!cells.has(key), `panel ${p.id} overlaps panel ${cells.get(key)} at ${key}`);
                cells.set(key, p.id);
              }
            }
          }
        });

        it("every panel's and query's data source is a declared data source variable", () => {
          const dsVars = new Map(
            variables(json)
              .filter((v) => v.type === 'datasource')
              .map((v) => [`\${${v.name}}`, String(v.query)]),
          );
          assert.ok(dsVars.size > 0, 'a data source variable is declared');
          for (const p of allPanels(json)) {
            if (p.type === 'row') continue;
            const ds = p.datasource as { type?: string; uid?: string } | undefined;
            assert.ok(ds?.uid !== undefined, `panel ${p.id} "${p.title}" names a data source`);
            assert.ok(
              dsVars.has(ds.uid),
              `panel ${p.id} "${p.title}" uses ${ds.uid}, not a declared variable`,
            );
            assert.equal(ds.type, dsVars.get(ds.uid), `panel ${p.id}: type matches the variable's plugin`);
            const refIds = targets(p).map((t) => t.refId);
            assert.ok(refIds.length > 0, `panel ${p.id} has queries`);
            assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id}: refIds are unique`);
            for (const t of targets(p)) {
              const tds = t.datasource as { type?: string; uid?: string } | undefined;
              if (tds?.type === EXPRESSION_DATASOURCE) {
                assert.equal(tds.uid, EXPRESSION_DATASOURCE);
                continue;
              }
              assert.deepEqual(tds, ds, `panel ${p.id} query ${t.refId} uses the panel's data source`);
            }
          }
          for (const v of variables(json)) {
            if (v.type !== 'query') continue;
            const vds = v.datasource as { uid?: string } | undefined;
            assert.ok(
              vds?.uid && dsVars.has(vds.uid),
              `variable ${v.name} uses a declared data source variable`,
            );
          }
        });

        it('every panel has a title and a description', () => {
          for (const p of allPanels(json)) {
            assert.ok(typeof p.title === 'string' && p.title.length > 0, `panel ${p.id} has a title`);
            if (p.type !== 'row') assert.ok(typeof p.description === 'string' && p.description.length > 20);
          }
        });

        it('queries use only declared variables and Grafana built-ins; expressions only refIds of their panel', () => {
          const declared = new Set(variables(json).map((v) => String(v.name)));
          const check = (text: unknown, where: string, extra: Set<string> = new Set()) => {
            if (typeof text !== 'string') return;
            for (const name of variableRefs(text)) {
              const ok =
                declared.has(name) ||
                GRAFANA_BUILTINS.has(name) ||
                extra.has(name) ||
                name.startsWith('tag_') ||
                name.startsWith('__field.');
              assert.ok(ok, `${where}: $${name} is not a declared variable`);
            }
          };
          for (const v of variables(json)) check(v.query, `variable ${v.name}`);
          for (const p of allPanels(json)) {
            const refIds = new Set(targets(p).map((t) => String(t.refId)));
            for (const t of targets(p)) {
              const where = `panel ${p.id} query ${t.refId}`;
              if ((t.datasource as { type?: string } | undefined)?.type === EXPRESSION_DATASOURCE) {
                for (const ref of variableRefs(String(t.expression))) {
                  assert.ok(
                    refIds.has(ref) && ref !== t.refId,
                    `${where}: $${ref} is not another query of the panel`,
                  );
                }
                continue;
              }
              for (const key of ['metric', 'alias', 'expr', 'legendFormat', 'downsampleInterval'])
                check(t[key], where);
              for (const f of (t.filters as Json[] | undefined) ?? []) check(f.filter, where);
            }
          }
        });
      });
    }
  });

  // --- OpenTSDB dashboards ---------------------------------------------------------------------

  interface Filter {
    type: string;
    tagk: string;
    filter: string;
    groupBy: boolean;
  }

  for (const [file, layout] of Object.entries(OPENTSDB_LAYOUTS)) {
    describe(`${file}: every OpenTSDB query names a series and tags the bridge writes (${layout} layout)`, () => {
      const { json } = byFile(file);
      const written = writtenSeries(layout);
      const prefixVar = variables(json).find((v) => v.name === 'prefix');
      /** A dashboard metric (with $prefix and $testid) in the derived patterns' terms. */
      const pattern = (metric: string) => metric.replaceAll('$prefix', written.prefix);
      const shapeOf = (metric: string, where: string) => {
        const shape = written.series.get(pattern(metric));
        assert.ok(
          shape,
          `${where}: ${metric} is not a series the bridge writes; it writes ${[...written.series.keys()].join(', ')}`,
        );
        return shape;
      };

      it("the prefix variable defaults to the bridge's default naming.prefix", () => {
        assert.ok(prefixVar, 'a prefix variable');
        assert.equal(prefixVar.type, 'textbox');
        assert.equal(prefixVar.query, written.prefix);
      });

      it('every query: a written series, tag keys it has, literal values it takes, aliases of grouped tags', () => {
        let checked = 0;
        for (const p of allPanels(json)) {
          const grouped = new Set<string>();
          for (const t of targets(p)) {
            if ((t.datasource as { type?: string } | undefined)?.type === EXPRESSION_DATASOURCE) continue;
            const where = `panel ${p.id} "${p.title}" query ${t.refId}`;
            assert.equal(typeof t.metric, 'string', `${where} names a metric`);
            const shape = shapeOf(String(t.metric), where);
            assert.equal(
              t.tags,
              undefined,
              `${where}: filters, not tags (mutually exclusive in OpenTSDB 2.2+)`,
            );
            const filters = (t.filters as Filter[] | undefined) ?? [];
            const targetGrouped = new Set<string>();
            for (const f of filters) {
              assert.ok(shape.tagKeys.has(f.tagk), `${where}: ${t.metric} has no tag ${f.tagk}`);
              assert.ok(
                ['literal_or', 'wildcard', 'regexp'].includes(f.type),
                `${where}: filter type ${f.type}`,
              );
              if (f.groupBy) targetGrouped.add(f.tagk);
              if (f.type === 'literal_or' && !f.filter.includes('$')) {
                const values = shape.tagValues.get(f.tagk) ?? new Set();
                for (const v of f.filter.split('|')) {
                  assert.ok(
                    values.has(v),
                    `${where}: the bridge never writes ${f.tagk}=${v} (it writes ${[...values]})`,
                  );
                }
              }
            }
            for (const name of variableRefs(String(t.alias ?? ''))) {
              if (!name.startsWith('tag_')) continue;
              assert.ok(
                targetGrouped.has(name.slice(4)),
                `${where}: alias $${name} names a tag the query does not group by`,
              );
            }
            if (layout === 'tags') {
              assert.ok(
                filters.some((f) => f.tagk === 'testid' && f.filter === '$testid' && f.type === 'literal_or'),
                `${where}: the tags layout selects the test with a testid filter`,
              );
            } else {
              assert.ok(String(t.metric).endsWith('.$testid'), `${where}: the seed layout names the test`);
            }
            for (const k of targetGrouped) grouped.add(k);
            checked++;
          }
          const displayName = (p.fieldConfig as { defaults?: Json } | undefined)?.defaults?.displayName;
          for (const m of String(displayName ?? '').matchAll(/\$\{__field\.labels\.([a-z_]+)\}/g)) {
            assert.ok(grouped.has(m[1]!), `panel ${p.id}: displayName uses label ${m[1]} no query groups by`);
          }
        }
        assert.ok(checked > 20, `checked ${checked} queries`);
      });

      it('every template variable query names a written series and tag; the test id variable finds the test id', () => {
        for (const v of variables(json)) {
          if (v.type !== 'query') continue;
          const query = String(v.query);
          const tagValues = /^tag_values\(([^,]+),\s*([a-z_]+)((?:,\s*[a-z_]+=[^,)]+)*)\)$/.exec(query);
          const metrics = /^metrics\(([^)]*)\)$/.exec(query);
          if (tagValues) {
            const shape = shapeOf(tagValues[1]!, `variable ${v.name}`);
            assert.ok(shape.tagKeys.has(tagValues[2]!), `variable ${v.name}: no tag ${tagValues[2]}`);
            for (const f of (tagValues[3] ?? '').split(',').filter((s) => s.trim())) {
              const key = f.split('=')[0]!.trim();
              assert.ok(shape.tagKeys.has(key), `variable ${v.name}: no tag ${key} to filter on`);
            }
          } else if (metrics) {
            // metrics(prefix) lists names by prefix; the regex takes the test id out of them.
            const prefix = pattern(metrics[1]!);
            const concrete = [...written.series.keys()]
              .filter((name) => name.startsWith(prefix))
              .map((name) => name.replaceAll('$testid', written.testId));
            assert.ok(concrete.length > 0, `variable ${v.name}: no written series starts with ${prefix}`);
            const regex = /^\/(.*)\/([a-z]*)$/.exec(String(v.regex));
            assert.ok(regex, `variable ${v.name} extracts the test id with a regex`);
            for (const name of concrete) {
              assert.equal(
                new RegExp(regex[1]!, regex[2]).exec(name)?.[1],
                written.testId,
                `${v.regex} on ${name}`,
              );
            }
          } else {
            assert.fail(`variable ${v.name}: unknown OpenTSDB variable query ${query}`);
          }
        }
      });

      it('the dimension variables are the dimensions the panels slice by, each with an All value for regexp filters', () => {
        const dims = variables(json).filter((v) => v.type === 'query' && v.name !== 'testid');
        assert.deepEqual(dims.map((v) => v.name).sort(), ['asn', 'city', 'continent', 'country', 'isp']);
        for (const v of dims) {
          assert.equal(v.multi, true);
          assert.equal(v.includeAll, true);
          assert.equal(v.allValue, '.*', `${v.name}: All must be a regexp that matches everything`);
        }
        // Every use of a dimension variable is an anchored regexp filter on its tag.
        for (const p of allPanels(json)) {
          for (const t of targets(p)) {
            for (const f of (t.filters as Filter[] | undefined) ?? []) {
              const v = dims.find((d) => f.filter.includes(`$${d.name}`));
              if (v === undefined) continue;
              assert.equal(f.type, 'regexp', `panel ${p.id}: ${f.tagk} filter`);
              assert.equal(f.filter, `^($${v.name})$`, `panel ${p.id}: ${f.tagk} filter is anchored`);
            }
          }
        }
      });
    });
  }

  it('the seed and tags network dashboards have the same panels', () => {
    const shape = (file: string) =>
      allPanels(byFile(file).json).map((p) => ({ title: p.title, type: p.type, gridPos: p.gridPos }));
    assert.deepEqual(shape('network-tags.json'), shape('network-seed.json'));
  });

  // --- Prometheus dashboards -------------------------------------------------------------------

  describe('operations.json: every PromQL query names metrics, labels and label values the code exports', async () => {
    const { json } = byFile('operations.json');
    const metrics = exposedNames(await promMetrics());
    const literals = sourceStringLiterals();
    const queries = allPanels(json).flatMap((p) =>
      targets(p).map((t) => ({ where: `panel ${p.id} "${p.title}" query ${t.refId}`, expr: String(t.expr) })),
    );
    const variableQueries = variables(json)
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable ${v.name}`, expr: String(v.query) }));

    it('metric names, label names and literal label values', () => {
      assert.ok(queries.length > 30);
      for (const { where, expr } of [
        ...queries,
        ...variableQueries.map((q) => ({
          ...q,
          expr: q.expr.replace(/^label_values\((.*),\s*[a-z_]+\)$/, '$1'),
        })),
      ]) {
        const names = promQlNames(expr);
        assert.ok(names.selectors.length > 0, `${where}: selects something`);
        const labelsInUse = new Set<string>(SCRAPE_LABELS);
        for (const s of names.selectors) {
          assert.ok(s.metric, `${where}: a selector without a metric name`);
          const m = metrics.get(s.metric);
          assert.ok(m, `${where}: ${s.metric} is not a metric of the bridge or the operator`);
          for (const l of m.labelNames) labelsInUse.add(l);
          for (const matcher of s.matchers) {
            const known = m.labelNames.includes(matcher.label) || SCRAPE_LABELS.has(matcher.label);
            assert.ok(known, `${where}: ${s.metric} has no label ${matcher.label}`);
            if (SCRAPE_LABELS.has(matcher.label) || matcher.value.includes('$')) continue;
            for (const value of matcher.op.endsWith('~') ? matcher.value.split('|') : [matcher.value]) {
              assert.ok(literals.has(value), `${where}: ${matcher.label}="${value}" appears nowhere in src/`);
            }
          }
        }
        for (const l of names.groupingLabels) {
          assert.ok(labelsInUse.has(l), `${where}: groups by ${l}, a label none of its metrics has`);
        }
      }
      for (const { where, expr } of variableQueries) {
        const label = /,\s*([a-z_]+)\)$/.exec(expr)?.[1];
        assert.ok(label && SCRAPE_LABELS.has(label), `${where}: lists values of ${label}`);
      }
    });

    it('every query is valid PromQL (promtool check rules, with the variables filled in)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dashboard-promql-'));
      try {
        const rules = queries.map((q, i) => ({
          record: `dashboard:query_${i}`,
          expr: concretePromQl(q.expr),
        }));
        const file = join(dir, 'queries.yaml');
        writeFileSync(file, stringify({ groups: [{ name: 'operations-dashboard', rules }] }));
        const r = await promtool(['check', 'rules', file]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  // --- dashboards/README.md ---------------------------------------------------------------------

  it('dashboards/README.md describes every panel of every dashboard, in the section that names its file', () => {
    const readme = readFileSync(join(DASHBOARDS_DIR, 'README.md'), 'utf8');
    const sections = readme.split(/\n(?=## )/);
    for (const { file, json } of dashboards) {
      const section = sections.find((s) => s.startsWith('## ') && s.split('\n')[0]!.includes(`\`${file}\``));
      assert.ok(section, `README has a "## ..." section whose heading names \`${file}\``);
      for (const p of allPanels(json)) {
        if (p.type === 'row') continue;
        assert.ok(section.includes(`**${p.title}**`), `README: the ${file} section describes "${p.title}"`);
      }
    }
  });
});
