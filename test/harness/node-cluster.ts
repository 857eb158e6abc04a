// Test harness: the product on a real node. The control plane with a real kubelet, containerd
// and kube-proxy (scripts/control-plane/node.ts), the product's image built by `npm run image`
// and loaded into the node, and the servers the pods talk to: VictoriaMetrics and the Catchpoint
// stand-in, listening on the node's bridge address (the only address of this machine that pods
// may reach).
//
//   const cluster = await startNodeCluster();   // throws NodeUnsupportedError on a machine that
//   await cluster.kubectl(['get', 'pods', '-A']);  // cannot run a node (not root, no cgroups)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/control-plane/binaries.ts';
import { NODE_NETWORK } from '../../scripts/control-plane/node-host.ts';
import { helmEnv } from '../../scripts/gen-manifests.ts';
import { buildImage } from '../../scripts/image/build.ts';
import { LOCAL_REPOSITORY } from '../../scripts/image/spec.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { type FakeCatchpoint, startFakeCatchpoint } from './fake-catchpoint.ts';
import { startVictoriaMetrics, type VictoriaMetrics } from './victoria-metrics.ts';

export interface NodeCluster {
  readonly plane: ControlPlane;
  readonly vm: VictoriaMetrics;
  readonly catchpoint: FakeCatchpoint;
  /** The product's image as built for this run: `<repository>:<tag>`, its digest. */
  readonly image: {
    readonly ref: string;
    readonly repository: string;
    readonly tag: string;
    readonly digest: string;
    readonly bytes: number;
  };
  kubectl(args: readonly string[], input?: string): Promise<string>;
  helm(args: readonly string[]): Promise<string>;
  /**
   * `helm install <release> charts/catchpoint-bridge` into a new namespace with the image built
   * for this run, waiting for the operator's pods to be Ready; returns helm's output.
   */
  installChart(release: string, namespace: string): Promise<string>;
  /** Stops the servers and the node, and puts the host back. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Builds the product's image (`npm run image`: reproducible, so a warm build only repacks),
 * starts the control plane with a real node that has it loaded, and the two servers on the
 * node's address.
 */
export async function startNodeCluster(): Promise<NodeCluster> {
  // Reproducible: a warm build only repacks (~10 s).
  const summary = await buildImage();
  const plane = await startControlPlane({
    // helm installs the CRD, as on a user's cluster.
    crdDir: null,
    node: { images: [{ archive: summary.archive, baseName: LOCAL_REPOSITORY }] },
  });
  // The node's address exists only while the node runs: the servers start once it does.
  const [vmResult, catchpointResult] = await Promise.allSettled([
    startVictoriaMetrics({ host: NODE_NETWORK.nodeIp }),
    startFakeCatchpoint({ host: NODE_NETWORK.nodeIp }),
  ]);
  if (vmResult.status === 'rejected' || catchpointResult.status === 'rejected') {
    await Promise.allSettled([
      vmResult.status === 'fulfilled' ? vmResult.value.close() : undefined,
      catchpointResult.status === 'fulfilled' ? catchpointResult.value.close() : undefined,
    ]);
    await plane.stop();
    throw vmResult.status === 'rejected'
      ? vmResult.reason
      : (catchpointResult as PromiseRejectedResult).reason;
  }
  const [vm, catchpoint] = [vmResult.value, catchpointResult.value];
  const helmHome = join(plane.stateDir, 'helm');
  let stopping: Promise<void> | undefined;
  const tool = async (bin: string, args: readonly string[], input?: string): Promise<string> => {
    const env = helmEnv(helmHome, { KUBECONFIG: plane.kubeconfigPath });
    return new Promise((resolve, reject) => {
      const child = execFile(
        join(plane.binDir, bin),
        args,
        { env, maxBuffer: 1 << 26 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${bin} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
      );
      child.stdin?.end(input ?? '');
    });
  };
  return {
    plane,
    vm,
    catchpoint,
    image: {
      ref: `${LOCAL_REPOSITORY}:${summary.version}`,
      repository: LOCAL_REPOSITORY,
      tag: summary.version,
      digest: summary.digest,
      bytes: summary.compressedBytes,
    },
    kubectl: (args, input) => tool('kubectl', args, input),
    helm: (args) => tool('helm', args),
    async installChart(release, namespace) {
      await tool('kubectl', ['create', 'namespace', namespace]);
      return tool('helm', [
        'install',
        release,
        join(REPO_ROOT, 'charts/catchpoint-bridge'),
        '-n',
        namespace,
        '--set',
        `image.repository=${LOCAL_REPOSITORY}`,
        '--set',
        `image.tag=${summary.version}`,
        '--wait',
        '--timeout=180s',
      ]);
    },
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled([vm.close(), catchpoint.close()]);
        await plane.stop();
      })();
      return stopping;
    },
  };
}
