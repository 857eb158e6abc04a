// What a real node changes on the host, made and put back by this module alone.
//
// The node's network is the project's own: a bridge with its own range, the node's address on it,
// the Service range routed onto it (a ClusterIP without a rule dies there, never on eth0), and a
// guard that drops anything from the pod range to an address outside it. Everything the node's
// processes change on their own (sysctls, cgroups, mounts, network namespaces, iptables chains,
// directories such as /var/log/containers) is recorded before they start, so teardown can put the
// machine back as it was, also after a crash: the record lives in the plane's state.json.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The node's network: the project's own bridge and ranges (none of them may exist on the host). */
export const NODE_NETWORK = {
  bridge: 'cpb0',
  /** The node's address on its bridge: the kubelet's node IP, the API server's, cluster DNS. */
  nodeIp: '10.88.0.1',
  podCidr: '10.88.0.0/16',
  /** The API server's --service-cluster-ip-range; its first address is the `kubernetes` Service. */
  serviceCidr: '10.96.0.0/16',
  kubernetesServiceIp: '10.96.0.1',
  clusterDomain: 'cluster.local',
} as const;

const GUARD_FORWARD = 'CPB-NODE-GUARD';
const GUARD_INPUT = 'CPB-NODE-GUARD-IN';

/** Sysctls the kubelet, the CNI bridge plugin or kube-proxy may set; restored on teardown. */
export const RECORDED_SYSCTLS = [
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.forwarding',
  'net.ipv4.conf.default.forwarding',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
] as const;

/** Directories the node's processes create when missing (some paths are built into them). */
export const CREATED_PATHS = [
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/var/lib/cni',
  '/var/lib/kubelet',
  '/etc/cni',
] as const;

/** cgroup directories the kubelet creates (cgroupfs driver, root cgroup). */
const KUBELET_CGROUPS = ['kubepods'] as const;

export interface HostRecord {
  /** Sysctl → value before the node started (absent: the key does not exist here). */
  readonly sysctls: Record<string, string>;
  /** Which CREATED_PATHS existed before. */
  readonly preexisting: readonly string[];
  /** The state directory; every mount under it is the node's. */
  readonly stateDir: string;
  /** Pod log directory, whose /var/log/containers symlinks are the node's. */
  readonly podLogsDir: string;
}

/**
 * Why this machine cannot run a node, in one line, or undefined when it can. Checked before
 * anything is changed.
 */
