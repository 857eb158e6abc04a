// Loopback ports and small HTTP(S) probes used while bringing the control plane up.
import http from 'node:http';
import https from 'node:https';
import { createServer, type Server } from 'node:net';

/**
 * Reserves `count` distinct free ports on 127.0.0.1 by listening on port 0, then releases them.
 * The ports are only *likely* to stay free until the binaries bind them, so callers retry on
 * "address already in use" (see control-plane.ts).
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    // All listeners are held open at once so the kernel cannot hand out the same port twice.
    for (let i = 0; i < count; i++) servers.push(await listenOnEphemeralPort());
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('unexpected server address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function listenOnEphemeralPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** TLS material for talking to the apiserver as the admin (mTLS) or with a bearer token. */
export interface ClientTls {
  readonly caPem: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

const REQUEST_TIMEOUT_MS = 5_000;

/** One GET, no keep-alive (a pooled socket would keep a finished process alive). Network errors reject. */
export function httpGet(url: string, tls?: ClientTls): Promise<HttpResult> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const options: https.RequestOptions = {
    method: 'GET',
    agent: false,
    timeout: REQUEST_TIMEOUT_MS,
    headers: { accept: 'application/json' },
    ...(tls ? { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = transport.request(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}
