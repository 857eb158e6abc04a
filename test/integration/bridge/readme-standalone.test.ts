/**
 * The README's "The bridge without Kubernetes" recipe, run exactly as the README writes it (the
 * fenced block under that heading, read from README.md at test time, so an edit there is what
 * gets tested), with no Catchpoint key: the bridge starts, warns once, takes the sample push and
 * its datapoints reach VictoriaMetrics.
 *
 * The recipe uses fixed ports (8428, 4242, 8080) and /tmp/vm, and would reach io.catchpoint.com
 * with a key. So it runs in namespaces of its own (`unshare`, root): a network namespace whose
 * only interface is loopback (nothing else is reachable, and its ports collide with nothing on
 * the machine), a mount namespace with a fresh tmpfs on /tmp, and a PID namespace, so that what
 * the recipe leaves running in the background (VictoriaMetrics, the bridge) dies with it. Its
 * working directory mirrors the checkout (package.json, node_modules, src, test/fixtures);
 * scripts/setup.sh there is a stand-in that checks what setup.sh installs, since a test installs
 * nothing.
 *
 * Also here: a config the bridge cannot run on exits non-zero before anything prints "listening".
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { manifest } from '../../harness/bridge-process.ts';

const ROOT = join(import.meta.dirname, '../../..');
const HEADING = '## The bridge without Kubernetes';

/** The first ```sh block under HEADING, verbatim. */
function readmeRecipe(readme: string): string {
  const start = readme.indexOf(`\n${HEADING}\n`);
  assert.ok(start >= 0, `README.md has no "${HEADING}" section`);
  const next = readme.indexOf('\n## ', start + HEADING.length + 2);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const m = /\n```sh\n([\s\S]*?)\n```\n/.exec(section);
  assert.ok(m, `no \`\`\`sh block under "${HEADING}"`);
  return `${m[1]}\n`;
}

const STAND_IN_SETUP = `# Test stand-in for scripts/setup.sh: this machine is set up already and a test installs nothing.
set -e
command -v victoria-metrics >/dev/null
node_modules/.bin/node --version
`;

/** Runs in the new namespaces: loopback up, a private /tmp, a copy of the checkout's layout. */
const WRAPPER = `set -e
ip link set lo up
mount -t tmpfs tmpfs /tmp
mkdir -p /tmp/checkout/scripts /tmp/checkout/test
cd /tmp/checkout
ln -s "$ROOT/package.json" package.json
ln -s "$ROOT/node_modules" node_modules
ln -s "$ROOT/src" src
ln -s "$ROOT/test/fixtures" test/fixtures
printf '%s' "$STAND_IN_SETUP" > scripts/setup.sh
printf '%s' "$RECIPE" > recipe.sh
bash -e recipe.sh
`;

