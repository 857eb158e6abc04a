/** Starts bench/noop-server.ts as a child process, pinned like the bridge. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pin } from './proc.ts';

export interface NoopServer {
  pid: number;
  pushUrl: string;
  stop(): Promise<void>;
}

const script = join(import.meta.dirname, '..', 'noop-server.ts');

export async function startNoopServer(cpu: string | undefined): Promise<NoopServer> {
  const child: ChildProcess = spawn(process.execPath, [script], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.includes('"noop listening"')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then(() => reject(new Error('noop server exited before listening')));
    setTimeout(() => reject(new Error('noop server did not start in 20 s')), 20_000).unref();
  });
  if (cpu !== undefined) pin(child.pid!, cpu);
  return {
    pid: child.pid!,
    pushUrl: `${url}/push/bench-token`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
