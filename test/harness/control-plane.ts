// Test harness: a real etcd + kube-apiserver per test file, with helpers for namespace isolation
// and for acting as a ServiceAccount. The process work is done by the shared implementation in
// scripts/control-plane/control-plane.ts (also used by `npm run cluster:up`).
//
//   const plane = await sharedControlPlane();          // once per test file (node:test runs files in
//   const ns = await plane.createNamespace('smoke');    // separate processes), stopped at exit
//   const core = plane.kubeConfig.makeApiClient(CoreV1Api);
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  type CrdManifest,
  LocalControlPlane,
  reapOrphanedPlanes,
  type StartOptions,
  toCrdManifest,
} from '../../scripts/control-plane/control-plane.ts';
import { renderKubeconfig } from '../../scripts/control-plane/kubeconfig.ts';

export type { StartOptions as ControlPlaneOptions } from '../../scripts/control-plane/control-plane.ts';

export interface ControlPlane {
  /** Admin kubeconfig file (system:masters client certificate), for kubectl/helm/child processes. */
  readonly kubeconfigPath: string;
  /** Admin KubeConfig for @kubernetes/client-node. */
  readonly kubeConfig: KubeConfig;
  /** API server URL, e.g. https://127.0.0.1:41234. */
  readonly server: string;
  /** Current PIDs (process-group leaders); the apiserver's changes on restartApiServer(). */
  readonly pids: { readonly etcd: number; readonly apiserver: number };
  /** Directory with kube-apiserver, etcd, kubectl and helm. */
  readonly binDir: string;
  /** Temp directory holding certs, etcd data and the binaries' logs (etcd.log, kube-apiserver.log). */
  readonly stateDir: string;
  /** Stops kube-apiserver and etcd (SIGTERM, SIGKILL after 10 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops and restarts kube-apiserver only: same port, certificates and etcd data. */
  restartApiServer(): Promise<void>;
  /** A KubeConfig that authenticates as the (existing) ServiceAccount, via a TokenRequest token. */
  kubeConfigForServiceAccount(namespace: string, name: string): Promise<KubeConfig>;
  /** The same, written to a file (for kubectl and child processes); returns the path. */
  kubeconfigFileForServiceAccount(namespace: string, name: string): Promise<string>;
  /** Creates a namespace `<prefix>-<random>`, returns its name. (Deleted ones would stay Terminating: no GC.) */
  createNamespace(prefix: string): Promise<string>;
  /** Installs CRD objects (e.g. a test-only CRD); resolves once Established, discoverable and listable. */
  installCrds(crds: readonly object[]): Promise<void>;
}

// TokenRequest tokens are short-lived credentials; one day outlasts any test run.
const SERVICE_ACCOUNT_TOKEN_SECONDS = 24 * 60 * 60;

/**
 * Starts a fresh control plane (about 3 s on 2 cores once the binaries are built). The caller
 * owns it and should stop() it; if it does not, the binaries are killed when the process exits or
 * is signalled.
 */
export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  // Planes of test processes that were SIGKILLed would otherwise run until reboot.
  await reapOrphanedPlanes();
  return new HarnessControlPlane(await LocalControlPlane.start(options));
}

let shared: { plane: Promise<ControlPlane>; options: string } | undefined;

/**
 * One control plane per process (node:test runs each test file in its own process, so: per file),
 * started on first use and stopped when the process is about to exit. Every call in a process must
 * pass the same options (usually none).
 */
export function sharedControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const key = JSON.stringify(options);
  if (shared !== undefined && shared.options !== key) {
    throw new Error(`sharedControlPlane() already started with options ${shared.options}, not ${key}`);
  }
  if (shared === undefined) {
    const plane = startControlPlane(options);
    shared = { plane, options: key };
    plane.then(stopBeforeExit, () => {
      // The failure reaches every caller; a later call may try again.
      shared = undefined;
    });
  }
  return shared.plane;
}

function stopBeforeExit(plane: ControlPlane): void {
  // 'beforeExit' fires once the event loop is empty, which the plane's processes never prevent.
  // A graceful stop is attempted there; the synchronous exit hook still kills if that is skipped.
  process.once('beforeExit', () => {
    plane.stop().catch((err: unknown) => console.error('stopping the shared control plane failed:', err));
  });
}

class HarnessControlPlane implements ControlPlane {
  readonly #plane: LocalControlPlane;

  constructor(plane: LocalControlPlane) {
    this.#plane = plane;
  }

  get kubeconfigPath(): string {
    return this.#plane.kubeconfigPath;
  }

  get kubeConfig(): KubeConfig {
    return this.#plane.kubeConfig;
  }

  get server(): string {
    return this.#plane.server;
  }

  get pids(): { etcd: number; apiserver: number } {
    return this.#plane.pids;
  }

  get binDir(): string {
    return this.#plane.binDir;
  }

  get stateDir(): string {
    return this.#plane.stateDir;
  }

  stop(): Promise<void> {
    return this.#plane.stop();
  }

  restartApiServer(): Promise<void> {
    return this.#plane.restartApiServer();
  }

  async kubeConfigForServiceAccount(namespace: string, name: string): Promise<KubeConfig> {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(await this.#serviceAccountKubeconfig(namespace, name));
    return kubeConfig;
  }

  async kubeconfigFileForServiceAccount(namespace: string, name: string): Promise<string> {
    const path = join(this.stateDir, `sa-${namespace}-${name}-${randomSuffix()}.kubeconfig`);
    await writeFile(path, await this.#serviceAccountKubeconfig(namespace, name), { mode: 0o600 });
    return path;
  }

  async createNamespace(prefix: string): Promise<string> {
    // DNS-1123 label: lower case, at most 63 characters, starting and ending alphanumeric.
    const base = prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50);
    const name = `${base || 'test'}-${randomSuffix()}`;
    await this.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
    return name;
  }

  installCrds(crds: readonly object[]): Promise<void> {
    const manifests: CrdManifest[] = crds.map((crd) => toCrdManifest(crd));
    return this.#plane.installCrds(manifests);
  }

  /** Asks the apiserver for a token for the ServiceAccount (TokenRequest), i.e. real SA authentication. */
  async #serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    const request = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { audiences: [], expirationSeconds: SERVICE_ACCOUNT_TOKEN_SECONDS } },
    });
    const token = request.status?.token;
    if (token === undefined) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return renderKubeconfig({
      server: this.server,
      caPem: this.#plane.adminCredentials.caPem,
      user: { name: `system:serviceaccount:${namespace}:${name}`, token },
      namespace,
    });
  }
}

function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}
