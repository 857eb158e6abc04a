/**
 * `npm run demo`: the whole product on one machine, with nothing from outside.
 *
 * A real kube-apiserver + etcd (built from the Go module proxy) with a real node (containerd,
 * runc, a kubelet, kube-proxy, CoreDNS), VictoriaMetrics as the TSDB, a local stand-in for
 * Catchpoint's REST API with a realistic node list; the product's image built by `npm run image`
 * and loaded into the node; `helm install` of the chart; the operator and the bridges as pods; a
 * CatchpointBridge applied; recorded pushes replayed through `catchpoint-bridge replay` to the
 * bridge Service's ClusterIP; the series read back; the CR's dimensions edited and the new series
 * shown. Ctrl-C tears everything down and puts the host back. `--ci` exits after the tour.
 *
 * A machine that cannot run a node (not root, no cgroups) gets a fallback, labelled as such on
 * screen: the operator and a bridge as host processes, the Deployment's status written by the demo.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { type BridgeProcess, startBridgeProcess } from '../test/harness/bridge-process.ts';
import { type ControlPlane, startControlPlane } from '../test/harness/control-plane.ts';
import {
  FAKE_V2_API_KEY,
  type FakeCatchpoint,
  startFakeCatchpoint,
} from '../test/harness/fake-catchpoint.ts';
import { type NodeCluster, startNodeCluster } from '../test/harness/node-cluster.ts';
import { pushBody } from '../test/harness/push-stream.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from '../test/harness/victoria-metrics.ts';
import { REPO_ROOT } from './control-plane/binaries.ts';
import { nodeUnsupportedReason } from './control-plane/node-host.ts';

const ci = process.argv.includes('--ci');
const run = promisify(execFile);
const DEMO_DIR = join(REPO_ROOT, '.demo');
const RELEASE = 'catchpoint-bridge';
const OPERATOR_NS = 'catchpoint-bridge-system';
const NS = 'monitoring';
const TOKEN = `demo${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const cli = join(REPO_ROOT, 'src/cli.ts');

let plane: ControlPlane | undefined;
let vm: VictoriaMetrics | undefined;
let catchpoint: FakeCatchpoint | undefined;
let operator: ChildProcess | undefined;
let bridge: BridgeProcess | undefined;
let cluster: NodeCluster | undefined;
/** Where pushes go: the bridge Service's ClusterIP on a node, the host process's URL otherwise. */
let bridgeUrl = '';

const step = (n: number, text: string) => console.log(`\n\x1b[1m[${n}] ${text}\x1b[0m`);
const say = (text: string) => console.log(`    ${text}`);

