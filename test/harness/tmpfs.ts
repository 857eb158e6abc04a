/**
 * A small tmpfs a test can fill to the last byte (fault scenario 10, the disk-full integration test), so that a disk really runs
 * out under the bridge. Mounting needs root. The host is left as found: the scenario unmounts in
 * its `finally`; if it never gets there, the mount is lazily unmounted (open files do not hold it)
 * when this process exits or is sent SIGINT/SIGTERM (it then exits with 128 + the signal number), and a mount left by a run that was SIGKILLed
 * (its source names the dead pid) is reaped by the next mount.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The mount's source name: `cpb-faults-<label>-<pid>`, as /proc/mounts shows it. */
const SOURCE_PREFIX = 'cpb-faults-';

/** Why a tmpfs cannot be mounted here, or undefined when it can. */
export function cannotMount(): string | undefined {
  if (process.getuid?.() !== 0) {
    return `mounting a tmpfs needs root (uid ${process.getuid?.() ?? '?'}); CI runs as root`;
  }
  for (const tool of ['mount', 'umount']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return `no ${tool}(8) on this machine`;
    }
  }
  return undefined;
}

export interface Tmpfs {
  /** The mount point. */
  readonly dir: string;
  /** Whether /proc/mounts still lists it. */
  mounted(): boolean;
  /** Unmounts (lazily if busy) and removes the mount point; idempotent, never throws. */
  unmount(): void;
}

interface MountEntry {
  source: string;
  target: string;
}

function mounts(): MountEntry[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [source = '', target = ''] = l.split(' ');
      // /proc/mounts escapes space, tab, newline and backslash as octal.
      return {
        source,
        target: target.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      };
    });
}

function detach(target: string): void {
  try {
    execFileSync('umount', [target], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      // not mounted (any more)
    }
  }
  // Only ever our own mount points, under the temp directory.
  if (target.startsWith(tmpdir())) rmSync(target, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Unmounts what a killed run of the suite left mounted (its pid is gone). */
export function reapOrphanedMounts(): string[] {
  const reaped: string[] = [];
  for (const m of mounts()) {
    if (!m.source.startsWith(SOURCE_PREFIX)) continue;
    const pid = Number(m.source.slice(m.source.lastIndexOf('-') + 1));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    detach(m.target);
    reaped.push(m.target);
  }
  return reaped;
}

/** Mounts a tmpfs of `bytes` on a fresh directory under the temp directory. */
export function mountTmpfs(label: string, bytes: number): Tmpfs {
  reapOrphanedMounts();
  const dir = mkdtempSync(join(tmpdir(), `cpb-faults-${label}-`));
  const source = `${SOURCE_PREFIX}${label}-${process.pid}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, source, dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let done = false;
  const onSignal = (signal: NodeJS.Signals) => {
    unmount();
    // Then end as the signal would, unless someone else handles it; through exit, so that the
    // other exit hooks (bridges, VictoriaMetrics, the control plane) run too.
    if (process.listenerCount(signal) === 0) process.exit(128 + (constants.signals[signal] ?? 0));
  };
  const unmount = () => {
    if (done) return;
    done = true;
    process.off('exit', unmount);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    detach(dir);
  };
  process.once('exit', unmount);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    dir,
    mounted: () => mounts().some((m) => m.target === dir),
    unmount,
  };
}

/** Writes `file` until the filesystem refuses (ENOSPC, or a short write); returns its size. */
export async function fillDisk(file: string): Promise<number> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(64 << 10, 0x66);
  let written = 0;
  try {
    for (;;) {
      const { bytesWritten } = await handle.write(chunk);
      written += bytesWritten;
      if (bytesWritten < chunk.length) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  // Should a filesystem refuse a whole 64 KiB chunk that partly fit: top it up, 4 KiB at a time.
  const tail = await open(file, 'a');
  const page = Buffer.alloc(4096, 0x66);
  try {
    for (;;) {
      const { bytesWritten } = await tail.write(page);
      written += bytesWritten;
      if (bytesWritten < page.length) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await tail.close();
  }
  return written;
}
