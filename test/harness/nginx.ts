/**
 * nginx (Debian `nginx-light`, /usr/sbin/nginx) as a TLS-terminating reverse proxy in front of a
 * plain-HTTP TSDB, for the TLS tests: one `server` per listener, each with its own certificate
 * and, optionally, `ssl_verify_client on` (mutual TLS; VictoriaMetrics' own mTLS is enterprise
 * only). Loopback ports chosen free, its own temporary prefix (config, pid file, logs, temp
 * paths), never the system service. Like victoria-metrics.ts, it runs under a watchdog that stops
 * it when this process dies, even by SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pem } from './test-pki.ts';
import { freePorts, WATCHDOG } from './victoria-metrics.ts';
import { acceptsConnections } from './wait.ts';

export const NGINX_BINARY = '/usr/sbin/nginx';

export interface TlsListener {
  /** Server certificate and key. */
  server: Pem;
  /** Require a client certificate signed by this CA (`ssl_verify_client on`). */
  clientCa?: Pem;
}

export interface NginxTlsProxy {
  /** `https://127.0.0.1:<port>`, one per listener, in the order given. */
  urls: string[];
  logFile: string;
  close(): Promise<void>;
}

/** Starts nginx proxying every listener to `upstream` (e.g. VictoriaMetrics' OpenTSDB HTTP URL). */
export async function startNginxTlsProxy(upstream: string, listeners: TlsListener[]): Promise<NginxTlsProxy> {
  const prefix = mkdtempSync(join(tmpdir(), 'cpb-nginx-'));
  // Workers run as nobody when nginx starts as root: they need to reach the temp paths below.
  chmodSync(prefix, 0o755);
  const ports = await freePorts(listeners.length);
  const logFile = join(prefix, 'error.log');
  const servers = listeners.map((l, i) =>
    [
      '  server {',
      `    listen 127.0.0.1:${ports[i]} ssl;`,
      `    ssl_certificate ${l.server.certFile};`,
      `    ssl_certificate_key ${l.server.keyFile};`,
      ...(l.clientCa
        ? [`    ssl_client_certificate ${l.clientCa.certFile};`, '    ssl_verify_client on;']
        : []),
      '    location / {',
      `      proxy_pass ${upstream};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
    ].join('\n'),
  );
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (t) => `  ${t}_temp_path ${join(prefix, t)};`,
  );
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${logFile} warn;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      ...temp,
      ...servers,
      '}',
      '',
    ].join('\n'),
  );

  const proc: ChildProcess = spawn(
    '/bin/sh',
    ['-c', WATCHDOG, NGINX_BINARY, '-p', prefix, '-c', conf, '-e', logFile],
    { env: { ...process.env, LOG: logFile }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = once(proc, 'exit');
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.stdin?.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 10_000;
    for (const port of ports) {
      while (!(await acceptsConnections(port as number))) {
        if (proc.exitCode !== null) throw new Error(`nginx exited (${proc.exitCode}):\n${logTail()}`);
        if (Date.now() > deadline) throw new Error(`nginx not listening after 10 s:\n${logTail()}`);
        await sleep(20);
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  // A forgotten close() must not keep the test process alive; the watchdog still stops nginx.
  for (const h of [proc, proc.stdin, proc.stdout] as Array<{ unref?: () => void } | null>) h?.unref?.();
  return { urls: ports.map((p) => `https://127.0.0.1:${p}`), logFile, close };
}
