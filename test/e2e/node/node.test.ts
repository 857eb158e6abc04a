// The product as users run it, on a real node: the image built by `npm run image` and loaded into
// containerd, `helm install` of the chart, the operator as its Deployment's pods, a
// CatchpointBridge's bridges as pods the kubelet runs and probes, pushes through the Service's
// ClusterIP (kube-proxy), cluster DNS for the handoff, and VictoriaMetrics and the Catchpoint
// stand-in on the node's address. Nothing here writes state that a real component produces.
//
// One cluster for the file: each subtest builds on the one before (install → Ready → pushes →
// edits → disruptions), as a user's day would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { nodeUnsupportedReason } from '../../../scripts/control-plane/node-host.ts';
import { sanitizeTagValue } from '../../../src/opentsdb/sanitize.ts';
import { FAKE_V2_API_KEY } from '../../harness/fake-catchpoint.ts';
import { hostSnapshot } from '../../harness/host-snapshot.ts';
import { type NodeCluster, startNodeCluster } from '../../harness/node-cluster.ts';
import { pushBody, runPushStream } from '../../harness/push-stream.ts';
import { runSpoolClaimScenario } from '../../harness/spool-claim.ts';
import { waitFor } from '../../harness/wait.ts';

const unsupported = nodeUnsupportedReason();
if (unsupported !== undefined) console.log(`# real-node tests not run: ${unsupported}`);

const RELEASE = 'cpb';
const OPERATOR_NS = 'catchpoint-bridge-system';
const NS = 'monitoring';
const CR = 'dns-perf';
const CHILD = `cpb-${CR}`;
const TOKEN = `node-e2e-${'x'.repeat(8)}-${Date.now().toString(36)}`;
const BRIDGE_SELECTOR = `app.kubernetes.io/instance=${CR},app.kubernetes.io/component=bridge`;
const OPERATOR_SELECTOR = 'app.kubernetes.io/component=operator';

let cluster: NodeCluster;
let hostBefore: string;

interface PodView {
  name: string;
  uid: string;
  phase: string;
  ready: boolean;
  restarts: number;
  deleting: boolean;
}

async function pods(namespace: string, selector: string): Promise<PodView[]> {
  const list = JSON.parse(
    await cluster.kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json']),
  ) as {
    items: Array<{
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      status: {
        phase: string;
        conditions?: Array<{ type: string; status: string }>;
        containerStatuses?: Array<{ restartCount: number }>;
      };
    }>;
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    phase: p.status.phase,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
    deleting: p.metadata.deletionTimestamp !== undefined,
  }));
}

async function readyPods(
  namespace: string,
  selector: string,
  count: number,
  timeoutMs?: number,
): Promise<PodView[]> {
  return waitFor(
    `${count} Ready pods (${selector})`,
    async () => {
      const list = (await pods(namespace, selector)).filter((p) => !p.deleting);
      return list.length === count && list.every((p) => p.phase === 'Running' && p.ready) ? list : undefined;
    },
    timeoutMs,
  );
}

/** The operator's leader, as its Lease names it ('' while there is none). */
function leaseHolder(): Promise<string> {
  return cluster.kubectl([
    'get',
    'lease',
    'catchpoint-bridge-operator',
    '-n',
    OPERATOR_NS,
    '-o',
    'jsonpath={.spec.holderIdentity}',
  ]);
}

/** `kubectl patch cpb --type=merge`, as a user edits the CatchpointBridge. */
async function patchBridgeSpec(spec: object): Promise<void> {
  await cluster.kubectl(['patch', 'cpb', CR, '-n', NS, '--type=merge', '-p', JSON.stringify({ spec })]);
}

function cpbField(jsonPath: string): Promise<string> {
  return cluster.kubectl(['get', 'cpb', CR, '-n', NS, '-o', `jsonpath=${jsonPath}`]);
}

async function pushUrl(): Promise<string> {
  const ip = await cluster.kubectl(['get', 'svc', CHILD, '-n', NS, '-o', 'jsonpath={.spec.clusterIP}']);
  return `http://${ip}/push/${TOKEN}`;
}

/** Points of `catchpoint.rtt.by_node.<testId>` in VictoriaMetrics, by timestamp. */
async function storedTimestamps(testId: number): Promise<Set<number>> {
  const series = await cluster.vm.exportSeries(`catchpoint[.]rtt[.]by_node[.]${testId}`);
  return new Set(series.flatMap((s) => s.timestamps));
}

