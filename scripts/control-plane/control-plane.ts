// A real Kubernetes control plane (etcd + kube-apiserver, envtest-style) on loopback ports.
//
// This is the one implementation shared by the test harness (test/harness/control-plane.ts) and
// `npm run cluster:up/down` (scripts/cluster.ts). It owns the process lifecycle: certificates,
// ports, spawning, readiness, CRD installation and teardown. By default there is no
// controller-manager, scheduler or kubelet: Deployments get no Pods, deleted namespaces stay
// Terminating, and no `default` ServiceAccounts appear (hence
// --disable-admission-plugins=ServiceAccount). With `workloads`, Deployments run on fake Nodes
// (workloads.ts). With `node`, a real node runs beside it (node.ts, node-host.ts): containerd,
// a kubelet, kube-proxy and CoreDNS, with the controllers and scheduler a cluster has, and the
// API server listens on the node's bridge address so pods reach it through the `kubernetes`
// Service.
//
// Everything a plane owns lives in one state directory; state.json there records the PIDs and the
// owning Node process, so `cluster down` and the orphan reaper can stop a plane this process did
// not start.
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT, resolveBinDir } from './binaries.ts';
import {
  type AdminCredentials,
  type CertPaths,
  certPathsIn,
  generateCerts,
  readAdminCredentials,
} from './certs.ts';
import { type CrdManifest, installCrds, readCrdManifests, waitForInstalledCrds } from './crds.ts';
import { adminKubeconfigSpec, renderKubeconfig, writeKubeconfig } from './kubeconfig.ts';
import { freeLoopbackPorts, type HttpResult, httpGet } from './net.ts';
import {
  importImages,
  isShimOf,
  type NodeImage,
  nodeEnv,
  nodePathsIn,
  waitForContainerd,
  waitForHttpOk,
  waitForNodeReady,
  writeNodeFiles,
  writePauseImage,
} from './node.ts';
import {
  ensureGuardFirst,
  type HostRecord,
  NODE_NETWORK,
  nodeConflict,
  nodeUnsupportedReason,
  processesInNodeCgroups,
  recordHost,
  restoreHost,
  setUpNodeNetwork,
} from './node-host.ts';
import { PermanentError, pollUntil } from './poll.ts';
import {
  isRunning,
  isRunningWithMarker,
  readLogTail,
  type SpawnedProcess,
  signalGroup,
  spawnDetached,
  stopGroup,
} from './process-group.ts';
import {
  nodeControllerProcesses,
  registerFakeNodes,
  type WorkloadOptions,
  workloadProcesses,
} from './workloads.ts';

export { REPO_ROOT, resolveBinDir } from './binaries.ts';
export { type CrdManifest, readCrdManifests, toCrdManifest } from './crds.ts';

export interface StartOptions {
  /** Directory holding kube-apiserver and etcd. Default: $CONTROL_PLANE_BIN, else build.sh's output. */
  readonly binDir?: string;
  /** Where certs, etcd data, logs and state.json go. Default: a fresh temp dir, deleted on stop. */
  readonly stateDir?: string;
  /** Where to write the admin kubeconfig. Default: `<stateDir>/kubeconfig`. */
  readonly kubeconfigPath?: string;
  /** Directory of CRD manifests to install. Default: `<repo>/crds`; null installs none. */
  readonly crdDir?: string | null;
  /** Budget for kube-apiserver to become ready (it is slow on 2 cores). Default 90 s. */
  readonly readyTimeoutMs?: number;
  /** Delete stateDir when the plane is stopped. Default: true for the temp dir, else false. */
  readonly removeStateDirOnStop?: boolean;
  /**
   * Also run kube-controller-manager, kube-scheduler and kwok with this many fake Nodes, so that
   * Deployments become Available (needs `build.sh --workloads`). Default: none.
   */
  readonly workloads?: WorkloadOptions;
  /**
   * Also run a real node (needs root, cgroups and `build.sh --node`), with these images loaded
   * into it. Excludes `workloads`.
   */
  readonly node?: NodeOptions;
}

export interface NodeOptions {
  readonly images: readonly NodeImage[];
}

