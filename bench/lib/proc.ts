/**
 * What the kernel knows about a process: resident memory and CPU time from /proc, and CPU
 * pinning through taskset (util-linux). Linux only, like the deployment target.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** User + system CPU seconds `pid` has used (all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces, hence the last ')').
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU use of processes over a phase, as a share of one core (1 = one core busy). */
export class CpuMeter {
  readonly #start = new Map<string, number>();
  readonly #pids: Record<string, number>;
  readonly #t0 = performance.now();

  constructor(pids: Record<string, number>) {
    this.#pids = pids;
    for (const [name, pid] of Object.entries(pids)) this.#start.set(name, cpuSeconds(pid));
  }

  /** name → cores used on average since construction. */
  read(): Record<string, number> {
    const seconds = (performance.now() - this.#t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.#pids)) {
      try {
        out[name] = (cpuSeconds(pid) - (this.#start.get(name) ?? 0)) / seconds;
      } catch {
        // the process is gone
      }
    }
    return out;
  }
}

export const tasksetAvailable = existsSync('/usr/bin/taskset') || existsSync('/bin/taskset');

/** Pins every thread of `pid` to `cpus` (e.g. '1'); threads created later inherit it. */
export function pin(pid: number, cpus: string): boolean {
  if (!tasksetAvailable) return false;
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' });
  return true;
}

/** The CPU list `pid` may run on, as taskset prints it. */
export function affinity(pid: number): string | undefined {
  if (!tasksetAvailable) return undefined;
  const out = execFileSync('taskset', ['--cpu-list', '--pid', String(pid)], { encoding: 'utf8' });
  return out.slice(out.lastIndexOf(':') + 1).trim();
}

/**
 * Sets the nice value of every thread of `pid` (Linux applies nice per thread; threads created
 * later inherit it from their creator).
 */
export function renice(pid: number, nice: number): void {
  const tids = readdirSync(`/proc/${pid}/task`);
  execFileSync('renice', ['-n', String(nice), '-p', ...tids], { stdio: 'ignore' });
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the peak. */
export class RssSampler {
  #peak = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #pid: number;

  constructor(pid: number, everyMs = 200) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    try {
      this.#peak = Math.max(this.#peak, rssBytes(this.#pid));
    } catch {
      // gone
    }
  }

  /** Stops sampling; returns the peak in bytes. */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    return this.#peak;
  }
}

interface TreeSample {
  at: number;
  /** Busy jiffies of the whole machine (all CPUs). */
  busy: number;
  /** Jiffies of `root` and every live descendant, including their reaped children. */
  ours: number;
}

function statFields(pid: string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function sampleTree(root: number): TreeSample {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
  const busy = cpu.reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
  const parent = new Map<string, string>();
  const jiffies = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const f = statFields(pid);
    if (f === undefined) continue;
    parent.set(pid, f[1]!);
    // utime stime cutime cstime
    jiffies.set(pid, Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
  }
  let ours = 0;
  for (const [pid, j] of jiffies) {
    for (let p: string | undefined = pid; p !== undefined && p !== '0' && p !== '1'; p = parent.get(p)) {
      if (p === String(root)) {
        ours += j;
        break;
      }
    }
  }
  return { at: performance.now(), busy, ours };
}

/**
 * CPU used on the machine by processes outside this process tree (other work sharing the
 * machine), in cores, between construction and read().
 */
export class ForeignLoad {
  readonly #start: TreeSample;
  readonly #root: number;

  constructor(root = process.pid) {
    this.#root = root;
    this.#start = sampleTree(root);
  }

  read(): number {
    const end = sampleTree(this.#root);
    const seconds = (end.at - this.#start.at) / 1000;
    const foreign = end.busy - this.#start.busy - (end.ours - this.#start.ours);
    return Math.max(0, foreign / CLK_TCK / seconds);
  }
}
