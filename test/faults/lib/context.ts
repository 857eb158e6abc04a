/**
 * What the fault scenarios share: one VictoriaMetrics, one Catchpoint REST stand-in, one control
 * plane (started in the background when a scenario needs it), every bridge process started (so
 * their logs can be scanned for secrets at the end), every secret value used, and what was read
 * back from the API server (CR statuses, Events) for the same scan.
 */
import { randomBytes } from 'node:crypto';
import {
  type BridgeProcess,
  type BridgeProcessOptions,
  startBridgeProcess,
} from '../../harness/bridge-process.ts';
import { type ControlPlane, startControlPlane } from '../../harness/control-plane.ts';
import {
  FAKE_V1_CLIENT_SECRET,
  FAKE_V2_API_KEY,
  type FakeCatchpoint,
} from '../../harness/fake-catchpoint.ts';
import type { VictoriaMetrics } from '../../harness/victoria-metrics.ts';

export interface LogSource {
  /** e.g. 'bridge 4b (restart)' or 'operator 8'. */
  label: string;
  lines: string[];
}

export interface ApiSnapshot {
  /** e.g. 'events ns/faults-ops-1a2b' */
  label: string;
  /** One JSON text per object. */
  items: string[];
}

export interface FaultContext {
  readonly vm: VictoriaMetrics;
  readonly catchpoint: FakeCatchpoint;
  /** The shared control plane; started on first call (the runner starts it early in the background). */
  controlPlane(): Promise<ControlPlane>;
  /** Every secret value the suite used: none may appear in a log line, status or Event. */
  readonly secrets: Map<string, string>;
  readonly logs: LogSource[];
  readonly snapshots: ApiSnapshot[];
  /** Namespaces created on the control plane. */
  readonly namespaces: string[];
  /** A fresh random secret value, registered under `label`. */
  secret(label: string): string;
  /** A TSDB password for pushSecrets(); its basic-auth header form is registered too. */
  tsdbPassword(label: string): string;
  /** Starts a bridge process; its log lines are kept for the secret scan, it is cleaned up at the end. */
  startBridge(label: string, options: BridgeProcessOptions): Promise<BridgeProcess>;
  /** Progress line to stderr. */
  progress(message: string): void;
}

export class SuiteContext implements FaultContext {
  readonly vm: VictoriaMetrics;
  readonly catchpoint: FakeCatchpoint;
  readonly secrets = new Map<string, string>();
  readonly logs: LogSource[] = [];
  readonly snapshots: ApiSnapshot[] = [];
  readonly namespaces: string[] = [];
  readonly #bridges: BridgeProcess[] = [];
  readonly #startedAt = Date.now();
  #plane: Promise<ControlPlane> | undefined;

  constructor(vm: VictoriaMetrics, catchpoint: FakeCatchpoint) {
    this.vm = vm;
    this.catchpoint = catchpoint;
    // No bridge may outlive the suite, even one that ends abnormally.
    process.once('exit', () => {
      for (const b of this.#bridges) {
        try {
          process.kill(b.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    this.secrets.set('Catchpoint v2 API key', FAKE_V2_API_KEY);
    this.secrets.set('Catchpoint v1 client secret', FAKE_V1_CLIENT_SECRET);
  }

  controlPlane(): Promise<ControlPlane> {
    if (this.#plane === undefined) {
      const started = Date.now();
      this.#plane = startControlPlane();
      this.#plane.then(
        () => this.progress(`control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s`),
        () => undefined,
      );
    }
    return this.#plane;
  }

  /** Stops the control plane if it was started (frees CPU for later scenarios). */
  async stopControlPlane(): Promise<void> {
    const plane = this.#plane;
    this.#plane = undefined;
    if (plane !== undefined) await (await plane.catch(() => undefined))?.stop();
  }

  secret(label: string): string {
    const value = `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${randomBytes(20).toString('hex')}`;
    this.secrets.set(label, value);
    return value;
  }

  tsdbPassword(label: string): string {
    const password = this.secret(`${label} TSDB password`);
    const header = Buffer.from(`${TSDB_USER}:${password}`).toString('base64');
    this.secrets.set(`${label} TSDB basic-auth header`, header);
    return password;
  }

  async startBridge(label: string, options: BridgeProcessOptions): Promise<BridgeProcess> {
    const source: LogSource = { label: `bridge ${label}`, lines: [] };
    this.logs.push(source);
    let bridge: BridgeProcess;
    try {
      bridge = await startBridgeProcess(options);
    } catch (err) {
      // The harness puts the logs of a bridge that failed to start into the error message.
      source.lines.push(...String((err as Error).message).split('\n'));
      throw err;
    }
    // The harness appends to this array for the life of the process.
    source.lines = bridge.logs;
    this.#bridges.push(bridge);
    return bridge;
  }

  progress(message: string): void {
    const t = ((Date.now() - this.#startedAt) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`[faults ${t}s] ${message}\n`);
  }

  async close(): Promise<void> {
    for (const b of this.#bridges) await b.cleanup().catch(() => undefined);
    await this.stopControlPlane();
  }
}

/** The spec most scenarios use: one rtt point per push (by_node), so datapoints = pushes. */
export function pushSpec(
  ctx: FaultContext,
  options: {
    prefix: string;
    endpoint: string;
    extra?: Record<string, unknown>;
    tsdbExtra?: Record<string, unknown>;
  },
): Record<string, unknown> {
  return {
    catchpoint: { api: 'v2', baseURL: ctx.catchpoint.url, credentialsSecretRef: { name: 'cp' } },
    push: { tokenSecretRef: { name: 'push' } },
    dimensions: ['node'],
    measurements: ['rtt'],
    naming: { prefix: options.prefix },
    tsdb: {
      endpoints: [options.endpoint],
      batchMaxDelay: '20ms',
      timeout: '2s',
      auth: { secretRef: { name: 'tsdb', usernameKey: 'username', passwordKey: 'password' } },
      ...options.tsdbExtra,
    },
    ...options.extra,
  };
}

/** Secret files for pushSpec: the v2 API key, the push token, TSDB basic-auth credentials. */
export function pushSecrets(
  token: string,
  tsdbPassword: string,
  apiKey = FAKE_V2_API_KEY,
): Record<string, Record<string, string>> {
  return {
    cp: { apiKey },
    push: { token },
    tsdb: { username: TSDB_USER, password: tsdbPassword },
  };
}

export const TSDB_USER = 'cpb-writer';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