async function tool(bin: string, args: string[], input?: string): Promise<string> {
  const env = {
    ...process.env,
    KUBECONFIG: plane!.kubeconfigPath,
    HELM_CACHE_HOME: join(DEMO_DIR, 'helm/cache'),
    HELM_CONFIG_HOME: join(DEMO_DIR, 'helm/config'),
    HELM_DATA_HOME: join(DEMO_DIR, 'helm/data'),
  };
  if (input === undefined)
    return (await run(join(plane!.binDir, bin), args, { env, maxBuffer: 1 << 24 })).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(join(plane!.binDir, bin), args, { env }, (err, stdout, stderr) =>
      err ? reject(new Error(`${bin} ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
    child.stdin!.end(input);
  });
}

/** One field of the demo's CatchpointBridge, by kubectl JSONPath. */
function cpbField(jsonPath: string): Promise<string> {
  return tool('kubectl', ['get', 'cpb', 'dns-perf', '-n', NS, '-o', `jsonpath=${jsonPath}`]);
}

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await read();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function recordedPushes(testIds: number[], count: number): string[] {
  const nodes = catchpoint!.nodes;
  const start = Date.now() - 30 * 60_000;
  return Array.from({ length: count }, (_, i) => {
    const node = nodes[i % nodes.length]!;
    const failed = i % 37 === 0;
    return pushBody({
      testId: testIds[i % testIds.length]!,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: start + i * 1500,
      totalMs: 20 + ((node.id * 7919 + i * 31) % 400),
      ...(failed ? { errorCode: 12029 } : {}),
    });
  });
}

async function replayPushes(file: string, bodies: string[]): Promise<void> {
  await writeFile(file, `${bodies.join('\n')}\n`);
  const { stdout } = await run(process.execPath, [cli, 'replay', '--file', file, '--rate', '200'], {
    // The token goes in a header (Authorization: Bearer), never in the URL, as the README recommends.
    env: { ...process.env, CATCHPOINT_BRIDGE_URL: `${bridgeUrl}/push`, CATCHPOINT_BRIDGE_TOKEN: TOKEN },
  });
  say(`$ catchpoint-bridge replay --file ${file.replace(`${REPO_ROOT}/`, '')} --rate 200`);
  say(stdout.trim());
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) say(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

/** Mean RTT per tag value of `catchpoint.rtt.by_<dim>.*`, as read back from VictoriaMetrics. */
async function rttBy(dim: string, tag: string): Promise<Array<[string, number, number]>> {
  const series = await vm!.exportSeries(`catchpoint[.]rtt[.]by_${dim}[.].*`);
  const sums = new Map<string, { sum: number; n: number }>();
  for (const s of series) {
    const key = s.metric[tag] ?? '?';
    const e = sums.get(key) ?? { sum: 0, n: 0 };
    for (const v of s.values) {
      e.sum += v;
      e.n += 1;
    }
    sums.set(key, e);
  }
  return [...sums]
    .map(([k, e]) => [k, e.sum / e.n, e.n] as [string, number, number])
    .sort((a, b) => b[1] - a[1]);
}

/** A bar chart as SVG (no dependency; opens in any browser). */
async function svgBars(file: string, title: string, rows: Array<[string, number, number]>): Promise<void> {
  const top = rows.slice(0, 15);
  const max = Math.max(...top.map((r) => r[1]), 1);
  const bars = top
    .map(([label, v], i) => {
      const y = 40 + i * 24;
      const w = Math.round((v / max) * 420);
      const safe = label.replace(/[<&>]/g, '');
      return `<text x="170" y="${y + 14}" text-anchor="end" font-size="12">${safe}</text><rect x="180" y="${y}" width="${w}" height="18" fill="#3b7dd8"/><text x="${186 + w}" y="${y + 14}" font-size="11">${v.toFixed(0)} ms</text>`;
    })
    .join('');
  const h = 60 + top.length * 24;
  await writeFile(
    file,
    `<svg xmlns="http://www.w3.org/2000/svg" width="680" height="${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="20" y="24" font-size="15" font-weight="bold">${title}</text>${bars}</svg>\n`,
  );
}

function demoManifests(): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'catchpoint-api' },
      stringData: { apiKey: FAKE_V2_API_KEY },
    },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'catchpoint-push' }, stringData: { token: TOKEN } },
    {
      apiVersion: 'catchpoint-bridge.io/v1alpha1',
      kind: 'CatchpointBridge',
      metadata: { name: 'dns-perf' },
      spec: {
        catchpoint: { baseURL: catchpoint!.url, credentialsSecretRef: { name: 'catchpoint-api' } },
        push: { tokenSecretRef: { name: 'catchpoint-push' } },
        tsdb: { endpoints: [vm!.httpPutUrl] },
      },
    },
  ];
}

const indent = (text: string) => text.trim().split('\n').join('\n    ');

