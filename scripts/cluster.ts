// `npm run cluster:up` / `npm run cluster:down`: a local control plane (etcd + kube-apiserver) for
// the demo and for manual poking, running in the background until `down`.
//
//   up         starts it (unless already up), installs crds/, writes .cluster/kubeconfig, exits 0 when ready
//   up --node  also a real node (containerd, kubelet, kube-proxy, CoreDNS, the controllers and the
//              scheduler) with the product's image (`npm run image`) loaded: needs root and cgroups
//   down       stops the recorded processes, puts the host back (a node's network, mounts, cgroups,
//              sysctls) and removes .cluster/kubeconfig and .cluster/control-plane/
//
// The process work is the same code the test harness uses (control-plane/control-plane.ts).
import { join } from 'node:path';
import {
  LocalControlPlane,
  livePids,
  type PlaneState,
  REPO_ROOT,
  readState,
  recordedPlaneReady,
  stopRecordedPlane,
} from './control-plane/control-plane.ts';
import { nodeUnsupportedReason } from './control-plane/node-host.ts';
import { isRunning } from './control-plane/process-group.ts';
import { buildImage } from './image/build.ts';
import { LOCAL_REPOSITORY } from './image/spec.ts';

const CLUSTER_DIR = join(REPO_ROOT, '.cluster');
const STATE_DIR = join(CLUSTER_DIR, 'control-plane');
const KUBECONFIG = join(CLUSTER_DIR, 'kubeconfig');
const CRD_DIR = join(REPO_ROOT, 'crds');

async function up(withNode: boolean): Promise<number> {
  if (withNode) {
    const reason = nodeUnsupportedReason();
    if (reason !== undefined) {
      console.error(`cannot run a node on this machine: ${reason}`);
      return 1;
    }
  }
  const recorded = readState(STATE_DIR);
  if (recorded !== undefined) {
    switch (await classify(recorded)) {
      case 'up':
        console.log('control plane is already up.');
        printUsage(recorded);
        return 0;
      case 'starting':
        console.error(
          `another "cluster up" (pid ${recorded.ownerPid}) is starting the control plane; try again shortly.`,
        );
        return 1;
      case 'stale':
        // Left over from a crash, a reboot or an interrupted `up`: clear it out and start afresh.
        await stopRecordedPlane(STATE_DIR);
    }
  }
  const startedAt = Date.now();
  // Reproducible: a warm build only repacks (~10 s).
  const image = withNode ? await buildImage() : undefined;
  const plane = await LocalControlPlane.start({
    stateDir: STATE_DIR,
    kubeconfigPath: KUBECONFIG,
    crdDir: CRD_DIR,
    removeStateDirOnStop: true,
    ...(image ? { node: { images: [{ archive: image.archive, baseName: LOCAL_REPOSITORY }] } } : {}),
  });
  plane.detach();
  console.log(`control plane ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`);
  printUsage(readState(STATE_DIR) ?? fail('state.json vanished right after start'));
  if (image) {
    console.log('');
    console.log(`  node:       ${LOCAL_REPOSITORY}:${image.version} loaded (${image.digest})`);
    console.log(
      `  helm install cpb charts/catchpoint-bridge -n catchpoint-bridge-system --create-namespace --set image.repository=${LOCAL_REPOSITORY} --set image.tag=${image.version}`,
    );
  }
  return 0;
}

async function down(): Promise<number> {
  const recorded = readState(STATE_DIR);
  if (recorded === undefined) {
    console.log('no control plane recorded in .cluster/; nothing to stop.');
    return 0;
  }
  const running = livePids(recorded);
  await stopRecordedPlane(STATE_DIR);
  console.log(
    running.length > 0
      ? `control plane stopped (pids ${running.join(', ')}).`
      : 'control plane was not running; removed its leftover state.',
  );
  return 0;
}

function printUsage(state: PlaneState): void {
  console.log(
    `  server:     ${state.server}  (etcd pid ${state.pids.etcd}, kube-apiserver pid ${state.pids.apiserver})`,
  );
  console.log(`  kubeconfig: ${KUBECONFIG}`);
  console.log(`  logs:       ${join(STATE_DIR, 'kube-apiserver.log')}, ${join(STATE_DIR, 'etcd.log')}`);
  console.log('');
  console.log(`  export KUBECONFIG=${KUBECONFIG}; ${join(state.binDir, 'kubectl')} get ns`);
  console.log('  npm run cluster:down   # to stop it');
}

async function classify(state: PlaneState): Promise<'up' | 'starting' | 'stale'> {
  // ownerPid is set only while an `up` is still starting the plane; detach() clears it on success.
  if (state.ownerPid !== null) return isRunning(state.ownerPid) ? 'starting' : 'stale';
  const live = livePids(state);
  const running = [state.pids.etcd, state.pids.apiserver].every((pid) => pid !== null && live.includes(pid));
  const complete = running && (await recordedPlaneReady(state));
  return complete ? 'up' : 'stale';
}

function fail(message: string): never {
  throw new Error(message);
}

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up':
      return up(process.argv.includes('--node'));
    case 'down':
      return down();
    default:
      console.error('usage: node scripts/cluster.ts up [--node] | down');
      return 2;
  }
}

try {
  // Explicit exit: client-node may keep idle keep-alive sockets open for a while after `up`.
  process.exit(await main(process.argv[2]));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
