/**
 * A bridge under benchmark: the real CLI process (test/harness/bridge-process.ts) with the
 * default seed spec (7 dimensions × rtt, status = 14 datapoints per push), a push token, the
 * Catchpoint REST stand-in as its node directory and VictoriaMetrics over /api/put, pinned to
 * its own core. Node/V8 flags go on its command line, as the image's ENTRYPOINT passes them.
 */
import { type BridgeProcess, startBridgeProcess } from '../../test/harness/bridge-process.ts';
import {
  FAKE_V1_CLIENT_ID,
  FAKE_V1_CLIENT_SECRET,
  type FakeCatchpoint,
} from '../../test/harness/fake-catchpoint.ts';
import { pin } from './proc.ts';

export const PUSH_TOKEN = 'bench-push-token-6f1d2c9e8b7a4f3e';

export interface BenchBridgeOptions {
  tsdbUrl: string;
  catchpoint: FakeCatchpoint;
  durability: 'fsync' | 'buffered';
  /** CPU list to pin the bridge to; undefined: not pinned. */
  cpu: string | undefined;
  /** Node/V8 flags for the bridge process, before the script. */
  nodeArgs?: readonly string[];
  /** The CLI to run (compiled dist/cli.js in the benchmark); the sources by default. */
  cli?: string;
}

export interface BenchBridge {
  process: BridgeProcess;
  pid: number;
  pushUrl: string;
  metrics(): Promise<BridgeMetricsSample>;
  /** Waits until the spool is empty (everything delivered); returns false on timeout. */
  waitForEmptySpool(timeoutMs: number): Promise<boolean>;
  /** SIGTERM, wait for exit (a --cpu-prof profile is written then), delete its files. */
  stop(): Promise<void>;
}

export interface BridgeMetricsSample {
  at: number;
  pushesAccepted: number;
  datapointsSpooled: number;
  datapointsWritten: number;
  datapointsRetried: number;
  spoolBytes: number;
  spoolDatapoints: number;
  directoryNodes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

/** `name{labels} value` lines → map of `name{labels}` → value. */
export function parsePrometheusText(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/**
 * The spec benchmarked: defaults everywhere but the endpoints, the push token and durability.
 * The directory uses the v1 API: v2 has no region, which would leave 12 datapoints per push.
 */
export function benchSpec(
  tsdbUrl: string,
  catchpointUrl: string,
  durability: 'fsync' | 'buffered',
): Record<string, unknown> {
  return {
    catchpoint: { api: 'v1', baseURL: catchpointUrl, credentialsSecretRef: { name: 'catchpoint-api' } },
    push: { tokenSecretRef: { name: 'catchpoint-push' } },
    tsdb: { endpoints: [tsdbUrl] },
    spool: { durability },
  };
}

export async function startBenchBridge(options: BenchBridgeOptions): Promise<BenchBridge> {
  const env: Record<string, string> = { LOG_LEVEL: 'info' };
  const proc = await startBridgeProcess({
    name: `bench-${options.durability}`,
    spec: benchSpec(options.tsdbUrl, options.catchpoint.url, options.durability),
    secrets: {
      'catchpoint-api': { clientId: FAKE_V1_CLIENT_ID, clientSecret: FAKE_V1_CLIENT_SECRET },
      'catchpoint-push': { token: PUSH_TOKEN },
    },
    env,
    ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
    ...(options.cli === undefined ? {} : { cli: options.cli }),
  });
  if (options.cpu !== undefined) pin(proc.pid, options.cpu);

  const metrics = async (): Promise<BridgeMetricsSample> => {
    const res = await fetch(`${proc.url}/metrics`);
    const m = parsePrometheusText(await res.text());
    return {
      at: performance.now(),
      pushesAccepted: m.get('catchpoint_bridge_pushes_total{outcome="accepted"}') ?? 0,
      datapointsSpooled: m.get('catchpoint_bridge_datapoints_spooled_total') ?? 0,
      datapointsWritten: m.get('catchpoint_bridge_datapoints_written_total') ?? 0,
      datapointsRetried: m.get('catchpoint_bridge_datapoints_retried_total') ?? 0,
      spoolBytes: m.get('catchpoint_bridge_spool_bytes') ?? 0,
      spoolDatapoints: m.get('catchpoint_bridge_spool_datapoints') ?? 0,
      directoryNodes: m.get('catchpoint_bridge_directory_nodes') ?? 0,
      heapUsedBytes: m.get('nodejs_heap_size_used_bytes') ?? Number.NaN,
      heapTotalBytes: m.get('nodejs_heap_size_total_bytes') ?? Number.NaN,
      externalBytes: m.get('nodejs_external_memory_bytes') ?? Number.NaN,
    };
  };

  const deadline = Date.now() + 20_000;
  while ((await metrics()).directoryNodes === 0) {
    if (Date.now() > deadline) {
      await proc.cleanup();
      throw new Error(`bridge: node directory never loaded:\n${proc.logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    process: proc,
    pid: proc.pid,
    pushUrl: `${proc.url}/push/${PUSH_TOKEN}`,
    metrics,
    async waitForEmptySpool(timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if ((await metrics()).spoolBytes === 0) return true;
        await new Promise((r) => setTimeout(r, 20));
      }
      return false;
    },
    async stop() {
      const { code, signal } = await proc.stop('SIGTERM');
      await proc.cleanup();
      if (code !== 0)
        throw new Error(`bridge exited with ${code ?? signal}:\n${proc.logs.slice(-20).join('\n')}`);
    },
  };
}
