// A real Kubernetes node beside the local control plane: containerd 2 + runc + the CNI bridge
// plugin, a kubelet, kube-proxy and CoreDNS, as ../shared/docs/real-node.md found them to work on
// these machines (cgroup v1, root without CAP_SYS_RESOURCE, no systemd). Pods run for real:
// probes, volumes, security contexts, Services and DNS are the kubelet's, containerd's and
// kube-proxy's own.
//
// The config renderers are pure (unit-tested); LocalNode starts and stops the processes. What the
// node changes on the host is node-host.ts's job.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { writeOciArchive, writeOciLayout } from '../image/oci.ts';
import { ociArchitecture } from '../image/rootfs.ts';
import { freeLoopbackPorts, httpGet } from './net.ts';
import { NODE_NETWORK } from './node-host.ts';
import { pollUntil } from './poll.ts';

const run = promisify(execFile);

export const NODE_NAME = 'catchpoint-bridge-node';
/** The sandbox image containerd is told to use; the node imports it from the pause binary. */
const PAUSE_REPOSITORY = 'localhost/catchpoint-bridge-node/pause';
const PAUSE_TAG = '3.10';
export const PAUSE_IMAGE = `${PAUSE_REPOSITORY}:${PAUSE_TAG}`;
/** containerd's Kubernetes namespace (the CRI plugin's). */
const CRI_NAMESPACE = 'k8s.io';
/**
 * Every pull containerd or the kubelet might try goes to this dead loopback proxy: images come
 * only from the archives the node imports, and nothing is fetched from outside the machine.
 */
const NO_EGRESS_PROXY = 'http://127.0.0.1:9';

export interface NodePaths {
  readonly root: string;
  readonly containerdConfig: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly podLogsDir: string;
  readonly resolvConf: string;
  readonly kubeProxyConfig: string;
  readonly corefile: string;
}

