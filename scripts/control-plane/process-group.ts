// Spawning and stopping control-plane binaries as whole process groups.
//
// Every binary is started with `detached: true`, which makes it the leader of its own process group
// (setsid), like envtest's Setpgid. That keeps terminal signals aimed at the test runner away from it
// (we decide when it dies) and lets us kill the binary plus anything it forks with one
// `kill(-pgid)`. Liveness is checked by polling rather than by ChildProcess events so the same code
// can stop processes started by another, already exited, Node process (`cluster down`).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SpawnedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Size of the log file before this process started writing to it (the log is shared across restarts). */
  readonly logOffset: number;
}

const HAS_PROCFS = existsSync('/proc/self/stat');
const POLL_MS = 50;

/**
 * Starts `command` in its own process group with stdout/stderr appended to `logPath`.
 * The child is unref'd: it never keeps the Node event loop alive; whoever spawned it owns stopping it.
 */
export async function spawnDetached(
  name: string,
  command: string,
  args: readonly string[],
  logPath: string,
  env?: Record<string, string>,
): Promise<SpawnedProcess> {
  const logOffset = existsSync(logPath) ? statSync(logPath).size : 0;
  // A file descriptor, not a pipe: a pipe would die with this process and SIGPIPE the binary,
  // which matters for `cluster up`, where the binaries outlive the Node process.
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)));
    });
    child.unref();
    return { name, pid, logPath, logOffset };
  } finally {
    closeSync(fd);
  }
}

/** True while `pid` exists and is not a zombie (a dead process nobody has reaped yet counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return false;
    if (errnoCode(err) === 'EPERM') return true;
    throw err;
  }
  if (!HAS_PROCFS) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (state) follows the parenthesised command name, which may itself contain spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * True when `pid` is running and its command line mentions `marker` (e.g. its state directory).
 * Used before signalling a PID read from disk, so a recycled PID is never killed by mistake.
 * Without procfs the check cannot be made, and a running PID is trusted.
 */
export function isRunningWithMarker(pid: number, marker: string): boolean {
  if (!isRunning(pid)) return false;
  if (!HAS_PROCFS) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

/** Sends `signal` to the process group led by `pid`; a group that is already gone is not an error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
}

/** Polls until `pid` is gone; returns false if it is still running at the deadline. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * Stops the process group led by `pid`: SIGTERM so etcd and kube-apiserver shut down cleanly,
 * then SIGKILL if the leader is still there after `graceMs`.
 */
export async function stopGroup(pid: number, graceMs: number): Promise<void> {
  if (!isRunning(pid)) {
    // The leader may be gone while something it forked lingers in the group.
    signalGroup(pid, 'SIGKILL');
    return;
  }
  signalGroup(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) {
    signalGroup(pid, 'SIGKILL');
    return;
  }
  signalGroup(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 5_000))) {
    throw new Error(`process ${pid} survived SIGKILL`);
  }
}

/** The part of a log written since `fromOffset`, limited to the last `maxLines` lines, for error messages. */
export async function readLogTail(logPath: string, fromOffset = 0, maxLines = 40): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(logPath, 'r');
    const { size } = await handle.stat();
    // Cap the read: an apiserver log can grow large, and only the end explains a failure.
    const start = Math.max(fromOffset, size - 64 * 1024);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8').split('\n').slice(-maxLines).join('\n');
  } catch {
    return '(no log)';
  } finally {
    await handle?.close();
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}