/** This machine cannot run a node; the message says why in one line. */
export class NodeUnsupportedError extends Error {}

/** Persisted in `<stateDir>/state.json`. */
export interface PlaneState {
  readonly stateDir: string;
  readonly binDir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly pids: {
    readonly etcd: number | null;
    readonly apiserver: number | null;
    readonly workloads?: readonly number[];
    /** containerd, kubelet, kube-proxy, CoreDNS. */
    readonly node?: readonly number[];
  };
  /** What the node changed on the host, to put back (node planes only). */
  readonly host?: HostRecord;
  /** The Node process whose exit takes the plane down; null once detached (`cluster up`). */
  readonly ownerPid: number | null;
  /** Whether stopping removes stateDir (true for temp dirs). */
  readonly removeStateDir: boolean;
}

const TEMP_PREFIX = 'catchpoint-cp-';
const STATE_FILE = 'state.json';
const STOP_GRACE_MS = 10_000;
const ETCD_READY_TIMEOUT_MS = 20_000;
const DEFAULT_READY_TIMEOUT_MS = 90_000;
const POLL_INTERVAL_MS = 100;
const PORT_ATTEMPTS = 3;
// Fixed rather than derived from the port, so certificates and tokens do not depend on which port
// won; the audience of TokenRequest tokens defaults to it.
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** A failed start caused by a port taken between picking it and binding it; worth retrying. */
class AddressInUseError extends PermanentError {}

export class LocalControlPlane {
  readonly binDir: string;
  readonly stateDir: string;
  readonly kubeconfigPath: string;
  readonly certs: CertPaths;
  readonly #readyTimeoutMs: number;
  readonly #removeStateDir: boolean;
  #etcd: SpawnedProcess | undefined;
  #etcdUrl = '';
  #apiserver: SpawnedProcess | undefined;
  #apiserverPort = 0;
  #workloads: SpawnedProcess[] = [];
  #node: SpawnedProcess[] = [];
  #host: HostRecord | undefined;
  readonly #withNode: boolean;
  #admin: AdminCredentials | undefined;
  #kubeConfig: KubeConfig | undefined;
  #ownerPid: number | null = process.pid;
  #stopping: Promise<void> | undefined;

  private constructor(binDir: string, stateDir: string, options: StartOptions, removeStateDir: boolean) {
    this.binDir = binDir;
    this.stateDir = stateDir;
    this.kubeconfigPath = options.kubeconfigPath ?? join(stateDir, 'kubeconfig');
    this.certs = certPathsIn(join(stateDir, 'certs'));
    this.#readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    this.#removeStateDir = removeStateDir;
    this.#withNode = options.node !== undefined;
  }