export function nodePathsIn(stateDir: string): NodePaths {
  const root = join(stateDir, 'node');
  return {
    root,
    containerdConfig: join(root, 'containerd.toml'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniIpamDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    podLogsDir: join(root, 'pod-logs'),
    resolvConf: join(root, 'resolv.conf'),
    kubeProxyConfig: join(root, 'kube-proxy.yaml'),
    corefile: join(root, 'Corefile'),
  };
}

/** containerd config (version 3, containerd 2.x): everything under the node's own directory. */
export function containerdConfig(paths: NodePaths): string {
  const dir = join(paths.root, 'containerd');
  return `version = 3
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}

[grpc]
  address = ${q(paths.containerdSocket)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(join(dir, 'opt'))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(PAUSE_IMAGE)}

[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: nothing may lower an oom_score_adj (real-node.md).
  restrict_oom_score_adj = true
  enable_selinux = false
  # Network namespaces under the node's directory, so teardown finds every one.
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '/usr/sbin/runc'
        Root = ${q(join(dir, 'runc'))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = ${q(paths.cniConfDir)}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
`;
}

/** The pod network: the project's bridge and range, no masquerade (nothing leaves the machine). */
export function cniConflist(paths: NodePaths): string {
  const { bridge, nodeIp, podCidr } = NODE_NETWORK;
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'catchpoint-bridge-node',
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          // A pod reaching itself through its own Service (the handoff can pick itself).
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: podCidr, rangeStart: '10.88.1.1', gateway: nodeIp }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: paths.cniIpamDir,
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletSettings {
  readonly paths: NodePaths;
  readonly caCert: string;
  readonly port: number;
}

export function kubeletConfig(s: KubeletSettings): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hosts (real-node.md); no systemd here.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${s.paths.containerdSocket}
# The node's address on the project's bridge; the API server calls it for logs and exec with its
# client certificate, which the kubelet checks against the plane's CA and a SubjectAccessReview.
address: ${NODE_NETWORK.nodeIp}
port: ${s.port}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${s.caCert}
authorization:
  mode: Webhook
clusterDNS: [${NODE_NETWORK.nodeIp}]
clusterDomain: ${NODE_NETWORK.clusterDomain}
# No search domains or resolvers of the host's: names are the cluster's or nothing.
resolvConf: ${s.paths.resolvConf}
podLogsDir: ${s.paths.podLogsDir}
failSwapOn: false
# Small and busy test machines: no eviction or image GC because of a full-ish disk.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
`;
}

export interface KubeProxySettings {
  readonly kubeconfig: string;
  readonly healthzPort: number;
  readonly metricsPort: number;
}

export function kubeProxyConfig(s: KubeProxySettings): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${s.kubeconfig}
hostnameOverride: ${NODE_NAME}
mode: iptables
clusterCIDR: ${NODE_NETWORK.podCidr}
# NodePorts on the node's bridge address only.
nodePortAddresses: ['${NODE_NETWORK.nodeIp}/32']
healthzBindAddress: 127.0.0.1:${s.healthzPort}
metricsBindAddress: 127.0.0.1:${s.metricsPort}
# Zeros leave the host's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

/**
 * Cluster DNS for Service names. No forward plugin: a name outside the cluster gets SERVFAIL
 * rather than a query to a resolver off this machine.
 */
export function corefile(kubeconfig: string, readyPort: number): string {
  return `.:53 {
    bind ${NODE_NETWORK.nodeIp}
    errors
    ready 127.0.0.1:${readyPort}
    kubernetes ${NODE_NETWORK.clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig}
        pods insecure
    }
    cache 5
}
`;
}

/** A node process: how to start it (run by the control plane's process-group code). */
export interface NodeProcessSpec {
  readonly name: 'containerd' | 'kubelet' | 'kube-proxy' | 'coredns';
  readonly args: readonly string[];
  readonly env: Record<string, string>;
}

/** Environment of every node process: the project's binaries first. */
export function nodeEnv(binDir: string): Record<string, string> {
  return { PATH: `${binDir}:/usr/sbin:/usr/bin:/sbin:/bin` };
}

/** containerd's: and no way out for an image pull (the node's own addresses go direct). */
function containerdEnv(binDir: string): Record<string, string> {
  return {
    ...nodeEnv(binDir),
    HTTP_PROXY: NO_EGRESS_PROXY,
    HTTPS_PROXY: NO_EGRESS_PROXY,
    NO_PROXY: `${NODE_NETWORK.podCidr},${NODE_NETWORK.serviceCidr},127.0.0.1,localhost`,
  };
}

export interface NodeFiles {
  readonly paths: NodePaths;
  readonly specs: {
    readonly containerd: NodeProcessSpec;
    readonly kubelet: NodeProcessSpec;
    readonly kubeProxy: NodeProcessSpec;
    readonly coredns: NodeProcessSpec;
  };
  readonly kubeProxyHealthz: string;
  readonly corednsReady: string;
}

/** Writes every node config file and returns how to start each process. */
export async function writeNodeFiles(
  binDir: string,
  stateDir: string,
  kubeconfig: string,
  caCert: string,
): Promise<NodeFiles> {
  const paths = nodePathsIn(stateDir);
  for (const dir of [paths.root, paths.cniConfDir, paths.cniIpamDir, paths.kubeletRoot, paths.podLogsDir]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
  await mkdir(join(paths.root, 'containerd'), { recursive: true, mode: 0o711 });
  const [kubeletPort, proxyHealthz, proxyMetrics, dnsReady] = (await freeLoopbackPorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  // Before containerd starts: containerd 1.6 was seen missing a conflist written later.
  await writeFile(join(paths.cniConfDir, '10-catchpoint-bridge-node.conflist'), cniConflist(paths));
  await writeFile(paths.containerdConfig, containerdConfig(paths));
  await writeFile(paths.kubeletConfig, kubeletConfig({ paths, caCert, port: kubeletPort }));
  await writeFile(paths.resolvConf, '');
  await writeFile(
    paths.kubeProxyConfig,
    kubeProxyConfig({ kubeconfig, healthzPort: proxyHealthz, metricsPort: proxyMetrics }),
  );
  await writeFile(paths.corefile, corefile(kubeconfig, dnsReady));
  const env = nodeEnv(binDir);
  return {
    paths,
    specs: {
      containerd: {
        name: 'containerd',
        args: ['--config', paths.containerdConfig],
        env: containerdEnv(binDir),
      },
      kubelet: {
        name: 'kubelet',
        args: [
          `--config=${paths.kubeletConfig}`,
          `--kubeconfig=${kubeconfig}`,
          `--root-dir=${paths.kubeletRoot}`,
          `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
          `--hostname-override=${NODE_NAME}`,
          `--node-ip=${NODE_NETWORK.nodeIp}`,
          '--v=1',
        ],
        env,
      },
      kubeProxy: { name: 'kube-proxy', args: [`--config=${paths.kubeProxyConfig}`, '--v=1'], env },
      coredns: { name: 'coredns', args: ['-conf', paths.corefile], env },
    },
    kubeProxyHealthz: `http://127.0.0.1:${proxyHealthz}/healthz`,
    corednsReady: `http://127.0.0.1:${dnsReady}/ready`,
  };
}

