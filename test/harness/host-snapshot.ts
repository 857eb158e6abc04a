// What a real node may change on the host, as one comparable text: taken before a node starts and
// after it stops, the two must be equal (scripts/control-plane/node-host.ts puts things back).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CREATED_PATHS, RECORDED_SYSCTLS } from '../../scripts/control-plane/node-host.ts';

const run = promisify(execFile);

export async function hostSnapshot(): Promise<string> {
  const sections: Array<[string, string]> = [];
  const sysctls = RECORDED_SYSCTLS.map((key) => {
    try {
      return `${key}=${readFileSync(join('/proc/sys', ...key.split('.')), 'utf8').trim()}`;
    } catch {
      return `${key} absent`;
    }
  });
  sections.push(['sysctls', sysctls.join('\n')]);
  sections.push([
    'links',
    (await run('ip', ['-o', 'link', 'show'])).stdout
      .replace(/^\d+: /gm, '')
      .split('\n')
      .map((l) => l.split(':')[0])
      .sort()
      .join('\n'),
  ]);
  sections.push(['routes', (await run('ip', ['route', 'show'])).stdout]);
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    // Counters and the header's date change by themselves.
    const rules = (await run(tool, [])).stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/, ''))
      .join('\n');
    sections.push([tool, rules]);
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p !== '')
    .sort();
  sections.push(['mounts', mounts.join('\n')]);
  const cgroups = existsSync('/sys/fs/cgroup')
    ? readdirSync('/sys/fs/cgroup', { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .flatMap((d) =>
          readdirSync(join('/sys/fs/cgroup', d.name), { withFileTypes: true })
            .filter((c) => c.isDirectory())
            .map((c) => `${d.name}/${c.name}`),
        )
        .sort()
    : [];
  sections.push(['cgroups', cgroups.join('\n')]);
  sections.push([
    'paths',
    CREATED_PATHS.map((p) => `${p} ${existsSync(p) ? readdirSync(p).length : 'absent'}`).join('\n'),
  ]);
  sections.push(['netns', existsSync('/run/netns') ? readdirSync('/run/netns').sort().join('\n') : 'none']);
  return sections.map(([name, text]) => `== ${name}\n${text.trim()}`).join('\n');
}
