/**
 * VictoriaMetrics (Debian `victoria-metrics`, /usr/bin/victoria-metrics) as the real
 * OpenTSDB-protocol server for integration tests, started per the recipe in docs/opentsdb.md §8:
 * loopback ports chosen free by the harness, its own temporary data dir, `-retentionPeriod=100y`
 * (fixed historic timestamps are not dropped), reads after `/internal/force_flush`.
 *
 * No VM may outlive the test process, even one killed with SIGKILL: VM runs under a small
 * `sh` watchdog that holds the read end of a pipe from this process and stops VM (SIGINT) when
 * the pipe closes, which the kernel does when this process dies. An 'exit' hook also SIGKILLs
 * every VM still running, by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const VM_BINARY = '/usr/bin/victoria-metrics';

export interface ExportedSeries {
  metric: Record<string, string> & { __name__: string };
  values: number[];
  timestamps: number[];
}

export interface VictoriaMetrics {
  /** Base URL of the dedicated OpenTSDB HTTP listener (POST {url}/api/put). */
  readonly httpPutUrl: string;
  /** tcp:// URL of the OpenTSDB telnet listener. */
  readonly telnetUrl: string;
  /** Base URL of the query/admin API (/api/v1/export, /metrics, /health). */
  readonly queryUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** PID of the victoria-metrics process while it runs. */
  pid(): number | undefined;
  /** Graceful stop (SIGINT), data kept: the TSDB is down until start(). */
  stop(): Promise<void>;
  /** Start again on the same ports and data dir. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP: connections are still accepted by the kernel but nothing answers (timeouts). */
  pause(): void;
  resume(): void;
  /** Makes everything ingested so far searchable (~35 ms). */
  forceFlush(): Promise<void>;
  /** Raw samples of every series whose name matches `nameRegex` (MetricsQL regex), flushed first. */
  exportSeries(nameRegex: string): Promise<ExportedSeries[]>;
  /** Polls exportSeries until it holds at least `count` samples in total. */
  waitForPoints(nameRegex: string, count: number, timeoutMs?: number): Promise<ExportedSeries[]>;
  /** vm_rows_inserted_total{type=...}: rows parsed, before storage (telnet is asynchronous). */
  rowsInserted(type: 'opentsdb' | 'opentsdbhttp'): Promise<number>;
  /** Stop and delete the data dir. */
  close(): Promise<void>;
}

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

type Refable = { ref?: () => void; unref?: () => void };

/**
 * A forgotten close() must not keep the test process alive: between start and stop the child
 * and its pipes are unref'd (the watchdog still stops VM when this process exits).
 */
function setRef(proc: ChildProcess, on: boolean): void {
  for (const h of [proc, proc.stdin, proc.stdout] as Refable[]) {
    if (on) h?.ref?.();
    else h?.unref?.();
  }
}

export async function freePorts(n: number): Promise<number[]> {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    servers.push(s);
  }
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

// $0 = binary, $@ = its flags, $LOG = log file. Prints the PID, then waits; when stdin (our
// pipe) closes, the process (VM; nginx in harness/nginx.ts) gets SIGINT. Background jobs get
// /dev/null as stdin unless redirected, hence fd 3.
export const WATCHDOG = `
exec 3<&0
"$0" "$@" >>"$LOG" 2>&1 </dev/null &
vm=$!
echo "$vm"
( read -r _ <&3; kill -INT "$vm" 2>/dev/null ) &
watcher=$!
wait "$vm"
status=$?
kill "$watcher" 2>/dev/null
exit $status
`;

export interface StartOptions {
  binary?: string;
  /** Extra flags (e.g. -dedup.minScrapeInterval=1ms). */
  extraArgs?: string[];
  /** How long to wait for /health. Default 15 s. */
  startTimeoutMs?: number;
  /** Address to listen on; default 127.0.0.1 (a real node's pods use the node's address). */
  host?: string;
}