/** An image archive to load into the node, under a name (e.g. the product's OCI archive). */
export interface NodeImage {
  /** OCI archive (a tar of an OCI image layout). */
  readonly archive: string;
  /** Repository the index's ref names are put under, e.g. localhost/catchpoint-bridge. */
  readonly baseName: string;
}

/** The sandbox image: build.sh's static pause binary, alone in one layer, as an OCI archive. */
export async function writePauseImage(binDir: string, dir: string): Promise<NodeImage> {
  const layoutDir = join(dir, 'pause-oci');
  const archive = join(dir, 'pause.oci.tar');
  const created = new Date(0);
  await writeOciLayout(layoutDir, {
    created,
    architecture: ociArchitecture(),
    os: 'linux',
    config: { Entrypoint: ['/pause'], User: '65535:65535' },
    layers: [
      {
        createdBy: 'pause from k8s.io/kubernetes build/pause/linux/pause.c',
        entries: [{ type: 'file', path: 'pause', mode: 0o755, data: { file: join(binDir, 'pause') } }],
      },
    ],
    refName: PAUSE_TAG,
  });
  await writeOciArchive(layoutDir, archive, created);
  return { archive, baseName: PAUSE_REPOSITORY };
}

/** Imports OCI archives into containerd's Kubernetes namespace, unpacked for overlayfs. */
export async function importImages(
  binDir: string,
  socket: string,
  images: readonly NodeImage[],
): Promise<void> {
  for (const image of images) {
    await run(
      join(binDir, 'ctr'),
      [
        '--address',
        socket,
        '-n',
        CRI_NAMESPACE,
        'images',
        'import',
        '--base-name',
        image.baseName,
        image.archive,
      ],
      { env: nodeEnv(binDir), maxBuffer: 1 << 22 },
    );
  }
}

export async function waitForContainerd(
  binDir: string,
  socket: string,
  isAlive: () => Promise<void>,
): Promise<void> {
  await pollUntil({ what: 'containerd', timeoutMs: 30_000, intervalMs: 100 }, async () => {
    await isAlive();
    try {
      await run(join(binDir, 'ctr'), ['--address', socket, 'version'], { env: nodeEnv(binDir) });
      return true;
    } catch {
      return undefined;
    }
  });
}

export async function waitForNodeReady(kc: KubeConfig, isAlive: () => Promise<void>): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await pollUntil({ what: `node ${NODE_NAME} Ready`, timeoutMs: 60_000, intervalMs: 200 }, async () => {
    await isAlive();
    try {
      const node = await core.readNode({ name: NODE_NAME });
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? true
        : undefined;
    } catch {
      return undefined;
    }
  });
}

export async function waitForHttpOk(what: string, url: string, isAlive: () => Promise<void>): Promise<void> {
  await pollUntil({ what, timeoutMs: 30_000, intervalMs: 100 }, async () => {
    await isAlive();
    try {
      return (await httpGet(url)).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

/** Containerd's shims (they leave containerd's process group) of the node at `socket`. */
export function isShimOf(cmdline: string, socket: string): boolean {
  const args = cmdline.split('\0');
  return (args[0] ?? '').endsWith('containerd-shim-runc-v2') && args.includes(socket);
}

function q(value: string): string {
  return `'${value.replace(/'/g, '')}'`;
}