/** The product on a real node: every pod, probe and Service as a cluster runs them. */
async function mainOnNode(): Promise<void> {
  step(
    1,
    'Build the image (npm run image), start a control plane with a real node, VictoriaMetrics and the Catchpoint REST stand-in',
  );
  cluster = await startNodeCluster();
  ({ plane, vm, catchpoint } = cluster);
  say(
    `image ${cluster.image.ref} ${cluster.image.digest} (${(cluster.image.bytes / 2 ** 20).toFixed(1)} MiB), loaded into the node`,
  );
  say(
    `API server ${plane.server}; kubeconfig: export KUBECONFIG=${plane.kubeconfigPath}   (kubectl: ${join(plane.binDir, 'kubectl')})`,
  );
  say(
    `VictoriaMetrics (OpenTSDB /api/put): ${vm.httpPutUrl}; Catchpoint API stand-in: ${catchpoint.url} (${catchpoint.nodes.length} nodes)`,
  );
  say('$ kubectl get nodes -o wide');
  say(indent(await tool('kubectl', ['get', 'nodes', '-o', 'wide'])));

  step(
    2,
    `helm install ${RELEASE} charts/catchpoint-bridge (the image built above; the operator runs as 2 pods)`,
  );
  const installed = await cluster.installChart(RELEASE, OPERATOR_NS);

  say(
    installed
      .split('\n')
      .filter((l) => /^(NAME|STATUS|REVISION):/.test(l))
      .join('  '),
  );

  step(
    3,
    'kubectl apply a CatchpointBridge and its Secrets (deploy/examples/minimal.yaml, pointed at the local parts)',
  );
  await tool('kubectl', ['create', 'namespace', NS]);
  await tool(
    'kubectl',
    ['apply', '-n', NS, '-f', '-'],
    demoManifests()
      .map((m) => stringify(m))
      .join('---\n'),
  );
  await waitFor(
    'Ready',
    () =>
      cpbField('{.status.conditions[?(@.type=="Ready")].status}').then((s) => (s === 'True' ? s : undefined)),
    180_000,
  );
  await waitFor('the node directory', () =>
    cpbField('{.status.bridge.directorySize}').then((s) => (Number(s) > 0 ? s : undefined)),
  );
  say('$ kubectl get pods -A -o wide   (the operator and the bridges, run by the kubelet)');
  say(indent(await tool('kubectl', ['get', 'pods', '-A', '-o', 'wide'])));
  say('$ kubectl get cpb -n monitoring');
  say(indent(await tool('kubectl', ['get', 'cpb', '-n', NS])));
  const clusterIp = await tool('kubectl', [
    'get',
    'svc',
    'cpb-dns-perf',
    '-n',
    NS,
    '-o',
    'jsonpath={.spec.clusterIP}',
  ]);
  bridgeUrl = `http://${clusterIp}`;
  say(
    `pushes go to the bridge Service: ${bridgeUrl}/push, token in an Authorization header (kube-proxy picks a pod)`,
  );
  await tour(4);
}

