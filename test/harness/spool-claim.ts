// A single-replica CatchpointBridge with its spool on a claim, on a real node: a local
// PersistentVolume made as a cluster admin makes one (a directory on the node, a StorageClass
// without a provisioner that binds when the pod is scheduled), the TSDB stopped, a push stream to
// the bridge's Service, and the pod deleted with a short grace period in the middle of it, so it
// is killed 10 s into its drain with no peer to hand off to. What it acknowledged is then only
// on its claim. Shared by the node e2e test (which asserts) and the fault suite (which reports).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { NodeCluster } from './node-cluster.ts';
import { type PushSpecimen, runPushStream } from './push-stream.ts';
import { waitFor } from './wait.ts';

export interface SpoolClaimOptions {
  /** Namespace of the CatchpointBridge; it must hold the two Secrets named below. */
  namespace: string;
  name: string;
  catchpointSecret: string;
  pushSecret: string;
  token: string;
  testId: number;
  nodes: ReadonlyArray<{ id: number; name: string; asn: number }>;
  /** Called at each step, for a progress line. */
  progress?: (line: string) => void;
}

export interface SpoolClaimResult {
  /** The workload kind that owned the pod, and the volume its claim was bound to. */
  ownerKind: string;
  boundVolume: string;
  sent: number;
  acknowledged: PushSpecimen[];
  failures: Map<number | 'network', number>;
  podBefore: { name: string; uid: string };
  podAfter: { name: string; uid: string };
  /** Acknowledged pushes not in VictoriaMetrics when the wait ended (empty: none lost). */
  missing: PushSpecimen[];
  /** Pod deleted → the new pod Ready on the same claim. */
  podBackMs: number;
  /** TSDB back → every acknowledged push visible. */
  recoveryMs: number;
}

const VOLUME = 'local-spool-0';
const CLASS = 'local-spool';

interface PodItem {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: { conditions?: Array<{ type: string; status: string }> };
}