  /**
   * Starts etcd and kube-apiserver, waits until the apiserver is ready and the `default` namespace
   * exists, writes the admin kubeconfig and installs the CRDs. On any failure everything started
   * so far is stopped again. Until stop() or detach(), the binaries are killed if this process exits.
   */
  static async start(options: StartOptions = {}): Promise<LocalControlPlane> {
    if (options.node !== undefined) {
      const reason = nodeUnsupportedReason();
      if (reason !== undefined) throw new NodeUnsupportedError(reason);
      const conflict = nodeConflict();
      if (conflict !== undefined) throw new Error(conflict);
    }
    const binDir =
      options.binDir ??
      (await resolveBinDir(options.node !== undefined ? 'node' : options.workloads !== undefined));
    const removeStateDir = options.removeStateDirOnStop ?? options.stateDir === undefined;
    const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), TEMP_PREFIX)));
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const plane = new LocalControlPlane(binDir, stateDir, options, removeStateDir);
    killWithThisProcess(plane);
    try {
      plane.#saveState();
      if (options.node !== undefined) await plane.#prepareHost();
      // Certificates are only needed by the apiserver, so they are made while etcd boots. Both must
      // settle before a failure is handled, or etcd could be spawned after the cleanup ran.
      const settled = await Promise.allSettled([generateCerts(plane.certs.dir), plane.#startEtcd()]);
      for (const result of settled) if (result.status === 'rejected') throw result.reason;
      plane.#admin = await readAdminCredentials(plane.certs);
      await plane.#startApiServerOnFreePort();
      await writeKubeconfig(plane.kubeconfigPath, adminKubeconfigSpec(plane.server, plane.#admin));
      const crdDir = options.crdDir === undefined ? join(REPO_ROOT, 'crds') : options.crdDir;
      if (crdDir !== null) await plane.installCrds(await readCrdManifests(crdDir));
      if (options.workloads !== undefined) await plane.#startWorkloads(options.workloads);
      if (options.node !== undefined) await plane.#startNode(options.node);
      return plane;
    } catch (err) {
      await plane.stop();
      throw err;
    }
  }

  get server(): string {
    return `https://${this.#withNode ? NODE_NETWORK.nodeIp : '127.0.0.1'}:${this.#apiserverPort}`;
  }

  get pids(): { etcd: number; apiserver: number } {
    if (this.#etcd === undefined || this.#apiserver === undefined)
      throw new Error('control plane not started');
    return { etcd: this.#etcd.pid, apiserver: this.#apiserver.pid };
  }

  /** Admin credentials (PEM): the CA to trust plus a system:masters client certificate. */
  get adminCredentials(): AdminCredentials {
    if (this.#admin === undefined) throw new Error('control plane not started');
    return this.#admin;
  }

  /** A client-node KubeConfig for the admin, built from the same kubeconfig that was written to disk. */
  get kubeConfig(): KubeConfig {
    if (this.#kubeConfig === undefined) {
      this.#kubeConfig = new KubeConfig();
      this.#kubeConfig.loadFromString(
        renderKubeconfig(adminKubeconfigSpec(this.server, this.adminCredentials)),
      );
    }
    return this.#kubeConfig;
  }

  /** GET an API path (e.g. `/version`) as the admin, without client-node. */
  adminGet(path: string): Promise<HttpResult> {
    return httpGet(`${this.server}${path}`, this.adminCredentials);
  }

  /** Applies CRDs (server-side apply) and waits until each is Established and served in discovery. */
  async installCrds(crds: readonly CrdManifest[]): Promise<void> {
    if (crds.length > 0) await installCrds(this.kubeConfig, (path) => this.adminGet(path), crds);
  }

  /**
   * Stops kube-apiserver and starts it again on the same port with the same certificates and etcd,
   * so clients keep working (for fault-injection tests). Resolves once it is ready, including
   * the storage of every custom resource.
   */
  async restartApiServer(): Promise<void> {
    if (this.#apiserver === undefined) throw new Error('control plane not started');
    await stopGroup(this.#apiserver.pid, STOP_GRACE_MS);
    this.#apiserver = undefined;
    this.#saveState();
    await this.#startApiServer(this.#apiserverPort);
    await waitForInstalledCrds((path) => this.adminGet(path));
  }

  /**
   * Keeps the binaries running after this Node process exits (`cluster up`); state.json then has no
   * owner, so only an explicit stop (`cluster down`) ends them.
   */
  detach(): void {
    ownedPlanes.delete(this);
    this.#ownerPid = null;
    this.#saveState();
  }

  /**
   * Graceful stop of kube-apiserver, then etcd (SIGTERM, SIGKILL after 10 s); removes the kubeconfig
   * and, if so configured, the state dir. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    try {
      if (this.#withNode)
        await stopNodeProcesses(
          this.binDir,
          this.stateDir,
          this.#node.splice(0).map((p) => p.pid),
        );
      for (const proc of this.#workloads.splice(0)) await stopGroup(proc.pid, STOP_GRACE_MS);
      if (this.#apiserver !== undefined) await stopGroup(this.#apiserver.pid, STOP_GRACE_MS);
      if (this.#etcd !== undefined) await stopGroup(this.#etcd.pid, STOP_GRACE_MS);
      if (this.#host !== undefined) await restoreHostOrThrow(this.#host);
      // A kubeconfig pointing at a stopped server only misleads whoever finds it.
      await rm(this.kubeconfigPath, { force: true });
      if (this.#removeStateDir) await rm(this.stateDir, { recursive: true, force: true, maxRetries: 3 });
    } finally {
      ownedPlanes.delete(this);
    }
  }

  /** Synchronous last resort for exit handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    if (this.#withNode) {
      // Putting a host back is asynchronous work (unmounts, iptables, cgroups): a child process
      // does it from state.json while this one waits.
      const result = spawnSync(
        process.execPath,
        [join(import.meta.dirname, 'node-teardown.ts'), this.stateDir],
        {
          stdio: 'inherit',
          timeout: 120_000,
        },
      );
      if (result.status === 0) return;
    }
    const pids = [
      ...this.#node.map((p) => p.pid),
      ...this.#workloads.map((p) => p.pid),
      this.#apiserver?.pid,
      this.#etcd?.pid,
    ].filter((pid) => pid !== undefined);
    for (const pid of pids) signalGroup(pid, 'SIGKILL');
    // Let the kernel finish the kills first, or etcd could still be writing while its data is removed.
    waitForExitSync(pids, 2_000);
    rmSync(this.kubeconfigPath, { force: true });
    if (this.#removeStateDir) rmSync(this.stateDir, { recursive: true, force: true, maxRetries: 3 });
  }

  async #startEtcd(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = (await freeLoopbackPorts(2)) as [number, number];
      const dataDir = join(this.stateDir, 'etcd');
      // A failed attempt may have initialised a member with the old peer URL; start clean.
      await rm(dataDir, { recursive: true, force: true });
      this.#etcdUrl = `http://127.0.0.1:${clientPort}`;
      const etcd = await spawnDetached(
        'etcd',
        join(this.binDir, 'etcd'),
        etcdArgs(dataDir, clientPort, peerPort),
        this.#log('etcd'),
      );
      this.#etcd = etcd;
      this.#saveState();
      try {
        await pollUntil(
          { what: 'etcd /health', timeoutMs: ETCD_READY_TIMEOUT_MS, intervalMs: 50 },
          async () => ((await this.#etcdHealthy(etcd)) ? true : undefined),
        );
        return;
      } catch (err) {
        await stopGroup(etcd.pid, STOP_GRACE_MS);
        this.#etcd = undefined;
        if (!(err instanceof AddressInUseError) || attempt >= PORT_ATTEMPTS) throw err;
      }
    }
  }

  async #etcdHealthy(etcd: SpawnedProcess): Promise<boolean> {
    await assertStillRunning(etcd);
    const response = await httpGet(`${this.#etcdUrl}/health`);
    return response.status === 200 && response.body.includes('"health":"true"');
  }

  /** The workload controllers (see workloads.ts), then the fake Nodes, Ready. */
  async #startWorkloads(options: WorkloadOptions): Promise<void> {
    for (const spec of await workloadProcesses(this.binDir, this.stateDir, this.kubeconfigPath)) {
      const proc = await spawnDetached(
        spec.name,
        join(this.binDir, spec.name),
        spec.args,
        this.#log(spec.name),
      );
      this.#workloads.push(proc);
      this.#saveState();
    }
    try {
      await registerFakeNodes(this.kubeConfig, options);
    } catch (err) {
      const tails = await Promise.all(
        this.#workloads.map(async (p) => `${p.logPath}:\n${await readLogTail(p.logPath, p.logOffset)}`),
      );
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails.join('\n')}`);
    }
    for (const proc of this.#workloads) await assertStillRunning(proc);
  }

  /** Records what the node will change on the host, then makes the node's network. */
  async #prepareHost(): Promise<void> {
    this.#host = await recordHost(this.stateDir, nodePathsIn(this.stateDir).podLogsDir);
    // Saved before the first change: a crash from here on is put back by `cluster down` or the reaper.
    this.#saveState();
    await setUpNodeNetwork();
  }

  /**
   * The controllers and scheduler of a cluster, then containerd (with the images), the kubelet,
   * kube-proxy and CoreDNS; resolves once the Node is Ready, Services route and DNS answers.
   */
  async #startNode(options: NodeOptions): Promise<void> {
    for (const spec of await nodeControllerProcesses(this.stateDir, this.kubeconfigPath, this.certs.caCert)) {
      this.#workloads.push(
        await spawnDetached(spec.name, join(this.binDir, spec.name), spec.args, this.#log(spec.name)),
      );
      this.#saveState();
    }
    const files = await writeNodeFiles(this.binDir, this.stateDir, this.kubeconfigPath, this.certs.caCert);
    const start = async (spec: { name: string; args: readonly string[]; env: Record<string, string> }) => {
      const proc = await spawnDetached(
        spec.name,
        join(this.binDir, spec.name),
        spec.args,
        this.#log(spec.name),
        spec.env,
      );
      this.#node.push(proc);
      this.#saveState();
      return () => assertStillRunning(proc);
    };
    const containerdAlive = await start(files.specs.containerd);
    await waitForContainerd(this.binDir, files.paths.containerdSocket, containerdAlive);
    const pause = await writePauseImage(this.binDir, files.paths.root);
    await importImages(this.binDir, files.paths.containerdSocket, [pause, ...options.images]);
    const kubeletAlive = await start(files.specs.kubelet);
    await waitForNodeReady(this.kubeConfig, kubeletAlive);
    const proxyAlive = await start(files.specs.kubeProxy);
    await waitForHttpOk('kube-proxy /healthz', files.kubeProxyHealthz, proxyAlive);
    await ensureGuardFirst();
    const dnsAlive = await start(files.specs.coredns);
    await waitForHttpOk('CoreDNS /ready', files.corednsReady, dnsAlive);
  }

  async #startApiServerOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [port] = (await freeLoopbackPorts(1)) as [number];
      try {
        await this.#startApiServer(port);
        return;
      } catch (err) {
        if (!(err instanceof AddressInUseError) || attempt >= PORT_ATTEMPTS) throw err;
      }
    }
  }

  async #startApiServer(port: number): Promise<void> {
    this.#apiserverPort = port;
    const args = apiServerArgs({ etcdUrl: this.#etcdUrl, port, certs: this.certs, node: this.#withNode });
    const apiserver = await spawnDetached(
      'kube-apiserver',
      join(this.binDir, 'kube-apiserver'),
      args,
      this.#log('kube-apiserver'),
    );
    this.#apiserver = apiserver;
    this.#saveState();
    try {
      await pollUntil(
        {
          what: `kube-apiserver ${this.server}/readyz`,
          timeoutMs: this.#readyTimeoutMs,
          intervalMs: POLL_INTERVAL_MS,
        },
        () => this.#apiServerReady(apiserver),
      );
      // Readiness does not promise that the bootstrap namespaces have been written yet.
      await pollUntil({ what: 'namespace default', timeoutMs: 10_000, intervalMs: 50 }, async () =>
        (await this.adminGet('/api/v1/namespaces/default')).status === 200 ? true : undefined,
      );
    } catch (err) {
      await stopGroup(apiserver.pid, STOP_GRACE_MS);
      this.#apiserver = undefined;
      this.#saveState();
      // A process that died already reported its log; a timeout still needs the log to be understood.
      if (err instanceof PermanentError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${reason}\n${apiserver.logPath}:\n${await readLogTail(apiserver.logPath, apiserver.logOffset)}`,
      );
    }
  }

  /** /readyz as the admin: anonymous requests are refused until the RBAC bootstrap policy exists. */
  async #apiServerReady(apiserver: SpawnedProcess): Promise<true | undefined> {
    await assertStillRunning(apiserver);
    const response = await this.adminGet('/readyz?verbose');
    if (response.status === 200) return true;
    const failing = response.body.split('\n').filter((line) => line.startsWith('[-]'));
    throw new Error(`/readyz ${response.status}: ${failing.join('; ') || response.body.slice(0, 200)}`);
  }

  #log(name: string): string {
    return join(this.stateDir, `${name}.log`);
  }

  #saveState(): void {
    const state: PlaneState = {
      stateDir: this.stateDir,
      binDir: this.binDir,
      server: this.#apiserverPort === 0 ? '' : this.server,
      kubeconfigPath: this.kubeconfigPath,
      pids: {
        etcd: this.#etcd?.pid ?? null,
        apiserver: this.#apiserver?.pid ?? null,
        workloads: this.#workloads.map((p) => p.pid),
        node: this.#node.map((p) => p.pid),
      },
      ...(this.#host !== undefined ? { host: this.#host } : {}),
      ownerPid: this.#ownerPid,
      removeStateDir: this.#removeStateDir,
    };
    // Write-then-rename, so a reader (or a crash) never sees half a file.
    const path = join(this.stateDir, STATE_FILE);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }
}

function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    // Test data is disposable; fsync per write makes etcd, and so every API write, much slower.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

function apiServerArgs(config: { etcdUrl: string; port: number; certs: CertPaths; node: boolean }): string[] {
  const { certs } = config;
  const address = config.node
    ? [
        // On the node's bridge address, where pods reach it through the `kubernetes` Service
        // (whose endpoint the default "lease" reconciler keeps), and nowhere else.
        `--bind-address=${NODE_NETWORK.nodeIp}`,
        `--advertise-address=${NODE_NETWORK.nodeIp}`,
        // Logs and exec: the kubelet listens on the node's address and checks this certificate.
        `--kubelet-client-certificate=${certs.adminCert}`,
        `--kubelet-client-key=${certs.adminKey}`,
        '--kubelet-preferred-address-types=InternalIP',
      ]
    : [
        '--bind-address=127.0.0.1',
        // A loopback advertise address works without a default route; the default "lease" endpoint
        // reconciler refuses loopback IPs (1.37 even fails at startup), so turn it off.
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
      ];
  return [
    `--etcd-servers=${config.etcdUrl}`,
    `--secure-port=${config.port}`,
    ...address,
    `--cert-dir=${certs.dir}`,
    `--tls-cert-file=${certs.servingCert}`,
    `--tls-private-key-file=${certs.servingKey}`,
    `--client-ca-file=${certs.caCert}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${certs.serviceAccountPub}`,
    `--service-account-signing-key-file=${certs.serviceAccountKey}`,
    // Room for thousands of Services: the operator benchmark creates one per CatchpointBridge.
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    // Without a controller-manager no `default` ServiceAccount is ever created, and this plugin
    // would reject every Pod (and Deployment template validation) that relies on it. And no
    // node-lifecycle controller ever lifts the not-ready taint TaintNodesByCondition puts on a new
    // Node, so kwok's Nodes (workloads.ts) would never take a Pod. A real node runs both
    // controllers, and pods need the ServiceAccount plugin's token volume.
    ...(config.node ? [] : ['--disable-admission-plugins=ServiceAccount,TaintNodesByCondition']),
    '--profiling=false',
  ];
}

async function assertStillRunning(proc: SpawnedProcess): Promise<void> {
  if (isRunning(proc.pid)) return;
  const tail = await readLogTail(proc.logPath, proc.logOffset);
  const ErrorType = /address already in use/.test(tail) ? AddressInUseError : PermanentError;
  throw new ErrorType(`${proc.name} (pid ${proc.pid}) exited during startup; ${proc.logPath}:\n${tail}`);
}

function waitForExitSync(pids: readonly number[], timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some(isRunning) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
}

// ---------------------------------------------------------------------------------------------
// Planes owned by this process die with it: on normal exit, uncaught exceptions and the usual
// termination signals. (SIGKILL cannot be caught; reapOrphanedPlanes covers that on the next run.)

const ownedPlanes = new Set<LocalControlPlane>();
let exitHooksInstalled = false;

function killWithThisProcess(plane: LocalControlPlane): void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    installExitHooks(() => {
      for (const plane of ownedPlanes) {
        try {
          plane.killNow();
        } catch (err) {
          // One plane's failure must not spare the others; there is no caller left to tell but stderr.
          console.error(`killing control plane in ${plane.stateDir} failed:`, err);
        }
      }
    });
  }
  ownedPlanes.add(plane);
}