export function nodeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `a node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a node needs root (kubelet, containerd and the bridge network)';
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers'))
    return 'a node needs cgroups (no cgroup v1 memory hierarchy nor cgroup v2 at /sys/fs/cgroup)';
  if (!existsSync('/proc/sys/net/bridge'))
    return 'a node needs bridge netfilter (/proc/sys/net/bridge is missing)';
  for (const tool of [
    '/usr/sbin/runc',
    '/usr/sbin/iptables',
    '/usr/lib/cni/bridge',
    '/usr/lib/cni/host-local',
  ]) {
    if (!existsSync(tool)) return `a node needs ${tool} (Debian: runc iptables containernetworking-plugins)`;
  }
  return undefined;
}

/** What already holds the node's bridge or cgroups on this machine, or undefined. */
export function nodeConflict(): string | undefined {
  if (existsSync(`/sys/class/net/${NODE_NETWORK.bridge}`))
    return `bridge ${NODE_NETWORK.bridge} exists: another node is up (npm run cluster:down stops it)`;
  for (const cg of KUBELET_CGROUPS) {
    if (cgroupDirs(cg).some((d) => existsSync(d))) return `cgroup /${cg} exists: a kubelet already runs here`;
  }
  return undefined;
}

/** Reads what teardown must restore; call before changing anything. */
export async function recordHost(stateDir: string, podLogsDir: string): Promise<HostRecord> {
  const sysctls: Record<string, string> = {};
  for (const key of RECORDED_SYSCTLS) {
    try {
      sysctls[key] = (await readFile(sysctlPath(key), 'utf8')).trim();
    } catch {
      // Not on this kernel: nothing to restore.
    }
  }
  return { sysctls, preexisting: CREATED_PATHS.filter((p) => existsSync(p)), stateDir, podLogsDir };
}

/** The bridge, the node's address, the Service route and the guard chains. */
export async function setUpNodeNetwork(): Promise<void> {
  const { bridge, nodeIp, podCidr, serviceCidr } = NODE_NETWORK;
  await ip('link', 'add', bridge, 'type', 'bridge');
  await ip('addr', 'add', `${nodeIp}/16`, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');
  await ip('route', 'add', serviceCidr, 'dev', bridge);
  // Forwarded traffic touching the pod range stays inside it.
  await iptables('-N', GUARD_FORWARD);
  await iptables('-A', GUARD_FORWARD, '-s', podCidr, '-d', podCidr, '-j', 'RETURN');
  await iptables('-A', GUARD_FORWARD, '-j', 'DROP');
  // Pods may reach this machine at the node's address only (the API server, cluster DNS, and
  // the test servers listen there), never at its other addresses.
  await iptables('-N', GUARD_INPUT);
  await iptables('-A', GUARD_INPUT, '-d', nodeIp, '-j', 'RETURN');
  await iptables('-A', GUARD_INPUT, '-j', 'DROP');
  await ensureGuardFirst();
  // Pods get no IPv6 address; nothing over IPv6 crosses the bridge either.
  await run('ip6tables', ['-w', '-I', 'FORWARD', '1', '-i', bridge, '-j', 'DROP']);
  await run('ip6tables', ['-w', '-I', 'FORWARD', '1', '-o', bridge, '-j', 'DROP']);
}

/**
 * Puts the guard's jumps first in FORWARD and INPUT (again): kube-proxy prepends its own chains
 * once it starts, and the guard must see every packet before anything accepts it.
 */
export async function ensureGuardFirst(): Promise<void> {
  const { podCidr } = NODE_NETWORK;
  for (const [chain, jump] of guardJumps(podCidr)) {
    await iptablesQuiet('-D', chain, ...jump);
    await iptables('-I', chain, '1', ...jump);
  }
}

function guardJumps(podCidr: string): Array<[string, string[]]> {
  return [
    ['FORWARD', ['-s', podCidr, '-j', GUARD_FORWARD]],
    ['FORWARD', ['-d', podCidr, '-j', GUARD_FORWARD]],
    ['INPUT', ['-s', podCidr, '-j', GUARD_INPUT]],
  ];
}

/**
 * Puts the host back: unmounts what the node mounted under its state directory (pod volumes,
 * container root filesystems, network namespaces), removes the bridge, route and guard, the
 * iptables chains the kubelet and the CNI plugins made, the kubelet's cgroups, the directories
 * and symlinks the node created, and restores the recorded sysctls. Every step runs even if an
 * earlier one fails; the failures are returned. Call once every node process is gone.
 */
export async function restoreHost(record: HostRecord): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown>): Promise<void> => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  };
  await attempt('unmount', () => unmountUnder(record.stateDir));
  await attempt('cgroups', () => removeCgroups());
  const { bridge, podCidr, serviceCidr } = NODE_NETWORK;
  await attempt('route', () => ipQuiet('route', 'del', serviceCidr, 'dev', bridge));
  await attempt('bridge', () => ipQuiet('link', 'del', bridge));
  await attempt('guard', async () => {
    for (const [chain, jump] of guardJumps(podCidr)) await iptablesQuiet('-D', chain, ...jump);
    for (const chain of [GUARD_FORWARD, GUARD_INPUT]) {
      await iptablesQuiet('-F', chain);
      await iptablesQuiet('-X', chain);
    }
    for (const dir of ['-i', '-o']) {
      await run('ip6tables', ['-w', '-D', 'FORWARD', dir, bridge, '-j', 'DROP']).catch(() => undefined);
    }
  });
  // kube-proxy --cleanup leaves what the kubelet makes (and the hint chain both write).
  const leftovers = /^(KUBE-FIREWALL|KUBE-KUBELET-CANARY|KUBE-IPTABLES-HINT|CNI-)/;
  await attempt('kubelet and CNI chains', () => removeChains('iptables', leftovers));
  await attempt('kubelet and CNI chains (IPv6)', () => removeChains('ip6tables', leftovers));
  await attempt('container log links', () => removeLogLinks(record.podLogsDir));
  await attempt('directories', async () => {
    for (const path of CREATED_PATHS) {
      if (!record.preexisting.includes(path)) await rm(path, { recursive: true, force: true });
    }
  });
  await attempt('sysctls', async () => {
    for (const [key, value] of Object.entries(record.sysctls)) {
      const now = await readFile(sysctlPath(key), 'utf8').catch(() => undefined);
      if (now !== undefined && now.trim() !== value) await writeFile(sysctlPath(key), `${value}\n`);
    }
  });
  return failures;
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

async function unmountUnder(dir: string): Promise<void> {
  // A lazy unmount detaches at once; mounts propagated into others go with their parent.
  for (let pass = 0; pass < 3; pass++) {
    const mounts = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), dir);
    if (mounts.length === 0) return;
    for (const mount of mounts) await run('umount', ['-l', mount]).catch(() => undefined);
  }
  const left = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), dir);
  if (left.length > 0) throw new Error(`still mounted: ${left.slice(0, 3).join(', ')}`);
}

function cgroupDirs(name: string): string[] {
  const root = '/sys/fs/cgroup';
  if (existsSync(join(root, 'cgroup.controllers'))) return [join(root, name)];
  return readdirSync(root)
    .filter((c) => !c.includes(',') && statSync(join(root, c)).isDirectory())
    .map((c) => join(root, c, name));
}

/** Every process still in the kubelet's cgroups (containers whose shim was killed). */
export function processesInNodeCgroups(): number[] {
  const pids = new Set<number>();
  const walk = (dir: string): void => {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (line.trim() !== '') pids.add(Number(line));
      }
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
      }
    } catch {
      // Gone meanwhile.
    }
  };
  for (const cg of KUBELET_CGROUPS) for (const dir of cgroupDirs(cg)) walk(dir);
  return [...pids];
}

async function removeCgroups(): Promise<void> {
  const left: string[] = [];
  const removeTree = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) removeTree(join(dir, entry.name));
    }
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  };
  for (let pass = 0; pass < 20; pass++) {
    left.length = 0;
    for (const cg of KUBELET_CGROUPS) for (const dir of cgroupDirs(cg)) removeTree(dir);
    if (left.length === 0) return;
    // A killed process leaves its cgroup a moment later.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`cgroups still busy: ${left.slice(0, 3).join(', ')}`);
}

async function removeLogLinks(podLogsDir: string): Promise<void> {
  const dir = '/var/log/containers';
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (readlinkSync(path).startsWith(podLogsDir)) await rm(path, { force: true });
    } catch {
      // Not a link.
    }
  }
}

/** Flushes and deletes the chains whose names match, in every iptables table, and their jumps. */
async function removeChains(tool: 'iptables' | 'ip6tables', pattern: RegExp): Promise<void> {
  for (const table of ['filter', 'nat', 'mangle']) {
    const { stdout } = await run(`${tool}-save`, ['-t', table]);
    const all = stdout
      .split('\n')
      .filter((l) => l.startsWith(':'))
      .map((l) => l.slice(1).split(' ')[0] ?? '');
    const chains = all.filter((c) => pattern.test(c));
    if (chains.length === 0) continue;
    // Jumps into those chains first, or they cannot be deleted: by rule number (from the end),
    // since rule texts hold quoted comments.
    for (const parent of all.filter((c) => !chains.includes(c))) {
      const listed = await run(tool, ['-w', '-t', table, '-L', parent, '-n', '--line-numbers']);
      const numbers = jumpLineNumbers(listed.stdout, chains);
      for (const n of numbers.reverse()) await quiet(tool, '-t', table, '-D', parent, String(n));
    }
    for (const chain of chains) await quiet(tool, '-t', table, '-F', chain);
    for (const chain of chains) await quiet(tool, '-t', table, '-X', chain);
  }
}

/** Rule numbers in `iptables -L <chain> --line-numbers` output whose target is one of `targets`. */
export function jumpLineNumbers(listing: string, targets: readonly string[]): number[] {
  return listing
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([num, target]) => /^\d+$/.test(num ?? '') && targets.includes(target ?? ''))
    .map(([num]) => Number(num));
}

function sysctlPath(key: string): string {
  return join('/proc/sys', ...key.split('.'));
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function ipQuiet(...args: string[]): Promise<void> {
  await run('ip', args).catch(() => undefined);
}

async function iptables(...args: string[]): Promise<void> {
  await run('iptables', ['-w', ...args]);
}

async function quiet(tool: string, ...args: string[]): Promise<void> {
  await run(tool, ['-w', ...args]).catch(() => undefined);
}

async function iptablesQuiet(...args: string[]): Promise<void> {
  await run('iptables', ['-w', ...args]).catch(() => undefined);
}