export async function startVictoriaMetrics(options: StartOptions = {}): Promise<VictoriaMetrics> {
  installExitHook();
  const binary = options.binary ?? VM_BINARY;
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const host = options.host ?? '127.0.0.1';
  const [httpPort, telnetPort, putPort] = (await freePorts(3)) as [number, number, number];
  const dataDir = mkdtempSync(join(tmpdir(), 'vmtest-'));
  const logFile = `${dataDir}.log`;
  const args = [
    `-storageDataPath=${dataDir}`,
    `-httpListenAddr=${host}:${httpPort}`,
    `-opentsdbListenAddr=${host}:${telnetPort}`,
    `-opentsdbHTTPListenAddr=${host}:${putPort}`,
    '-retentionPeriod=100y',
    '-search.disableCache',
    '-search.latencyOffset=1s',
    '-loggerLevel=WARN',
    ...(options.extraArgs ?? []),
  ];
  const queryUrl = `http://${host}:${httpPort}`;

  let child: ChildProcess | undefined;
  let vmPid: number | undefined;
  let exited: Promise<unknown> = Promise.resolve();

  function logTail(): string {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async function start(): Promise<void> {
    if (child !== undefined) return;
    const proc = spawn('/bin/sh', ['-c', WATCHDOG, binary, ...args], {
      env: { ...process.env, LOG: logFile },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child = proc;
    exited = once(proc, 'exit');
    const pidLine = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const nl = out.indexOf('\n');
        if (nl !== -1) resolve(out.slice(0, nl));
      });
      proc.once('exit', (code) => reject(new Error(`victoria-metrics exited (${code}):\n${logTail()}`)));
      proc.once('error', reject);
    });
    vmPid = Number(pidLine);
    live.add(vmPid);
    proc.once('exit', () => {
      if (vmPid !== undefined) live.delete(vmPid);
    });

    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (proc.exitCode !== null)
        throw new Error(`victoria-metrics exited (${proc.exitCode}):\n${logTail()}`);
      try {
        const res = await fetch(`${queryUrl}/health`);
        await res.arrayBuffer();
        if (res.ok) {
          setRef(proc, false);
          return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`victoria-metrics not healthy after ${startTimeoutMs} ms:\n${logTail()}`);
      await sleep(20);
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (proc === undefined) return;
    if (vmPid !== undefined) {
      try {
        process.kill(vmPid, 'SIGCONT'); // a paused VM cannot handle SIGINT
      } catch {
        // gone
      }
    }
    setRef(proc, true);
    proc.stdin?.end();
    const timer = setTimeout(() => {
      if (vmPid !== undefined) {
        try {
          process.kill(vmPid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
    if (vmPid !== undefined) live.delete(vmPid);
    child = undefined;
    vmPid = undefined;
  }

  async function forceFlush(): Promise<void> {
    const res = await fetch(`${queryUrl}/internal/force_flush`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
  }

  async function exportSeries(nameRegex: string): Promise<ExportedSeries[]> {
    await forceFlush();
    const params = new URLSearchParams({
      'match[]': `{__name__=~${JSON.stringify(nameRegex)}}`,
      start: '0',
      end: String(Math.floor(Date.now() / 1000) + 86_400),
    });
    const res = await fetch(`${queryUrl}/api/v1/export?${params}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`export: HTTP ${res.status}: ${text}`);
    const series: ExportedSeries[] = [];
    for (const line of text.split('\n')) if (line.length > 0) series.push(JSON.parse(line) as ExportedSeries);
    series.sort((a, b) => JSON.stringify(a.metric).localeCompare(JSON.stringify(b.metric)));
    return series;
  }

  await start();

  return {
    httpPutUrl: `http://${host}:${putPort}`,
    telnetUrl: `tcp://${host}:${telnetPort}`,
    queryUrl,
    dataDir,
    logFile,
    pid: () => vmPid,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    pause() {
      if (vmPid !== undefined) process.kill(vmPid, 'SIGSTOP');
    },
    resume() {
      if (vmPid !== undefined) process.kill(vmPid, 'SIGCONT');
    },
    forceFlush,
    exportSeries,
    async waitForPoints(nameRegex: string, count: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const series = await exportSeries(nameRegex);
        let total = 0;
        for (const s of series) total += s.values.length;
        if (total >= count) return series;
        if (Date.now() > deadline) {
          throw new Error(
            `victoria-metrics: ${total}/${count} samples for ${nameRegex} after ${timeoutMs} ms`,
          );
        }
        await sleep(50);
      }
    },
    async rowsInserted(type: 'opentsdb' | 'opentsdbhttp') {
      const res = await fetch(`${queryUrl}/metrics`);
      const text = await res.text();
      const prefix = `vm_rows_inserted_total{type="${type}"} `;
      for (const line of text.split('\n'))
        if (line.startsWith(prefix)) return Number(line.slice(prefix.length));
      return 0;
    },
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(logFile, { force: true });
    },
  };
}
