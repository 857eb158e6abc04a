/** The machine line every benchmark report starts with (house rule 14). */
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, release, totalmem } from 'node:os';
import { affinity, tasksetAvailable } from './proc.ts';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  arch: string;
  virtualization: string | undefined;
  taskset: boolean;
  /** CPUs this process may run on before pinning. */
  affinity: string | undefined;
}

function hypervisor(): string | undefined {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8');
    if (!/^flags\s*:.*\bhypervisor\b/m.test(flags)) return undefined;
    const cmdline = readFileSync('/proc/cmdline', 'utf8');
    return cmdline.includes('firecracker') ? 'Firecracker microVM (KVM)' : 'virtual machine';
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    arch: arch(),
    virtualization: hypervisor(),
    taskset: tasksetAvailable,
    affinity: affinity(process.pid),
  };
}

export function machineLine(m: MachineInfo): string {
  const vm = m.virtualization === undefined ? '' : `, ${m.virtualization}`;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel} ${m.arch}${vm}; Node ${m.node}`;
}
