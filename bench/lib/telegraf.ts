/**
 * Telegraf, the peer users pick instead of the bridge (docs/benchmarks.md, "Telegraf"), built by
 * scripts/peers/telegraf.sh and configured the way a user would for this job:
 *
 *   inputs.http_listener_v2 (POST /push on loopback, basic auth, answers 200)
 *     → parsers.json_v2 (TestId, NodeId as tags; Summary.Timing.Total, Summary.Timestamp and
 *       Summary.Error.Code as fields)
 *     → processors.lookup (order 1: node geography from a JSON file keyed by NodeId, written from
 *       the Catchpoint stand-in's node list: what the bridge's directory holds)
 *     → processors.starlark (order 2: Catchpoint's 17-digit UTC timestamp → metric time; one
 *       metric per seed series: `rtt.by_<dim>` and `status.by_<dim>` with the test id as field
 *       name, so that outputs.opentsdb's `<prefix><name><separator><field>` is the seed's
 *       `catchpoint.rtt.by_<dim>.<testId>`; `error.by_node` on failures)
 *     → outputs.opentsdb (http://, batched /api/put, gzip; 500 points per request like the
 *       bridge's batchMaxPoints).
 *
 * The agent keeps Telegraf's defaults for what it holds in memory (metric_batch_size 1000,
 * metric_buffer_limit 10,000) and flushes every second (its default is 10 s; the bridge's
 * batchMaxDelay is 200 ms). `omit_hostname`: the seed's series carry no host tag.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedV1Info, type FakeNode } from '../../test/harness/fake-catchpoint.ts';
import { freePorts } from '../../test/harness/victoria-metrics.ts';
import { acceptsConnections } from '../../test/harness/wait.ts';
import { pin } from './proc.ts';

export const TELEGRAF_BUILD_SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'peers', 'telegraf.sh');

/** Seed dimensions in the bridge's default order, with the tag each writes (node: only nodeid). */
export const SEED_DIMENSIONS: ReadonlyArray<readonly [string, string | null]> = [
  ['node', null],
  ['asn', 'asn'],
  ['continent', 'continent'],
  ['city', 'city'],
  ['country', 'country'],
  ['region', 'region'],
  ['isp', 'isp'],
];

/** Geography per node id, as processors.lookup's `json` format wants it (strings only). */
export function lookupTable(nodes: readonly FakeNode[]): Record<string, Record<string, string>> {
  const table: Record<string, Record<string, string>> = {};
  for (const node of nodes) {
    // What the bridge's v1 directory makes of the stand-in's node (test/harness/fake-catchpoint.ts).
    const info = expectedV1Info(node);
    const tags: Record<string, string> = {};
    for (const [, tag] of SEED_DIMENSIONS) {
      const value = tag === null ? undefined : info[tag];
      if (tag !== null && value !== undefined && value !== '') tags[tag] = value;
    }
    table[String(node.id)] = tags;
  }
  return table;
}

/**
 * The Starlark step. Go time layouts cannot read `yyyyMMddHHmmssSSS` (no layout for milliseconds
 * without a separator), so the first 14 digits go through time.parse_time in UTC and the last 3
 * are added as milliseconds. A timestamp that is not 17 digits drops the push (logged), after
 * http_listener_v2 already answered it.
 */
export function starlarkScript(): string {
  const dims = SEED_DIMENSIONS.map(([d, tag]) => `("${d}", ${tag === null ? 'None' : `"${tag}"`})`).join(
    ', ',
  );
  return `load("time.star", "time")
load("logging.star", "log")

# The seed's dimensions: (series name part, tag written; None: only nodeid).
DIMENSIONS = [${dims}]

def seed_metric(name, test, value, tags, ns):
    m = Metric(name)
    for k, v in tags.items():
        m.tags[k] = v
    # outputs.opentsdb writes <prefix><name><separator><field>: the field name is the test id.
    m.fields[test] = value
    m.time = ns
    return m

def apply(metric):
    stamp = metric.fields.get("timestamp", "")
    if type(stamp) != "string" or len(stamp) != 17 or not stamp.isdigit():
        log.warn("dropping a push without a 17-digit Summary.Timestamp: " + str(stamp))
        return None
    t = time.parse_time(stamp[:14], format="20060102150405", location="UTC")
    ns = t.unix_nano + int(stamp[14:]) * 1000000
    test = metric.tags.get("TestId", "")
    node = metric.tags.get("NodeId", "")
    if test == "" or node == "":
        return None
    code = metric.fields.get("error")
    failed = code != None and str(code) not in ("", "0")
    rtt = metric.fields.get("rtt")
    out = []
    for dim, tag in DIMENSIONS:
        tags = {"nodeid": node}
        if tag != None:
            value = metric.tags.get(tag, "")
            if value == "":
                continue
            tags[tag] = value
        if rtt != None:
            out.append(seed_metric("rtt.by_" + dim, test, rtt, tags, ns))
        tags["status"] = "error" if failed else "ok"
        out.append(seed_metric("status.by_" + dim, test, 1, tags, ns))
    if failed:
        out.append(seed_metric("error.by_node", test, 1, {"nodeid": node, "error": str(code)}, ns))
    return out
`;
}

export interface TelegrafConfigOptions {
  /** 127.0.0.1 port http_listener_v2 listens on. */
  listenPort: number;
  /** Base URL of VictoriaMetrics' OpenTSDB HTTP listener, http://host:port. */
  tsdbUrl: string;
  lookupFile: string;
  starlarkFile: string;
  username: string;
  password: string;
  /** outputs.opentsdb http_batch_size. */
  httpBatchSize?: number;
  flushInterval?: string;
  metricBufferLimit?: number;
}