/** Fallback where no node can run: host processes, and a Deployment status written by the demo. */
async function mainOnHost(reason: string): Promise<void> {
  console.log(
    `\n\x1b[1;33mFALLBACK: this machine cannot run a node (${reason}). The operator and the bridge run as host processes, and the Deployment's status below is written by this demo, not by a kubelet.\x1b[0m`,
  );
  step(
    1,
    'Start a local control plane (kube-apiserver + etcd), VictoriaMetrics and the Catchpoint REST stand-in',
  );
  [plane, vm, catchpoint] = await Promise.all([
    startControlPlane({ crdDir: null, kubeconfigPath: join(DEMO_DIR, 'kubeconfig') }),
    startVictoriaMetrics(),
    startFakeCatchpoint(),
  ]);
  say(
    `API server ${plane.server} (${await tool('kubectl', ['version', '-o', 'json']).then((o) => JSON.parse(o).serverVersion.gitVersion)})`,
  );
  say(`kubeconfig: export KUBECONFIG=${plane.kubeconfigPath}   (kubectl: ${join(plane.binDir, 'kubectl')})`);
  say(
    `VictoriaMetrics (OpenTSDB /api/put): ${vm.httpPutUrl}; Catchpoint API stand-in: ${catchpoint.url} (${catchpoint.nodes.length} nodes)`,
  );

  step(2, `helm install ${RELEASE} charts/catchpoint-bridge`);
  await tool('kubectl', ['create', 'namespace', OPERATOR_NS]);
  const installed = await tool('helm', [
    'install',
    RELEASE,
    join(REPO_ROOT, 'charts/catchpoint-bridge'),
    '-n',
    OPERATOR_NS,
    '--set',
    'operator.replicas=1',
  ]);
  say(
    installed
      .split('\n')
      .filter((l) => /^(NAME|STATUS|REVISION):/.test(l))
      .join('  '),
  );
  say(
    (await tool('kubectl', ['get', 'crd', 'catchpointbridges.catchpoint-bridge.io']))
      .trim()
      .split('\n')
      .join('\n    '),
  );

  step(3, "Run the operator as a local process, as the chart's ServiceAccount (no kubelet here)");
  const operatorKubeconfig = await plane.kubeconfigFileForServiceAccount(OPERATOR_NS, RELEASE);
  operator = spawn(
    process.execPath,
    [
      cli,
      'operator',
      '--image',
      'ghcr.io/catchpoint-bridge/catchpoint-bridge:0.1.0',
      '--lease-namespace',
      OPERATOR_NS,
      '--listen-metrics',
      '127.0.0.1:0',
    ],
    {
      env: { ...process.env, KUBECONFIG: operatorKubeconfig, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  say(`operator pid ${operator.pid}, ServiceAccount ${OPERATOR_NS}/${RELEASE}`);

  step(
    4,
    'kubectl apply a CatchpointBridge and its Secrets (deploy/examples/minimal.yaml, pointed at the local parts)',
  );
  await tool('kubectl', ['create', 'namespace', NS]);
  const manifests = demoManifests();
  await tool('kubectl', ['apply', '-n', NS, '-f', '-'], manifests.map((m) => stringify(m)).join('---\n'));
  await waitFor('the operator to create the bridge', () =>
    tool('kubectl', ['get', 'rolebinding', '-n', NS, 'cpb-dns-perf', '-o', 'name']).then((o) =>
      o.trim() ? o : undefined,
    ),
  );
  say(
    (await tool('kubectl', ['get', 'deploy,svc,sa,role,rolebinding,pdb', '-n', NS]))
      .trim()
      .split('\n')
      .join('\n    '),
  );

  step(
    5,
    'Run the bridge as a local process, as the ServiceAccount the operator created (it reads its CR and Secrets live)',
  );
  bridge = await startBridgeProcess({
    resource: {
      namespace: NS,
      name: 'dns-perf',
      kubeconfig: await plane.kubeconfigFileForServiceAccount(NS, 'cpb-dns-perf'),
    },
  });
  bridgeUrl = bridge.url;
  // STAND-IN: what the kubelet and the Deployment controller would report once the pods run.
  say('STAND-IN: the Deployment status 2/2 is written by this demo (no kubelet on this machine)');
  await tool('kubectl', [
    'patch',
    'deployment',
    'cpb-dns-perf',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 } }),
  ]);
  await waitFor('Ready', () =>
    cpbField('{.status.conditions[?(@.type=="Ready")].status}').then((s) => (s === 'True' ? s : undefined)),
  );
  await waitFor('the node directory', () =>
    cpbField('{.status.bridge.directorySize}').then((s) => (Number(s) > 0 ? s : undefined)),
  );
  say(
    `bridge pid ${bridge.pid} listening at ${bridge.url}; Catchpoint would push to ${bridge.url}/push (token in a header)`,
  );
  say('$ kubectl get cpb -n monitoring');
  say((await tool('kubectl', ['get', 'cpb', '-n', NS])).trim().split('\n').join('\n    '));
  await tour(6);
}

