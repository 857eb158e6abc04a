/**
 * `npm run faults`: the fault suite against real servers (VictoriaMetrics, the strict OpenTSDB
 * contract server, the Catchpoint REST stand-in, a real kube-apiserver + etcd), one scenario after
 * the other. Prints a table (scenario, pushes sent/acknowledged/refused, datapoints expected/found/
 * lost/duplicated, time to recover), writes it as JSON and Markdown, and exits non-zero when any
 * row misses its claim. docs/faults.md explains each guarantee.
 *
 *   node test/faults/run.ts [--only 1,4,9] [--outage-seconds 60] [--out DIR] [--update-doc]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFakeCatchpoint } from '../harness/fake-catchpoint.ts';
import { startVictoriaMetrics } from '../harness/victoria-metrics.ts';
import { type FaultContext, SuiteContext } from './lib/context.ts';
import {
  byId,
  crashedRow,
  formatMs,
  type Row,
  type RunMeta,
  renderMarkdown,
  renderText,
  summary,
} from './lib/report.ts';
import { tsdbDown } from './scenarios/01-tsdb-down.ts';
import { tsdbSlow } from './scenarios/02-tsdb-slow.ts';
import { spoolFull } from './scenarios/03-spool-full.ts';
import { bridgeKilled } from './scenarios/04-bridge-killed.ts';
import { catchpointApiDown } from './scenarios/05-catchpoint-api.ts';
import { malformedInput } from './scenarios/06-malformed-input.ts';
import { redelivery } from './scenarios/07-redelivery.ts';
import { apiServerRestart } from './scenarios/08-apiserver-restart.ts';
import { security } from './scenarios/09-security.ts';
import { diskFull } from './scenarios/10-disk-full.ts';
import { tornTail } from './scenarios/11-torn-tail.ts';
import { spoolVolume } from './scenarios/12-spool-volume.ts';
import { redeliveryAfterRestart } from './scenarios/13-redelivery-restart.ts';
import { hostileHandoff } from './scenarios/14-hostile-handoff.ts';
import { wrongTsdbCa } from './scenarios/15-wrong-tsdb-ca.ts';
import { spoolClaim } from './scenarios/16-spool-claim.ts';

const USAGE = `usage: node test/faults/run.ts [options]
  --only LIST            run only these scenarios (e.g. 1,4,9); 9's secret scan covers what ran
  --outage-seconds N     how long the TSDB is down in scenario 1 (default 60)
  --out DIR              where faults.json and faults.md go (default test/faults/results)
  --update-doc           also put the table into docs/faults.md (between its markers)
  --seed N               fast-check seed of scenario 6 (default 20240611)
`;

const repoRoot = join(import.meta.dirname, '../..');

interface Scenario {
  id: string;
  title: string;
  run: (ctx: FaultContext) => Promise<Row | Row[]>;
  /** Longest it may take before the row is failed as hung. */
  timeoutMs: number;
  needsControlPlane?: boolean;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      'outage-seconds': { type: 'string', default: '60' },
      out: { type: 'string', default: join(repoRoot, 'test/faults/results') },
      'update-doc': { type: 'boolean', default: false },
      seed: { type: 'string', default: '20240611' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const outageMs = Number(values['outage-seconds']) * 1000;
  const seed = Number(values.seed);
  // In run order; the table lists the rows by number.
  const scenarios: Scenario[] = [
    { id: '1', title: 'TSDB down', run: (c) => tsdbDown(c, { outageMs }), timeoutMs: outageMs + 120_000 },
    { id: '2', title: 'TSDB slow', run: tsdbSlow, timeoutMs: 150_000 },
    { id: '3', title: 'spool full', run: spoolFull, timeoutMs: 120_000 },
    { id: '4', title: 'bridge killed', run: bridgeKilled, timeoutMs: 180_000 },
    { id: '5', title: 'Catchpoint API down', run: catchpointApiDown, timeoutMs: 180_000 },
    { id: '6', title: 'malformed input', run: (c) => malformedInput(c, { seed }), timeoutMs: 180_000 },
    { id: '7', title: 're-delivery', run: redelivery, timeoutMs: 60_000 },
    {
      id: '8',
      title: 'API server restart',
      run: apiServerRestart,
      timeoutMs: 300_000,
      needsControlPlane: true,
    },
    // Right after 8, on the same control plane, which is then stopped (see below).
    {
      id: '12',
      title: 'spool larger than its volume',
      run: spoolVolume,
      timeoutMs: 120_000,
      needsControlPlane: true,
    },
    { id: '10', title: 'spool disk full', run: diskFull, timeoutMs: 90_000 },
    { id: '11', title: 'torn spool tail', run: tornTail, timeoutMs: 90_000 },
    { id: '13', title: 're-delivery after a restart', run: redeliveryAfterRestart, timeoutMs: 60_000 },
    { id: '14', title: 'hostile hand-off', run: hostileHandoff, timeoutMs: 60_000 },
    { id: '15', title: 'wrong TSDB CA', run: wrongTsdbCa, timeoutMs: 90_000 },
    { id: '16', title: 'spool on a claim, pod killed', run: spoolClaim, timeoutMs: 360_000 },
    // Last: its secret scan covers the logs of every scenario before it.
    { id: '9', title: 'security', run: security, timeoutMs: 120_000 },
  ];
  const only = values.only?.split(',').map((s) => s.trim());
  const selected = only ? scenarios.filter((s) => only.includes(s.id)) : scenarios;
  if (selected.length === 0) {
    process.stderr.write(`no scenario matches --only ${values.only}\n\n${USAGE}`);
    return 2;
  }

  const started = Date.now();
  const [vm, catchpoint] = await Promise.all([startVictoriaMetrics(), startFakeCatchpoint()]);
  const ctx = new SuiteContext(vm, catchpoint);
  // The control plane boots (~10 s of CPU) while scenario 1 mostly waits out its outage.
  if (selected.some((s) => s.needsControlPlane)) ctx.controlPlane().catch(() => undefined);

  const rows: Row[] = [];
  try {
    for (const scenario of selected) {
      const t0 = Date.now();
      ctx.progress(`scenario ${scenario.id}: ${scenario.title}`);
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          scenario.run(ctx),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`scenario ${scenario.id} did not finish in ${scenario.timeoutMs} ms`)),
              scenario.timeoutMs,
            );
          }),
        ]);
        rows.push(...(Array.isArray(result) ? result : [result]));
      } catch (err) {
        rows.push(crashedRow(scenario.id, scenario.title, err, t0));
        // A scenario that failed half-way may have left the shared TSDB stopped or paused.
        vm.resume();
        await vm.start().catch(() => undefined);
      } finally {
        clearTimeout(timer);
      }
      ctx.progress(
        `scenario ${scenario.id} done in ${formatMs(Date.now() - t0)}: ${rows
          .filter((r) => r.id.replace(/[a-z]+$/, '') === scenario.id)
          .map((r) => `${r.id} ${r.pass ? 'PASS' : r.skipped !== undefined ? 'SKIPPED' : 'FAIL'}`)
          .join(', ')}`,
      );
      // Stopped once no scenario left needs it: it frees a core for 9's timing.
      const rest = selected.slice(selected.indexOf(scenario) + 1);
      if (scenario.needsControlPlane && !rest.some((s) => s.needsControlPlane)) await ctx.stopControlPlane();
    }
  } finally {
    await ctx.close();
    await Promise.all([vm.close(), catchpoint.close()]);
  }
  // The run order puts 9 last; the table goes by number.
  rows.sort(byId);

  const meta: RunMeta = {
    startedAt: new Date(started).toISOString(),
    wallMs: Date.now() - started,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    argv: process.argv.slice(2),
  };
  const text = renderText(rows);
  const markdown = renderMarkdown(rows, meta);
  mkdirSync(values.out, { recursive: true });
  const outputs = [join(values.out, 'faults.json'), join(values.out, 'faults.md')];
  writeFileSync(outputs[0]!, `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  writeFileSync(outputs[1]!, `# Fault suite results\n\n${markdown}\n`);
  // The results live under test/, which `biome check .` covers: write them as biome formats them.
  spawnSync(join(repoRoot, 'node_modules/.bin/biome'), ['format', '--write', ...outputs], {
    stdio: 'ignore',
  });
  if (values['update-doc']) updateDoc(markdown);

  process.stdout.write(`\n${text}\n\n`);
  const passed = rows.filter((r) => r.pass).length;
  process.stdout.write(
    `${summary(rows)} in ${formatMs(meta.wallMs)}; results in ${join(values.out, 'faults.{json,md}')}\n`,
  );
  // A skipped row is not a pass: the run fails, and the table says SKIPPED and why.
  return passed === rows.length ? 0 : 1;
}

const DOC_START = '<!-- faults:results:start -->';
const DOC_END = '<!-- faults:results:end -->';

/** Replaces the results section of docs/faults.md (between its markers) with this run's. */
function updateDoc(markdown: string): void {
  const path = join(repoRoot, 'docs/faults.md');
  const doc = readFileSync(path, 'utf8');
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start === -1 || end < start) throw new Error(`${path} lacks the ${DOC_START} … ${DOC_END} markers`);
  writeFileSync(path, `${doc.slice(0, start + DOC_START.length)}\n${markdown}\n${doc.slice(end)}`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fault suite failed to run: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
