/**
 * What each writer reads from its endpoint URL, and the URL as logs may show it:
 *
 *   http(s)://[user:password@]host:port[/base][?extra]   the POST path and the Authorization header
 *   tcp://host:port                                      host and port to dial
 *   file:///absolute/path                                the file to append to
 *
 * A URL that does not parse, or has another writer's scheme, is a TsdbConfigError.
 */
import { fileURLToPath } from 'node:url';
import { TsdbConfigError } from './errors.ts';

export type HttpAuth = { username: string; password: string } | { token: string };

/** The URL without credentials or query, for logs and error messages. */
export function redactUrl(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** `endpoint` as a URL with one of `protocols`, for the `writer` (named in the errors) that takes it. */
function writerUrl(endpoint: string, writer: string, protocols: readonly string[], needs: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw new TsdbConfigError(`invalid ${writer} endpoint URL`, { cause });
  }
  if (!protocols.includes(url.protocol)) {
    throw new TsdbConfigError(`${writer} writer needs ${needs}, got ${url.protocol}`);
  }
  return url;
}

export interface HttpEndpoint {
  /** scheme://host:port, the pool's origin. */
  origin: string;
  /** {base}/api/put?details[&sync[&sync_timeout=ms]][&the endpoint's own query]. */
  path: string;
  /** origin + base, without credentials or query: the writer's name in logs and errors. */
  redacted: string;
  /** From `auth`, else from credentials in the URL; undefined without either. */
  authorization: string | undefined;
}

/** The HTTP writer's settings that shape its requests' path and headers. */
export interface HttpEndpointSettings {
  /** Sent as `Authorization`; never logged. Credentials in the URL (`http://u:p@host`) also work. */
  auth?: HttpAuth;
  /** `?sync`: answer only after storage acked (real OpenTSDB only; VM ignores it). */
  sync?: boolean;
  /** `sync_timeout` in ms, with `sync`. */
  syncTimeoutMs?: number;
}

export function parseHttpEndpoint(endpoint: string, settings: HttpEndpointSettings = {}): HttpEndpoint {
  const url = writerUrl(endpoint, 'HTTP', ['http:', 'https:'], 'an http(s) URL');
  let authorization: string | undefined;
  const auth = settings.auth;
  if (auth !== undefined && 'token' in auth) {
    authorization = `Bearer ${auth.token}`;
  } else if (auth !== undefined) {
    authorization = basic(auth.username, auth.password);
  } else if (url.username !== '' || url.password !== '') {
    authorization = basic(decodeURIComponent(url.username), decodeURIComponent(url.password));
  }
  const base = url.pathname.replace(/\/+$/, '');
  let query = 'details';
  if (settings.sync === true) {
    query += '&sync';
    if (settings.syncTimeoutMs !== undefined)
      query += `&sync_timeout=${Math.max(1, Math.trunc(settings.syncTimeoutMs))}`;
  }
  // Extra query parameters on the endpoint are kept (e.g. VictoriaMetrics' extra_label=...).
  if (url.search.length > 1) query += `&${url.search.slice(1)}`;
  return {
    origin: url.origin,
    path: `${base}/api/put?${query}`,
    redacted: `${url.origin}${base}`,
    authorization,
  };
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export interface TcpEndpoint {
  /** IPv6 literals bare, as net.connect wants them. */
  host: string;
  port: number;
  /** tcp://host:port (IPv6 bracketed): the writer's name in logs and errors. */
  name: string;
}

export function parseTcpEndpoint(endpoint: string): TcpEndpoint {
  const url = writerUrl(endpoint, 'telnet', ['tcp:'], 'a tcp:// URL');
  const port = Number(url.port);
  if (url.hostname === '' || !Number.isInteger(port) || port <= 0) {
    throw new TsdbConfigError('telnet endpoint needs a host and a port (tcp://host:4242)');
  }
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port, name: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** The absolute path a file:// endpoint names. */
export function parseFileEndpoint(endpoint: string): string {
  const url = writerUrl(endpoint, 'file', ['file:'], 'a file:// URL');
  try {
    return fileURLToPath(url);
  } catch (cause) {
    throw new TsdbConfigError('file endpoint must be file:///absolute/path', { cause });
  }
}
