/**
 * What the bridge runs on: a validated spec plus the secret values it references (and the
 * ConfigMap values: a CA bundle). Where it comes from (a manifest file and a Secret directory,
 * or the API server) is a ConfigSource's business; the rest of the bridge only sees
 * ResolvedConfig generations.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { CatchpointBridgeSpec } from '../api/types.ts';

export type CatchpointCredentials = { clientId: string; clientSecret: string } | { apiKey: string };
export type TsdbCredentials = { username: string; password: string } | { token: string };

/** TLS material for https TSDB endpoints, PEM text, named as undici's connect options name it. */
export interface TsdbTlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface ResolvedConfig {
  /** `namespace/name` of the CatchpointBridge (namespace may be empty standalone). */
  resource: string;
  /** metadata.generation of the spec (or a counter of file reloads standalone). */
  generation: number;
  spec: CatchpointBridgeSpec;
  /** The push token, or undefined when none is configured (seed-compatible POST /). */
  pushToken: string | undefined;
  /**
   * Undefined when the credentials Secret holds none of its keys (absent or empty): the bridge
   * then runs without a node directory and tags each push from what it carries itself.
   */
  catchpoint: CatchpointCredentials | undefined;
  tsdbAuth: TsdbCredentials | undefined;
  /** Undefined without spec.tsdb.tls. */
  tsdbTls: TsdbTlsMaterial | undefined;
}

export interface DataRefProblem {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  key?: string;
}

/** A referenced Secret or ConfigMap, or a key in it, is absent or empty. */
export class MissingSecretError extends Error {
  readonly code = 'CPB_ERR_SECRET_MISSING';
  readonly missing: DataRefProblem[];
  constructor(missing: DataRefProblem[]) {
    super(
      `missing data: ${missing.map((m) => (m.key === undefined ? `${m.kind} ${m.name}` : `key ${m.key} of ${m.kind} ${m.name}`)).join(', ')}`,
    );
    this.name = 'MissingSecretError';
    this.missing = missing;
  }
}

/** TLS material that does not parse; the message names where it came from, never its content. */
export class InvalidTlsMaterialError extends Error {
  readonly code = 'CPB_ERR_TLS_MATERIAL';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTlsMaterialError';
  }
}

/** Reads one key of one Secret; undefined when the Secret or the key is absent. */
export type SecretReader = (secret: string, key: string) => string | undefined;
/** Reads one key of one ConfigMap (data or binaryData); undefined when either is absent. */
export type ConfigMapReader = (configMap: string, key: string) => string | undefined;

/**
 * Resolves every Secret and ConfigMap value the spec needs; throws MissingSecretError naming all
 * that lack. Values are not checked beyond being there (the operator runs this with stand-ins).
 * The Catchpoint credentials are optional as a whole: none of their keys means no node directory,
 * while v1 with only one of clientId and clientSecret is still missing the other.
 */