const isRoot = process.getuid?.() === 0;
const haveTools = ['unshare', 'ip', 'curl', 'victoria-metrics', 'npm'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every JSON object in `text` that begins with `start` (curl's output ends without a newline). */
function jsonObjects(text: string, start: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let at = text.indexOf(start); at >= 0; at = text.indexOf(start, at + 1)) {
    const end = objectEnd(text, at);
    if (end < 0) continue;
    try {
      out.push(JSON.parse(text.slice(at, end)) as Record<string, unknown>);
    } catch {
      // not an object after all
    }
  }
  return out;
}

/** The index after the object that opens at `at`, or -1 when it does not close. */
function objectEnd(text: string, at: number): number {
  let depth = 0;
  let inString = false;
  for (let i = at; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

describe('readme standalone', () => {
  it("the README's standalone recipe, run verbatim without a Catchpoint key, gets the sample push into VictoriaMetrics", {
    skip: !isRoot
      ? 'needs root for its network, mount and PID namespaces'
      : !haveTools
        ? 'needs unshare, ip, curl, npm and victoria-metrics'
        : ROOT.startsWith('/tmp/') && 'the checkout is under /tmp, which the recipe gets a fresh tmpfs for',
    timeout: 180_000,
  }, async () => {
    const recipe = readmeRecipe(await readFile(join(ROOT, 'README.md'), 'utf8'));
    const shown = /^# (\{"ok":.*\})$/m.exec(recipe);
    assert.ok(shown, 'the recipe shows the answer to its push');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ROOT,
      RECIPE: recipe,
      STAND_IN_SETUP,
      npm_config_update_notifier: 'false',
    };
    delete env.CATCHPOINT_API_V2_KEY;
    const result = await run(
      'unshare',
      ['--net', '--mount', '--pid', '--fork', '--propagation', 'private', 'bash', '-c', WRAPPER],
      env,
      150_000,
    );
    const transcript = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
    assert.equal(result.code, 0, transcript);

    // The push got the answer the README shows.
    const answers = jsonObjects(result.stdout, '{"ok":');
    assert.deepEqual(answers, [JSON.parse(shown[1]!)], transcript);

    // The bridge started, warned once (no key: no node directory), and nothing else warned.
    const logs = jsonObjects(result.stdout, '{"level":');
    assert.ok(
      logs.some((l) => l.msg === 'bridge listening'),
      transcript,
    );
    const warnings = logs.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1, transcript);
    assert.match(String(warnings[0]!.msg), /no Catchpoint API credentials.*no node directory/);

    // Its datapoints are in VictoriaMetrics: the seed's names, tags from the push itself.
    const series = jsonObjects(result.stdout, '{"metric":') as Array<{
      metric: Record<string, string>;
      values: number[];
      timestamps: number[];
    }>;
    const byName = new Map(series.map((s) => [s.metric.__name__, s]));
    assert.equal(series.length, 12, transcript);
    const SAMPLE_MS = Date.UTC(2016, 1, 26, 1, 4, 49, 609);
    for (const dim of ['node', 'asn', 'continent', 'city', 'country', 'isp']) {
      const rtt = byName.get(`catchpoint.rtt.by_${dim}.12345`);
      assert.deepEqual([rtt?.values, rtt?.timestamps], [[158], [SAMPLE_MS]], dim);
      assert.equal(byName.get(`catchpoint.status.by_${dim}.12345`)?.metric.status, 'ok', dim);
    }
    assert.deepEqual(byName.get('catchpoint.rtt.by_city.12345')?.metric, {
      __name__: 'catchpoint.rtt.by_city.12345',
      nodeid: '312',
      city: 'Jinan',
    });
    assert.equal(byName.get('catchpoint.rtt.by_isp.12345')?.metric.isp, 'Unicom');
    assert.equal(byName.get('catchpoint.rtt.by_asn.12345')?.metric.asn, '4837');
    assert.equal(byName.get('catchpoint.rtt.by_continent.12345')?.metric.continent, 'Asia');
  });

  const scratch: string[] = [];
  after(async () => {
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  const GOOD_SPEC = {
    catchpoint: { credentialsSecretRef: { name: 'catchpoint-api' } },
    push: { tokenSecretRef: { name: 'catchpoint-push' } },
    tsdb: { endpoints: ['http://127.0.0.1:9'] },
  };

  it('a config the bridge cannot run on exits non-zero before anything prints "listening"', async () => {
    const cases: Array<[string, Record<string, unknown>, Record<string, string>, RegExp]> = [
      ['a spec the schema refuses', { ...GOOD_SPEC, tsdb: { endpoints: [] } }, { token: 't' }, /tsdb/],
      ['a missing push token', GOOD_SPEC, {}, /key token of Secret catchpoint-push/],
      [
        'a template field map that does not compile',
        {
          ...GOOD_SPEC,
          push: {
            tokenSecretRef: { name: 'catchpoint-push' },
            format: 'template',
            template: { testId: 'Test..Id' },
          },
        },
        { token: 't' },
        /empty path segment/,
      ],
    ];
    for (const [what, spec, token, reason] of cases) {
      const dir = await mkdtemp(join(tmpdir(), 'cpb-bad-config-'));
      scratch.push(dir);
      await writeFile(join(dir, 'bridge.yaml'), manifest('bad', spec));
      await mkdir(join(dir, 'secrets', 'catchpoint-push'), { recursive: true });
      for (const [key, value] of Object.entries(token)) {
        await writeFile(join(dir, 'secrets', 'catchpoint-push', key), value);
      }
      const result = await run(
        process.execPath,
        [
          join(ROOT, 'src/cli.ts'),
          'bridge',
          '--config',
          join(dir, 'bridge.yaml'),
          '--secrets-dir',
          join(dir, 'secrets'),
          '--listen',
          '127.0.0.1:0',
          '--spool-dir',
          join(dir, 'spool'),
        ],
        { ...process.env, LOG_LEVEL: 'debug' },
        30_000,
      );
      const transcript = `${what}: exit ${result.code}\n${result.stdout}${result.stderr}`;
      assert.notEqual(result.code, 0, transcript);
      assert.notEqual(result.code, null, `${transcript}\n(it did not exit)`);
      assert.doesNotMatch(result.stdout + result.stderr, /listening/i, transcript);
      assert.match(result.stderr, reason, transcript);
    }
  });
});