export async function runSpoolClaimScenario(
  cluster: NodeCluster,
  o: SpoolClaimOptions,
): Promise<SpoolClaimResult> {
  const say = o.progress ?? (() => {});
  const selector = `app.kubernetes.io/instance=${o.name},app.kubernetes.io/component=bridge`;
  const readyPods = async () => {
    const list = JSON.parse(
      await cluster.kubectl(['get', 'pods', '-n', o.namespace, '-l', selector, '-o', 'json']),
    ) as { items: PodItem[] };
    return list.items
      .filter((p) => p.metadata.deletionTimestamp === undefined)
      .filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  };
  const volumeDir = await mkdtemp(join(tmpdir(), 'cpb-local-pv-'));
  try {
    const node = await cluster.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}']);
    await cluster.kubectl(
      ['apply', '-f', '-'],
      [
        {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name: CLASS },
          provisioner: 'kubernetes.io/no-provisioner',
          volumeBindingMode: 'WaitForFirstConsumer',
        },
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: VOLUME },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: CLASS,
            local: { path: volumeDir },
            nodeAffinity: {
              required: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
                ],
              },
            },
          },
        },
      ]
        .map((m) => stringify(m))
        .join('---\n'),
    );
    await cluster.kubectl(
      ['apply', '-n', o.namespace, '-f', '-'],
      stringify({
        apiVersion: 'catchpoint-bridge.io/v1alpha1',
        kind: 'CatchpointBridge',
        metadata: { name: o.name },
        spec: {
          catchpoint: { baseURL: cluster.catchpoint.url, credentialsSecretRef: { name: o.catchpointSecret } },
          push: { tokenSecretRef: { name: o.pushSecret } },
          dimensions: ['node'],
          tsdb: { endpoints: [cluster.vm.httpPutUrl] },
          spool: {
            maxBytes: '256Mi',
            storage: {
              type: 'persistentVolumeClaim',
              persistentVolumeClaim: { size: '1Gi', storageClassName: CLASS },
            },
          },
          deployment: { replicas: 1 },
        },
      }),
    );
    const [first] = await waitFor(
      'the bridge pod Ready',
      async () => ((await readyPods()).length === 1 ? readyPods() : undefined),
      120_000,
    );
    const ownerKind = await cluster.kubectl([
      'get',
      'pod',
      first!.metadata.name,
      '-n',
      o.namespace,
      '-o',
      'jsonpath={.metadata.ownerReferences[0].kind}',
    ]);
    const boundVolume = await cluster.kubectl([
      'get',
      'pvc',
      `spool-cpb-${o.name}-0`,
      '-n',
      o.namespace,
      '-o',
      'jsonpath={.spec.volumeName}',
    ]);
    const ip = await cluster.kubectl([
      'get',
      'svc',
      `cpb-${o.name}`,
      '-n',
      o.namespace,
      '-o',
      'jsonpath={.spec.clusterIP}',
    ]);
    say(`${first!.metadata.name} Ready (${ownerKind}, claim on ${boundVolume}); TSDB down, pushes for 12 s`);
    await cluster.vm.stop();
    const stream = runPushStream({
      url: () => `http://${ip}/push/${o.token}`,
      ratePerSecond: 20,
      durationMs: 12_000,
      testId: o.testId,
      nodes: o.nodes,
    });
    await new Promise((r) => setTimeout(r, 6_000));
    const deletedAt = Date.now();
    await cluster.kubectl([
      'delete',
      'pod',
      first!.metadata.name,
      '-n',
      o.namespace,
      '--grace-period=10',
      '--wait=false',
    ]);
    say(`${first!.metadata.name} deleted (grace period 10 s) under the stream`);
    const result = await stream;
    const [second] = await waitFor(
      'the pod back on its claim',
      async () => {
        const list = (await readyPods()).filter((p) => p.metadata.uid !== first!.metadata.uid);
        return list.length === 1 ? list : undefined;
      },
      120_000,
    );
    const podBackMs = Date.now() - deletedAt;
    say(`${second!.metadata.name} back in ${podBackMs} ms; TSDB up`);
    await cluster.vm.start();
    const tsdbBack = Date.now();
    const acknowledged = result.acknowledged;
    const stored = async () => {
      const series = await cluster.vm.exportSeries(`catchpoint[.]rtt[.]by_node[.]${o.testId}`);
      return new Set(series.flatMap((s) => s.timestamps));
    };
    let missing = acknowledged;
    await waitFor(
      'every acknowledged push in VictoriaMetrics',
      async () => {
        const s = await stored();
        missing = acknowledged.filter((p) => !s.has(p.timestampMs));
        return missing.length === 0 ? true : undefined;
      },
      120_000,
    ).catch(() => undefined);
    return {
      ownerKind,
      boundVolume,
      sent: result.sent,
      acknowledged,
      failures: result.failures,
      podBefore: { name: first!.metadata.name, uid: first!.metadata.uid },
      podAfter: { name: second!.metadata.name, uid: second!.metadata.uid },
      missing,
      podBackMs,
      recoveryMs: Date.now() - tsdbBack,
    };
  } finally {
    await cluster.vm.start().catch(() => undefined);
    await cluster.kubectl(['delete', 'cpb', o.name, '-n', o.namespace, '--ignore-not-found']).catch(() => '');
    await waitFor(
      'its pod gone',
      async () => {
        const list = JSON.parse(
          await cluster.kubectl(['get', 'pods', '-n', o.namespace, '-l', selector, '-o', 'json']),
        ) as { items: unknown[] };
        return list.items.length === 0 ? true : undefined;
      },
      120_000,
    ).catch(() => undefined);
    await cluster
      .kubectl([
        'delete',
        'pvc',
        '-n',
        o.namespace,
        '-l',
        `app.kubernetes.io/instance=${o.name}`,
        '--wait=false',
      ])
      .catch(() => '');
    await cluster.kubectl(['delete', 'pv', VOLUME, '--wait=false']).catch(() => '');
    await rm(volumeDir, { recursive: true, force: true });
  }
}