const tomlString = (s: string) => JSON.stringify(s);

/** telegraf.conf for the pipeline above. */
export function telegrafConfig(o: TelegrafConfigOptions): string {
  const tsdb = new URL(o.tsdbUrl);
  return `# Catchpoint Test Data Webhook → OpenTSDB, as a Telegraf user would set it up (bench/lib/telegraf.ts).
[agent]
  omit_hostname = true
  flush_interval = ${tomlString(o.flushInterval ?? '1s')}
  flush_jitter = "0s"
  metric_batch_size = 1000
  metric_buffer_limit = ${o.metricBufferLimit ?? 10_000}

[[inputs.http_listener_v2]]
  service_address = ${tomlString(`tcp://127.0.0.1:${o.listenPort}`)}
  paths = ["/push"]
  methods = ["POST"]
  # Catchpoint waits for a 200.
  http_success_code = 200
  basic_username = ${tomlString(o.username)}
  basic_password = ${tomlString(o.password)}
  data_format = "json_v2"
  [[inputs.http_listener_v2.json_v2]]
    measurement_name = "catchpoint"
    [[inputs.http_listener_v2.json_v2.tag]]
      path = "TestId"
    [[inputs.http_listener_v2.json_v2.tag]]
      path = "NodeId"
    [[inputs.http_listener_v2.json_v2.field]]
      path = "Summary.Timing.Total"
      rename = "rtt"
      type = "float"
      optional = true
    [[inputs.http_listener_v2.json_v2.field]]
      path = "Summary.Timestamp"
      rename = "timestamp"
      type = "string"
    [[inputs.http_listener_v2.json_v2.field]]
      path = "Summary.Error.Code"
      rename = "error"
      type = "string"
      optional = true

[[processors.lookup]]
  order = 1
  files = [${tomlString(o.lookupFile)}]
  format = "json"
  key = '{{.Tag "NodeId"}}'

[[processors.starlark]]
  order = 2
  script = ${tomlString(o.starlarkFile)}

[[outputs.opentsdb]]
  prefix = "catchpoint."
  separator = "."
  host = ${tomlString(`${tsdb.protocol}//${tsdb.hostname}`)}
  port = ${Number(tsdb.port)}
  http_batch_size = ${o.httpBatchSize ?? 500}
`;
}

/** Path of the Telegraf binary, building it first when the cache does not have it (minutes). */
export function buildTelegraf(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [TELEGRAF_BUILD_SCRIPT], { maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      const path = stdout.trim().split('\n').pop() ?? '';
      if (err === null && path !== '') resolve(path);
      else {
        const last = stderr.trim().split('\n').pop() ?? '';
        reject(new Error(`scripts/peers/telegraf.sh failed: ${last || err?.message}`));
      }
    });
  });
}

export interface TelegrafProcess {
  pid: number;
  pushUrl: string;
  /** Authorization for every push (basic auth: what http_listener_v2 offers). */
  headers: Record<string, string>;
  /** Metrics Telegraf said it dropped (its "Metric buffer overflow" log lines) since start. */
  droppedMetrics(): number;
  logs: string[];
  /** SIGTERM (Telegraf flushes what it holds), wait for exit, delete its files. */
  stop(): Promise<void>;
}

const DROPPED = /Metric buffer overflow; (\d+) metrics have been dropped/;

export async function startTelegraf(options: {
  binary: string;
  tsdbUrl: string;
  nodes: readonly FakeNode[];
  cpu: string | undefined;
}): Promise<TelegrafProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cpb-telegraf-'));
  const [port] = (await freePorts(1)) as [number];
  const username = 'catchpoint';
  const password = 'bench-push-token-6f1d2c9e8b7a4f3e';
  const lookupFile = join(dir, 'nodes.json');
  const starlarkFile = join(dir, 'catchpoint.star');
  const configFile = join(dir, 'telegraf.conf');
  writeFileSync(lookupFile, `${JSON.stringify(lookupTable(options.nodes), null, 1)}\n`);
  writeFileSync(starlarkFile, starlarkScript());
  writeFileSync(
    configFile,
    telegrafConfig({
      listenPort: port,
      tsdbUrl: options.tsdbUrl,
      lookupFile,
      starlarkFile,
      username,
      password,
    }),
  );
  // One core, as the bridge has: GOMAXPROCS as Go sets it in a pod limited to one CPU.
  const child: ChildProcess = spawn(options.binary, ['--config', configFile], {
    env: { ...process.env, GOMAXPROCS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let dropped = 0;
  const onLine = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.length === 0) continue;
      const m = DROPPED.exec(line);
      if (m !== null) dropped += Number(m[1]);
      logs.push(line);
      if (logs.length > 200) logs.shift();
    }
  };
  child.stdout!.on('data', onLine);
  child.stderr!.on('data', onLine);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  const deadline = Date.now() + 20_000;
  while (!(await acceptsConnections(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      cleanup();
      throw new Error(`telegraf did not start listening:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (options.cpu !== undefined) pin(child.pid!, options.cpu);
  return {
    pid: child.pid!,
    pushUrl: `http://127.0.0.1:${port}/push`,
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
    droppedMetrics: () => dropped,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      cleanup();
    },
  };
}