/** Pushes replayed, series read back, a live edit, what a user sees: the same on both paths. */
async function tour(firstStep: number): Promise<void> {
  const pods = () =>
    tool('kubectl', [
      'get',
      'pods',
      '-n',
      NS,
      '-o',
      'jsonpath={range .items[*]}{.metadata.uid}:{.status.containerStatuses[0].restartCount} {end}',
    ]);
  const podsBefore = cluster ? await pods() : '';
  step(firstStep, 'Replay 1,500 recorded pushes (3 tests × 260 nodes, some failures)');
  const first = recordedPushes([464062, 12345, 777001], 1500);
  await replayPushes(join(DEMO_DIR, 'pushes-1.ndjson'), first);
  await vm!.waitForPoints(
    'catchpoint[.]rtt[.]by_node[.].*',
    1500 - first.filter((b) => b.includes('"Error"')).length,
    60_000,
  );
  const byCountry = await rttBy('country', 'country');
  say(
    `series in VictoriaMetrics: ${(await vm!.exportSeries('catchpoint[.].*')).length}; slowest countries by mean RTT:`,
  );
  table([
    ['country', 'mean rtt (ms)', 'points'],
    ...byCountry.slice(0, 8).map(([c, v, n]) => [c, v.toFixed(1), String(n)]),
  ]);
  await svgBars(join(DEMO_DIR, 'rtt-by-country.svg'), 'catchpoint.rtt.by_country: mean RTT (ms)', byCountry);
  say(`chart: ${join(DEMO_DIR, 'rtt-by-country.svg')}`);

  step(firstStep + 1, 'Edit the CR: add the networkType dimension (no restart, no roll)');
  const rvBefore = await tool('kubectl', [
    'get',
    'deploy',
    'cpb-dns-perf',
    '-n',
    NS,
    '-o',
    'jsonpath={.metadata.resourceVersion}',
  ]);
  await tool('kubectl', [
    'patch',
    'cpb',
    'dns-perf',
    '-n',
    NS,
    '--type=merge',
    '-p',
    JSON.stringify({
      spec: { dimensions: ['node', 'asn', 'continent', 'city', 'country', 'region', 'isp', 'networkType'] },
    }),
  ]);
  await waitFor('the bridge to take generation 2', () =>
    cpbField('{.status.bridge.configGeneration}').then((g) => (g === '2' ? g : undefined)),
  );
  const rvAfter = await tool('kubectl', [
    'get',
    'deploy',
    'cpb-dns-perf',
    '-n',
    NS,
    '-o',
    'jsonpath={.metadata.resourceVersion}',
  ]);
  say(
    `Deployment resourceVersion ${rvBefore} → ${rvAfter} (${rvBefore === rvAfter ? 'unchanged: the pods did not roll' : 'CHANGED'})`,
  );
  await replayPushes(
    join(DEMO_DIR, 'pushes-2.ndjson'),
    recordedPushes([464062], 600).map((b) => b.replace('"DivisionId":1033', '"DivisionId":1034')),
  );
  const byNetwork = await waitFor('network_type series', async () => {
    const rows = await rttBy('networkType', 'network_type');
    return rows.length > 0 ? rows : undefined;
  });
  say('new series catchpoint.rtt.by_networkType.<testId>:');
  table([
    ['network_type', 'mean rtt (ms)', 'points'],
    ...byNetwork.map(([c, v, n]) => [c, v.toFixed(1), String(n)]),
  ]);

  if (cluster) {
    const podsAfter = await pods();
    say(
      `bridge pods (uid:restarts) ${podsAfter.trim()} — ${podsAfter === podsBefore ? 'the same pods, no restarts' : 'CHANGED'}`,
    );
  }
  step(firstStep + 2, 'kubectl describe cpb (what a user sees)');
  const described = await tool('kubectl', ['describe', 'cpb', 'dns-perf', '-n', NS]);
  say(
    described
      .trim()
      .split('\n')
      .filter((l) => !/Managed Fields|Manager|Operation|Time:|Fields Type|f:/.test(l))
      .slice(-40)
      .join('\n    '),
  );
  console.log('\ndemo complete.');
}

async function teardown(): Promise<void> {
  if (cluster) {
    await cluster.stop();
    return;
  }
  operator?.kill('SIGTERM');
  await bridge?.cleanup().catch(() => {});
  await Promise.all([vm?.close(), catchpoint?.close(), plane?.stop()].map((p) => p?.catch(() => {})));
}

let tearingDown = false;
const onSignal = () => {
  if (tearingDown) return;
  tearingDown = true;
  console.log('\ntearing down…');
  void teardown().then(() => process.exit(0));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

async function main(): Promise<void> {
  await rm(DEMO_DIR, { recursive: true, force: true });
  await mkdir(DEMO_DIR, { recursive: true });
  const reason = nodeUnsupportedReason();
  if (reason === undefined) await mainOnNode();
  else await mainOnHost(reason);
}

try {
  await main();
  if (ci) {
    await teardown();
  } else {
    console.log('Everything keeps running: use the kubeconfig above with kubectl. Ctrl-C tears it all down.');
    await new Promise(() => {});
  }
} catch (err) {
  console.error(`demo failed: ${(err as Error).stack}`);
  await teardown();
  process.exit(1);
}