before(async () => {
  if (unsupported !== undefined) return;
  hostBefore = await hostSnapshot();
  cluster = await startNodeCluster();
});

after(async () => {
  if (unsupported !== undefined || cluster === undefined) return;
  await cluster.stop();
});

describe('node', () => {
  it('the product on a real node', { skip: unsupported, timeout: 15 * 60_000 }, async (t) => {
    const nodes = cluster.catchpoint.nodes.slice(0, 40);

    await t.test('the node runs containerd, and the image built here is loaded', async () => {
      const wide = await cluster.kubectl(['get', 'nodes', '-o', 'wide']);
      assert.match(wide, /\sReady\s/);
      assert.match(wide, /containerd:\/\/2\./);
      const images = await cluster.kubectl([
        'get',
        'nodes',
        '-o',
        'jsonpath={.items[0].status.images[*].names}',
      ]);
      assert.ok(images.includes(cluster.image.ref), `${cluster.image.ref} among ${images}`);
    });

    await t.test('helm install: the operator runs as two pods, one of them the leader', async () => {
      await cluster.installChart(RELEASE, OPERATOR_NS);
      const operators = await readyPods(OPERATOR_NS, OPERATOR_SELECTOR, 2);
      const holder = await waitFor('a leader', async () => {
        const h = await leaseHolder();
        return h !== '' ? h : undefined;
      });
      assert.ok(
        operators.some((p) => holder.startsWith(p.name)),
        `leader ${holder} is one of ${operators.map((p) => p.name)}`,
      );
    });

    await t.test('a CatchpointBridge becomes Ready on real pods, counted from them', async () => {
      await cluster.kubectl(['create', 'namespace', NS]);
      const manifests = [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'catchpoint-api' },
          stringData: { apiKey: FAKE_V2_API_KEY },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'catchpoint-push' },
          stringData: { token: TOKEN },
        },
        {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          metadata: { name: CR },
          spec: {
            catchpoint: { baseURL: cluster.catchpoint.url, credentialsSecretRef: { name: 'catchpoint-api' } },
            push: { tokenSecretRef: { name: 'catchpoint-push' } },
            dimensions: ['node', 'country'],
            tsdb: { endpoints: [cluster.vm.httpPutUrl] },
            deployment: { replicas: 2 },
          },
        },
      ];
      await cluster.kubectl(['apply', '-n', NS, '-f', '-'], manifests.map((m) => stringify(m)).join('---\n'));
      const bridges = await readyPods(NS, BRIDGE_SELECTOR, 2);
      assert.ok(bridges.every((p) => p.restarts === 0));
      const row = await waitFor('kubectl get cpb: Ready', async () => {
        const out = await cluster.kubectl(['get', 'cpb', CR, '-n', NS, '--no-headers']);
        return /\sTrue\s/.test(out) ? out : undefined;
      });
      assert.match(row, /\s2\/2\s/, `REPLICAS counts the two Ready pods: ${row}`);
      await waitFor('the node directory', async () =>
        Number(await cpbField('{.status.bridge.directorySize}')) > 0 ? true : undefined,
      );
    });

    await t.test(
      'pushes to the Service ClusterIP land in VictoriaMetrics with the stand-in’s node tags',
      async () => {
        const url = await pushUrl();
        const testId = 710001;
        const start = Date.now() - 10 * 60_000;
        for (let i = 0; i < nodes.length; i++) {
          const node = nodes[i]!;
          const res = await fetch(url, {
            method: 'POST',
            body: pushBody({
              testId,
              nodeId: node.id,
              nodeName: node.name,
              asn: node.asn,
              timestampMs: start + i,
              totalMs: 100 + i,
            }),
          });
          assert.equal(res.status, 200, await res.text());
        }
        const series = await cluster.vm.waitForPoints(
          `catchpoint[.]rtt[.]by_country[.]${testId}`,
          nodes.length,
          30_000,
        );
        const byNode = new Map(nodes.map((n) => [String(n.id), n]));
        for (const s of series) {
          const node = byNode.get(s.metric.nodeid ?? '');
          assert.ok(node, `series for a node that pushed: ${JSON.stringify(s.metric)}`);
          assert.equal(s.metric.country, sanitizeTagValue(node.country), `country tag of node ${node.id}`);
        }
      },
    );

    await t.test('a dimensions edit applies live: new series, same pods, no restarts', async () => {
      const before = await readyPods(NS, BRIDGE_SELECTOR, 2);
      await patchBridgeSpec({ dimensions: ['node', 'country', 'city'] });
      const url = await pushUrl();
      const testId = 710002;
      let i = 0;
      await waitFor(
        'by_city series',
        async () => {
          const node = nodes[i % nodes.length]!;
          await fetch(url, {
            method: 'POST',
            body: pushBody({
              testId,
              nodeId: node.id,
              nodeName: node.name,
              asn: node.asn,
              timestampMs: Date.now() - 60_000 + i++,
              totalMs: 50,
            }),
          });
          const series = await cluster.vm.exportSeries(`catchpoint[.]rtt[.]by_city[.]${testId}`);
          return series.length > 0 ? series : undefined;
        },
        60_000,
      );
      const afterEdit = await pods(NS, BRIDGE_SELECTOR);
      assert.deepEqual(
        afterEdit.map((p) => p.uid).sort(),
        before.map((p) => p.uid).sort(),
        'the same pods: nothing rolled',
      );
      assert.ok(
        afterEdit.every((p) => p.restarts === 0),
        'no restarts',
      );
    });

    await t.test(
      'non-root, and the root filesystem is read-only for real: only the spool is writable',
      async () => {
        const [pod] = await readyPods(NS, BRIDGE_SELECTOR, 2);
        const script = `
      const fs = require('node:fs');
      const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); fs.rmSync(p); return 'ok'; } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        uid: process.getuid(), gid: process.getgid(),
        app: tryWrite('/app/probe'), tmp: tryWrite('/tmp/probe'), etc: tryWrite('/etc/probe'),
        spool: tryWrite('/var/lib/catchpoint-bridge/spool/.write-probe'),
      }));`;
        const out = await cluster.kubectl([
          'exec',
          '-n',
          NS,
          pod!.name,
          '-c',
          'bridge',
          '--',
          '/nodejs/bin/node',
          '-e',
          script,
        ]);
        assert.deepEqual(JSON.parse(out), {
          uid: 10001,
          gid: 10001,
          app: 'EROFS',
          tmp: 'EROFS',
          etc: 'EROFS',
          spool: 'ok',
        });
      },
    );

    await t.test(
      'a bridge pod deleted while the TSDB is down hands what it acknowledged to its peer: 0 lost',
      async () => {
        const url = await pushUrl();
        const [victim] = await readyPods(NS, BRIDGE_SELECTOR, 2);
        await cluster.vm.stop();
        const testId = 710003;
        const stream = runPushStream({
          url: () => url,
          ratePerSecond: 20,
          durationMs: 20_000,
          testId,
          nodes,
        });
        await new Promise((r) => setTimeout(r, 5_000));
        await cluster.kubectl(['delete', 'pod', victim!.name, '-n', NS, '--wait=false']);
        const result = await stream;
        // The pod spends 5 s out of the Service, 40 s delivering (into a TSDB that is down), then
        // hands its spool to the Service: the other pod, or the new one.
        await waitFor(
          `${victim!.name} gone`,
          async () =>
            (await pods(NS, BRIDGE_SELECTOR)).some((p) => p.name === victim!.name) ? undefined : true,
          120_000,
        );
        await cluster.vm.start();
        const acknowledged = new Set(result.acknowledged.map((p) => p.timestampMs));
        assert.ok(acknowledged.size > 300, `acknowledged ${acknowledged.size} of ${result.sent}`);
        const stored = await waitFor(
          'every acknowledged push in VictoriaMetrics',
          async () => {
            const s = await storedTimestamps(testId);
            return [...acknowledged].every((ts) => s.has(ts)) ? s : undefined;
          },
          120_000,
        );
        assert.ok(stored.size >= acknowledged.size);
        await readyPods(NS, BRIDGE_SELECTOR, 2);
      },
    );

    await t.test(
      'spool on a claim (local PersistentVolume), one replica, TSDB down, its pod killed mid-drain: it comes back to its spool, 0 lost',
      async () => {
        const r = await runSpoolClaimScenario(cluster, {
          namespace: NS,
          name: 'spool-claim',
          catchpointSecret: 'catchpoint-api',
          pushSecret: 'catchpoint-push',
          token: TOKEN,
          testId: 710005,
          nodes,
          progress: (line) => t.diagnostic(line),
        });
        assert.equal(r.ownerKind, 'StatefulSet', 'the bridge runs as a StatefulSet');
        assert.equal(r.boundVolume, 'local-spool-0', "replica 0's claim is bound to the local volume");
        assert.equal(r.podAfter.name, r.podBefore.name, 'the same identity, so the same claim');
        assert.notEqual(r.podAfter.uid, r.podBefore.uid, 'a new pod');
        assert.ok(r.acknowledged.length > 80, `acknowledged ${r.acknowledged.length} of ${r.sent}`);
        assert.equal(r.missing.length, 0, `${r.missing.length} acknowledged pushes missing`);
        t.diagnostic(
          `spool on a claim: sent ${r.sent}, acknowledged ${r.acknowledged.length}, refused ${JSON.stringify(Object.fromEntries(r.failures))}, pod back in ${r.podBackMs} ms, all delivered ${r.recoveryMs} ms after the TSDB`,
        );
      },
    );

    await t.test(
      'a rolling update under a push stream: 0 acknowledged lost, refusals only 503 with Retry-After',
      async () => {
        const url = await pushUrl();
        const before = await readyPods(NS, BRIDGE_SELECTOR, 2);
        const testId = 710004;
        const stream = runPushStream({
          url: () => url,
          ratePerSecond: 20,
          durationMs: 45_000,
          testId,
          nodes,
        });
        await new Promise((r) => setTimeout(r, 3_000));
        // A change only a new pod can take: its resources.
        await patchBridgeSpec({
          deployment: {
            resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } },
          },
        });
        await waitFor(
          'the roll to finish',
          async () => {
            const now = (await pods(NS, BRIDGE_SELECTOR)).filter((p) => !p.deleting);
            const fresh = now.filter((p) => !before.some((b) => b.uid === p.uid));
            return fresh.length === 2 && now.length === 2 && fresh.every((p) => p.ready) ? true : undefined;
          },
          120_000,
        );
        const result = await stream;
        const failures = Object.fromEntries(result.failures);
        assert.deepEqual(
          Object.keys(failures).filter((k) => k !== '503'),
          [],
          `refusals other than 503: ${JSON.stringify(failures)}`,
        );
        assert.equal(result.unavailableWithoutRetryAfter, 0, '503s carry Retry-After');
        const acknowledged = new Set(result.acknowledged.map((p) => p.timestampMs));
        assert.ok(acknowledged.size > 500, `acknowledged ${acknowledged.size} of ${result.sent}`);
        await waitFor(
          'every acknowledged push in VictoriaMetrics',
          async () => {
            const s = await storedTimestamps(testId);
            return [...acknowledged].every((ts) => s.has(ts)) ? true : undefined;
          },
          120_000,
        );
        t.diagnostic(
          `rolling update: sent ${result.sent}, acknowledged ${acknowledged.size}, refused ${JSON.stringify(failures)}`,
        );
      },
    );

    await t.test(
      'the operator leader pod killed: the other replica leads and reconciles the next edit',
      async () => {
        const operators = await readyPods(OPERATOR_NS, OPERATOR_SELECTOR, 2);
        const holder = await leaseHolder();
        const leaderPod = operators.find((p) => holder.startsWith(p.name));
        assert.ok(leaderPod, `leader ${holder} among ${operators.map((p) => p.name)}`);
        const standby = operators.find((p) => p !== leaderPod)!;
        await cluster.kubectl([
          'delete',
          'pod',
          leaderPod.name,
          '-n',
          OPERATOR_NS,
          '--grace-period=0',
          '--force',
        ]);
        await waitFor('the standby to take the Lease', async () =>
          (await leaseHolder()).startsWith(standby.name) ? true : undefined,
        );
        await patchBridgeSpec({ deployment: { replicas: 3 } });
        await readyPods(NS, BRIDGE_SELECTOR, 3);
        await waitFor('REPLICAS 3/3', async () =>
          (await cpbField('{.status.replicasSummary}')) === '3/3' ? true : undefined,
        );
      },
    );
  });

  it('stopping the node puts the host back as it was', { skip: unsupported, timeout: 120_000 }, async () => {
    await cluster.stop();
    assert.equal(await hostSnapshot(), hostBefore);
  });
});
