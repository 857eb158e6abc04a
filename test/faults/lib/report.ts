/**
 * What a fault scenario reports: one row of the table (counts, recovery time) and the claims it
 * checked, each passed or failed with a reason. A row passes when every claim holds.
 */

export interface Claim {
  claim: string;
  pass: boolean;
  detail: string;
}

export interface Row {
  /** Short id, e.g. '1' or '4b'. */
  id: string;
  scenario: string;
  /** Pushes sent (null: not a push scenario). */
  sent: number | null;
  /** Pushes answered 200. */
  acknowledged: number | null;
  /** Pushes answered anything else (503, 4xx) or not answered (connection refused/reset). */
  refused: number | null;
  /** Datapoints that must be in the TSDB (from acknowledged pushes). */
  expected: number | null;
  /** Of those, how many are there. */
  found: number | null;
  /** expected − found. */
  lost: number | null;
  /** Extra copies of expected datapoints (same series, timestamp) stored by the TSDB. */
  duplicated: number | null;
  /** Time to recover, as the scenario defines it (see `recoverWhat`). */
  recoverMs: number | null;
  recoverWhat: string;
  pass: boolean;
  /**
   * Why the scenario could not run on this machine (e.g. it needs root), when it could not. A
   * skipped row is never passed: it shows as SKIPPED, with the reason, and fails the run.
   */
  skipped?: string;
  claims: Claim[];
  notes: string[];
  durationMs: number;
}

/** Collects claims; `row()` builds the row. */
export class Claims {
  readonly list: Claim[] = [];

  check(claim: string, pass: boolean, detail = ''): boolean {
    this.list.push({ claim, pass, detail });
    return pass;
  }

  get pass(): boolean {
    return this.list.length > 0 && this.list.every((c) => c.pass);
  }
}

export type RowInput = Omit<Row, 'pass' | 'claims' | 'durationMs' | 'notes'> & { notes?: string[] };

export function makeRow(input: RowInput, claims: Claims, startedAt: number): Row {
  return {
    ...input,
    notes: input.notes ?? [],
    pass: claims.pass,
    claims: claims.list,
    durationMs: Date.now() - startedAt,
  };
}

/** The counts of a row that sends no pushes (an admission check, a scenario that did not run). */
export const NO_COUNTS = {
  sent: null,
  acknowledged: null,
  refused: null,
  expected: null,
  found: null,
  lost: null,
  duplicated: null,
  recoverMs: null,
  recoverWhat: '',
} as const satisfies Partial<Row>;

/** A row for a scenario that threw before it could report. */
export function crashedRow(id: string, scenario: string, err: unknown, startedAt: number): Row {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    id,
    scenario,
    ...NO_COUNTS,
    pass: false,
    claims: [{ claim: 'the scenario ran to completion', pass: false, detail: message.slice(0, 2000) }],
    notes: [],
    durationMs: Date.now() - startedAt,
  };
}

/** A row for a scenario that cannot run here (`reason` says why): not passed, shown as SKIPPED. */
export function skippedRow(id: string, scenario: string, reason: string, startedAt: number): Row {
  return {
    id,
    scenario,
    ...NO_COUNTS,
    pass: false,
    skipped: reason,
    claims: [{ claim: 'the scenario ran', pass: false, detail: `SKIPPED, not run here: ${reason}` }],
    notes: [],
    durationMs: Date.now() - startedAt,
  };
}

/** Orders rows by scenario number, then suffix ('4a' < '4b' < '10'), whatever order they ran in. */
export function byId(a: Row, b: Row): number {
  const n = (id: string) => Number.parseInt(id, 10);
  return n(a.id) - n(b.id) || a.id.localeCompare(b.id);
}

const HEADERS = [
  '#',
  'scenario',
  'sent',
  'acked (200)',
  'refused',
  'dp expected',
  'dp found',
  'lost',
  'duplicated',
  'time to recover',
  'result',
];

const num = (n: number | null): string => (n === null ? '—' : String(n));

export function formatMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const result = (row: Row): string => (row.pass ? 'PASS' : row.skipped !== undefined ? 'SKIPPED' : 'FAIL');

function cells(row: Row): string[] {
  return [
    row.id,
    row.scenario,
    num(row.sent),
    num(row.acknowledged),
    num(row.refused),
    num(row.expected),
    num(row.found),
    num(row.lost),
    num(row.duplicated),
    formatMs(row.recoverMs),
    result(row),
  ];
}

/** Fixed-width text table for the terminal. */
export function renderText(rows: Row[]): string {
  const table = [HEADERS, ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8, 9]);
  const line = (r: string[]) =>
    r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const out = [
    line(HEADERS),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map((r) => line(cells(r))),
  ];
  for (const row of rows) {
    if (row.skipped !== undefined) {
      out.push('', `!!! ${row.id} ${row.scenario}: SKIPPED, not run here: ${row.skipped} !!!`);
      continue;
    }
    const failed = row.claims.filter((c) => !c.pass);
    if (failed.length === 0) continue;
    out.push('', `${row.id} ${row.scenario}: FAILED`);
    for (const c of failed) out.push(`  ✗ ${c.claim}${c.detail ? `: ${c.detail}` : ''}`);
  }
  return out.join('\n');
}

/** "9/10 rows passed (1 SKIPPED: 10)". */
export function summary(rows: Row[]): string {
  const skipped = rows.filter((r) => r.skipped !== undefined).map((r) => r.id);
  const passed = rows.filter((r) => r.pass).length;
  return `${passed}/${rows.length} rows passed${skipped.length > 0 ? ` (${skipped.length} SKIPPED: ${skipped.join(', ')})` : ''}`;
}

const md = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The results table, then per scenario its claims, recovery definition and notes. */
export function renderMarkdown(rows: Row[], meta: RunMeta): string {
  const out: string[] = [];
  out.push(`| ${HEADERS.join(' | ')} |`);
  out.push(`|${HEADERS.map((_, i) => (i >= 2 && i <= 9 ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const row of rows) out.push(`| ${cells(row).map(md).join(' | ')} |`);
  out.push('');
  out.push(
    `${summary(rows)}; total wall time ${formatMs(meta.wallMs)} on ${meta.machine}; ${meta.startedAt}.`,
  );
  out.push('');
  for (const row of rows) {
    out.push(`**${row.id}. ${md(row.scenario)}** (${formatMs(row.durationMs)})`);
    if (row.recoverWhat) out.push(`time to recover: ${md(row.recoverWhat)}.`);
    out.push('');
    for (const c of row.claims) {
      out.push(`- ${c.pass ? '✓' : '✗'} ${md(c.claim)}${c.detail ? ` — ${md(c.detail)}` : ''}`);
    }
    for (const n of row.notes) out.push(`- note: ${md(n)}`);
    out.push('');
  }
  return out.join('\n');
}

export interface RunMeta {
  startedAt: string;
  wallMs: number;
  machine: string;
  node: string;
  argv: string[];
}