function installExitHooks(killAll: () => void): void {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      process.removeListener(signal, onSignal);
      // Listening for a signal disables its default action. If nobody else handles it (the test
      // runner may), re-raise it so the process still dies of the signal as it would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// Stopping planes from their state directory: `cluster down`, and reaping planes whose owner died.

export function readState(stateDir: string): PlaneState | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, STATE_FILE), 'utf8')) as PlaneState;
  } catch {
    return undefined;
  }
}

/** The recorded PIDs that still belong to this plane (a recycled PID never matches its state dir). */
export function livePids(state: PlaneState): number[] {
  return [
    ...(state.pids.node ?? []),
    ...(state.pids.workloads ?? []),
    state.pids.apiserver,
    state.pids.etcd,
  ].filter((pid): pid is number => pid !== null && isRunningWithMarker(pid, state.stateDir));
}

/** Whether the recorded plane's apiserver answers /readyz (as the admin, with the recorded certs). */
export async function recordedPlaneReady(state: PlaneState): Promise<boolean> {
  if (state.server === '') return false;
  try {
    const admin = await readAdminCredentials(certPathsIn(join(state.stateDir, 'certs')));
    return (await httpGet(`${state.server}/readyz`, admin)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Stops the plane recorded in `stateDir` (apiserver first) and removes its kubeconfig, plus the
 * state dir if the plane was started with removeStateDirOnStop (else just state.json).
 * Returns false if nothing was recorded.
 */
export async function stopRecordedPlane(stateDir: string): Promise<boolean> {
  const state = readState(stateDir);
  if (state === undefined) return false;
  if (state.host !== undefined) {
    const nodePids = (state.pids.node ?? []).filter((pid) => isRunningWithMarker(pid, state.stateDir));
    await stopNodeProcesses(state.binDir, state.stateDir, nodePids);
  }
  for (const pid of livePids(state)) await stopGroup(pid, STOP_GRACE_MS);
  if (state.host !== undefined) await restoreHostOrThrow(state.host);
  await rm(state.kubeconfigPath, { force: true });
  if (state.removeStateDir) await rm(stateDir, { recursive: true, force: true, maxRetries: 3 });
  else await rm(join(stateDir, STATE_FILE), { force: true });
  return true;
}

/**
 * Stops planes left in the temp dir by test processes that died without running their exit hooks
 * (SIGKILL, OOM). A plane whose owner is still alive belongs to a concurrently running test file.
 */
export async function reapOrphanedPlanes(): Promise<void> {
  const root = tmpdir();
  const dirs = readdirSync(root).filter((name) => name.startsWith(TEMP_PREFIX));
  for (const name of dirs) {
    const stateDir = join(root, name);
    const state = readState(stateDir);
    if (state === undefined || state.ownerPid === null || isRunning(state.ownerPid)) continue;
    await stopRecordedPlane(stateDir);
  }
}

// ---------------------------------------------------------------------------------------------
// Stopping a node: the same steps for a plane this process owns and for one read from state.json.

/**
 * Stops the node's processes (DNS, kube-proxy and the kubelet first, so nothing restarts a
 * container), kills what still runs in the kubelet's cgroups and containerd's shims, stops
 * containerd, and removes kube-proxy's rules.
 */
async function stopNodeProcesses(binDir: string, stateDir: string, pids: readonly number[]): Promise<void> {
  for (const pid of [...pids].reverse()) await stopGroup(pid, STOP_GRACE_MS);
  for (const pid of processesInNodeCgroups()) signalPid(pid, 'SIGKILL');
  const socket = nodePathsIn(stateDir).containerdSocket;
  for (const pid of shimPids(socket)) signalPid(pid, 'SIGKILL');
  await waitForNoProcesses(() => [...processesInNodeCgroups(), ...shimPids(socket)], 10_000);
  // kube-proxy's own cleanup mode knows every chain it makes (iptables and nftables).
  await new Promise<void>((resolve) => {
    execFile(join(binDir, 'kube-proxy'), ['--cleanup'], { env: { ...process.env, ...nodeEnv(binDir) } }, () =>
      resolve(),
    );
  });
}

async function restoreHostOrThrow(host: HostRecord): Promise<void> {
  const failures = await restoreHost(host);
  if (failures.length > 0) throw new Error(`the host was not fully put back: ${failures.join('; ')}`);
}

function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (isShimOf(readFileSync(`/proc/${entry}/cmdline`, 'utf8'), socket)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

async function waitForNoProcesses(list: () => number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (list().some(isRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
