// The dashboards and alert rules as the tests read them: the JSON of each dashboard, PromQL names
// and matchers, Grafana variables, and the real promtool. What the code produces, to compare them
// with, is in test/support/product.ts.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../support/product.ts';

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