export function resolveSecrets(
  resource: string,
  generation: number,
  spec: CatchpointBridgeSpec,
  read: SecretReader,
  readConfigMap: ConfigMapReader = () => undefined,
): ResolvedConfig {
  const missing: DataRefProblem[] = [];
  const needFrom = (kind: DataRefProblem['kind'], name: string, key: string): string => {
    const v = (kind === 'Secret' ? read : readConfigMap)(name, key)?.trim();
    if (v === undefined || v === '') missing.push({ kind, name, key });
    return v ?? '';
  };
  const need = (secret: string, key: string): string => needFrom('Secret', secret, key);
  const cred = spec.catchpoint.credentialsSecretRef;
  const optional = (key: string): string | undefined => read(cred.name, key)?.trim() || undefined;
  let catchpoint: CatchpointCredentials | undefined;
  if (spec.catchpoint.api === 'v1') {
    const clientId = optional(cred.clientIdKey);
    const clientSecret = optional(cred.clientSecretKey);
    if (clientId !== undefined || clientSecret !== undefined) {
      if (clientId === undefined) missing.push({ kind: 'Secret', name: cred.name, key: cred.clientIdKey });
      if (clientSecret === undefined)
        missing.push({ kind: 'Secret', name: cred.name, key: cred.clientSecretKey });
      catchpoint = { clientId: clientId ?? '', clientSecret: clientSecret ?? '' };
    }
  } else {
    const apiKey = optional(cred.apiKeyKey);
    if (apiKey !== undefined) catchpoint = { apiKey };
  }
  const pushToken = spec.push.tokenSecretRef
    ? need(spec.push.tokenSecretRef.name, spec.push.tokenSecretRef.key)
    : undefined;
  let tsdbAuth: TsdbCredentials | undefined;
  const auth = spec.tsdb.auth?.secretRef;
  if (auth?.tokenKey !== undefined) tsdbAuth = { token: need(auth.name, auth.tokenKey) };
  else if (auth?.usernameKey !== undefined && auth.passwordKey !== undefined) {
    tsdbAuth = { username: need(auth.name, auth.usernameKey), password: need(auth.name, auth.passwordKey) };
  }
  let tsdbTls: TsdbTlsMaterial | undefined;
  const tls = spec.tsdb.tls;
  if (tls !== undefined) {
    tsdbTls = {};
    const ca = tls.caRef;
    if (ca?.secretName !== undefined) tsdbTls.ca = need(ca.secretName, ca.key);
    else if (ca?.configMapName !== undefined) tsdbTls.ca = needFrom('ConfigMap', ca.configMapName, ca.key);
    const client = tls.clientCertSecretRef;
    if (client !== undefined) {
      tsdbTls.cert = need(client.name, client.certKey);
      tsdbTls.key = need(client.name, client.keyKey);
    }
    if (tls.serverName !== undefined) tsdbTls.servername = tls.serverName;
  }
  if (missing.length > 0) throw new MissingSecretError(missing);
  return { resource, generation, spec, pushToken, catchpoint, tsdbAuth, tsdbTls };
}

/**
 * What a bridge's config source runs: resolveSecrets, then a check that the TLS material parses,
 * so a bad PEM is refused as a config (the last good one keeps running) instead of failing every
 * handshake.
 */
export function resolveConfig(
  resource: string,
  generation: number,
  spec: CatchpointBridgeSpec,
  read: SecretReader,
  readConfigMap: ConfigMapReader,
): ResolvedConfig {
  const config = resolveSecrets(resource, generation, spec, read, readConfigMap);
  checkTsdbTls(spec, config.tsdbTls);
  return config;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Throws InvalidTlsMaterialError when the CA bundle or the client certificate and key do not parse or match. */
export function checkTsdbTls(spec: CatchpointBridgeSpec, tls: TsdbTlsMaterial | undefined): void {
  const refs = spec.tsdb.tls;
  if (tls === undefined || refs === undefined) return;
  const problems: string[] = [];
  // OpenSSL's messages ("no start line", "key values mismatch") never quote the input.
  const reason = (err: unknown) => (err as Error).message.replace(/^error:[0-9A-F]+:/, '');
  if (tls.ca !== undefined && refs.caRef !== undefined) {
    const where = `tsdb.tls.caRef (${refs.caRef.secretName === undefined ? `ConfigMap ${refs.caRef.configMapName}` : `Secret ${refs.caRef.secretName}`}, key ${refs.caRef.key})`;
    const blocks = tls.ca.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) problems.push(`${where} holds no PEM certificate`);
    blocks.forEach((block, i) => {
      try {
        new X509Certificate(block);
      } catch (err) {
        problems.push(`${where}: certificate ${i + 1} does not parse: ${reason(err)}`);
      }
    });
  }
  const client = refs.clientCertSecretRef;
  if (tls.cert !== undefined && tls.key !== undefined && client !== undefined) {
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (err) {
      problems.push(
        `tsdb.tls.clientCertSecretRef (Secret ${client.name}, keys ${client.certKey} and ${client.keyKey}): ${reason(err)}`,
      );
    }
  }
  if (problems.length > 0) throw new InvalidTlsMaterialError(problems.join('; '));
}

/**
 * A source of config generations. `start` resolves with the first valid config (or rejects when
 * there is none); later valid generations go to `onChange`; problems with a later generation go
 * to `onError` while the last good config keeps running.
 */
export interface ConfigSource {
  /**
   * True when start() settles without waiting on anything (a file: the config is valid or it is
   * not). The bridge then loads it before it listens, so a bad config exits before anything binds
   * or prints "listening". A source that waits (the API server, for a Secret not created yet)
   * leaves it unset, and the listener comes first so that the probes answer meanwhile.
   */
  readonly immediate?: boolean;
  start(onChange: (config: ResolvedConfig) => void, onError: (err: Error) => void): Promise<ResolvedConfig>;
  stop(): Promise<void>;
}
