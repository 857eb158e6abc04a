// Workload controllers for the local control plane, started only when asked (`workloads` in
// StartOptions): the real kube-controller-manager (Deployment and ReplicaSet controllers) and
// kube-scheduler, plus kwok, which stands in for kubelets: it keeps fake Nodes Ready and marks the
// Pods bound to them Running and Ready. A Deployment then becomes Available the way it does in a
// cluster, without containers. Nothing runs in those Pods; their IPs are never dialled.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface WorkloadOptions {
  /** Fake Nodes to register (kwok keeps them Ready). */
  readonly nodes: number;
  /** Pods each Node takes. */
  readonly podsPerNode?: number;
}

/** The annotation kwok is told to manage Nodes by (kwok's own convention). */
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

// Client rate limits far above the defaults (KCM 20 QPS, scheduler 50): on a real cluster these
// controllers are shared by everything; here they must not be what a benchmark measures.
const CLIENT_QPS = 1000;
const CLIENT_BURST = 2000;

export interface WorkloadProcessSpec {
  readonly name: 'kube-controller-manager' | 'kube-scheduler' | 'kwok';
  readonly args: readonly string[];
}

/**
 * Writes the scheduler's and kwok's config files and returns how to start the three processes.
 * `binDir` holds the binaries and kwok-stages.yaml (build.sh copies kwok's published "fast"
 * stages there: Nodes Ready at once, Pods Running and Ready once bound).
 */
export async function workloadProcesses(
  binDir: string,
  stateDir: string,
  kubeconfigPath: string,
): Promise<WorkloadProcessSpec[]> {
  // The scheduler's client QPS is only settable in its config file.
  const schedulerConfig = await writeSchedulerConfig(stateDir, kubeconfigPath, [
    `  qps: ${CLIENT_QPS}`,
    `  burst: ${CLIENT_BURST}`,
  ]);
  // kwok refuses to start without a config file of its own, and a configuration read from a file
  // gets no defaults: the parallelism settings are kwok's documented defaults, pods raised.
  const kwokConfig = join(stateDir, 'kwok.yaml');
  await writeFile(
    kwokConfig,
    [
      'apiVersion: config.kwok.x-k8s.io/v1alpha1',
      'kind: KwokConfiguration',
      'options:',
      '  podPlayStageParallelism: 16',
      '  nodePlayStageParallelism: 4',
      '  nodeLeaseParallelism: 4',
      '  podsOnNodeSyncParallelism: 4',
      '  enableDebuggingHandlers: false',
      '  enableProfilingHandler: false',
      '',
    ].join('\n'),
  );
  return [
    {
      name: 'kube-controller-manager',
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        '--controllers=deployment-controller,replicaset-controller',
        '--leader-elect=false',
        '--secure-port=0',
        `--kube-api-qps=${CLIENT_QPS}`,
        `--kube-api-burst=${CLIENT_BURST}`,
        '--concurrent-deployment-syncs=16',
        '--concurrent-replicaset-syncs=16',
        '--profiling=false',
      ],
    },
    {
      name: 'kube-scheduler',
      args: [`--config=${schedulerConfig}`, '--secure-port=0', '--profiling=false'],
    },
    {
      name: 'kwok',
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
        // Pod IPs are only written into status; a /16 has room for every benchmark's pods.
        '--cidr=10.244.0.1/16',
        '--node-ip=127.0.0.1',
        `--config=${kwokConfig}`,
        `--config=${join(binDir, 'kwok-stages.yaml')}`,
      ],
    },
  ];
}

/** A Node that kwok manages, as kwok's documentation registers them (status set on create). */
export function fakeNode(name: string, podsPerNode: number): Record<string, unknown> {
  const resources = { cpu: '64', memory: '512Gi', pods: String(podsPerNode) };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', type: 'kwok' },
    },
    spec: {},
    status: { allocatable: resources, capacity: resources },
  };
}

/** Registers `options.nodes` fake Nodes and waits until kwok reports every one Ready. */
export async function registerFakeNodes(kc: KubeConfig, options: WorkloadOptions): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const names = Array.from({ length: options.nodes }, (_, i) => `kwok-node-${i}`);
  for (const name of names) {
    await core.createNode({ body: fakeNode(name, options.podsPerNode ?? 250) as never });
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await core.listNode({ labelSelector: 'type=kwok' });
    const ready = list.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
    if (ready >= names.length) return;
    if (Date.now() > deadline) throw new Error(`only ${ready}/${names.length} kwok nodes Ready after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The controllers a real node's pods need (none of kwok's shortcuts). */
const NODE_CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  // Services get endpoints, and kube-proxy rules.
  'endpointslice-controller',
  // Owner references: a deleted CatchpointBridge takes its children with it.
  'garbage-collector-controller',
  // Every namespace's `default` ServiceAccount, and the kube-root-ca.crt ConfigMap that each
  // pod's projected token volume reads.
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'namespace-controller',
  // PodDisruptionBudget status.
  'disruption-controller',
  // Lifts the not-ready taint from the Node once the kubelet reports Ready.
  'node-lifecycle-controller',
  'pod-garbage-collector-controller',
  // The chart's ClusterRoles aggregated into view/edit/admin.
  'clusterrole-aggregation-controller',
  // A CatchpointBridge whose spool is on claims runs as a StatefulSet: its pods, their claims
  // bound to PersistentVolumes, and the claims kept from deletion while a pod uses them.
  'statefulset-controller',
  'persistentvolume-binder-controller',
  'persistentvolume-protection-controller',
  'persistentvolumeclaim-protection-controller',
] as const;

/** kube-controller-manager and kube-scheduler for a real node (node.ts), as a cluster runs them. */
export async function nodeControllerProcesses(
  stateDir: string,
  kubeconfigPath: string,
  caCert: string,
): Promise<WorkloadProcessSpec[]> {
  const schedulerConfig = await writeSchedulerConfig(stateDir, kubeconfigPath);
  return [
    {
      name: 'kube-controller-manager',
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        `--controllers=${NODE_CONTROLLERS.join(',')}`,
        `--root-ca-file=${caCert}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--profiling=false',
        // Pods of a NotReady node are not evicted (a test node restarts its kubelet at most).
        '--node-monitor-grace-period=5m',
      ],
    },
    {
      name: 'kube-scheduler',
      args: [`--config=${schedulerConfig}`, '--secure-port=0', '--profiling=false'],
    },
  ];
}

/** kube-scheduler's config file (no leader election: one scheduler); returns its path. */
async function writeSchedulerConfig(
  stateDir: string,
  kubeconfigPath: string,
  clientConnection: readonly string[] = [],
): Promise<string> {
  const path = join(stateDir, 'kube-scheduler.yaml');
  await writeFile(
    path,
    [
      'apiVersion: kubescheduler.config.k8s.io/v1',
      'kind: KubeSchedulerConfiguration',
      'clientConnection:',
      `  kubeconfig: ${kubeconfigPath}`,
      ...clientConnection,
      'leaderElection:',
      '  leaderElect: false',
      '',
    ].join('\n'),
  );
  return path;
}
