/**
 * What the bridge runs on: a validated spec plus the secret values it references. Where it comes
 * from (a manifest file and a Secret directory, or the API server) is a ConfigSource's business;
 * the rest of the bridge only sees ResolvedConfig generations.
 */
import type { CatchpointBridgeSpec } from '../api/types.ts';

export type CatchpointCredentials = { clientId: string; clientSecret: string } | { apiKey: string };
export type TsdbCredentials = { username: string; password: string } | { token: string };

export interface ResolvedConfig {
  /** `namespace/name` of the CatchpointBridge (namespace may be empty standalone). */
  resource: string;
  /** metadata.generation of the spec (or a counter of file reloads standalone). */
  generation: number;
  spec: CatchpointBridgeSpec;
  /** The push token, or undefined when none is configured (seed-compatible POST /). */
  pushToken: string | undefined;
  catchpoint: CatchpointCredentials;
  tsdbAuth: TsdbCredentials | undefined;
}

export interface SecretRefProblem {
  secret: string;
  key?: string;
}

export class MissingSecretError extends Error {
  readonly code = 'CPB_ERR_SECRET_MISSING';
  readonly missing: SecretRefProblem[];
  constructor(missing: SecretRefProblem[]) {
    super(
      `missing secret data: ${missing.map((m) => (m.key === undefined ? `Secret ${m.secret}` : `key ${m.key} of Secret ${m.secret}`)).join(', ')}`,
    );
    this.name = 'MissingSecretError';
    this.missing = missing;
  }
}

/** Reads one key of one Secret; undefined when the Secret or the key is absent. */
export type SecretReader = (secret: string, key: string) => string | undefined;

/** Every Secret a spec references, for watches and the Role's resourceNames. */
export function referencedSecrets(spec: CatchpointBridgeSpec): string[] {
  const names = new Set<string>([spec.catchpoint.credentialsSecretRef.name]);
  if (spec.push.tokenSecretRef) names.add(spec.push.tokenSecretRef.name);
  if (spec.tsdb.auth) names.add(spec.tsdb.auth.secretRef.name);
  return [...names].sort();
}

/** Resolves every secret value the spec needs; throws MissingSecretError naming all that lack. */
export function resolveSecrets(
  resource: string,
  generation: number,
  spec: CatchpointBridgeSpec,
  read: SecretReader,
): ResolvedConfig {
  const missing: SecretRefProblem[] = [];
  const need = (secret: string, key: string): string => {
    const v = read(secret, key)?.trim();
    if (v === undefined || v === '') missing.push({ secret, key });
    return v ?? '';
  };
  const cred = spec.catchpoint.credentialsSecretRef;
  const catchpoint: CatchpointCredentials =
    spec.catchpoint.api === 'v1'
      ? { clientId: need(cred.name, cred.clientIdKey), clientSecret: need(cred.name, cred.clientSecretKey) }
      : { apiKey: need(cred.name, cred.apiKeyKey) };
  const pushToken = spec.push.tokenSecretRef
    ? need(spec.push.tokenSecretRef.name, spec.push.tokenSecretRef.key)
    : undefined;
  let tsdbAuth: TsdbCredentials | undefined;
  const auth = spec.tsdb.auth?.secretRef;
  if (auth?.tokenKey !== undefined) tsdbAuth = { token: need(auth.name, auth.tokenKey) };
  else if (auth?.usernameKey !== undefined && auth.passwordKey !== undefined) {
    tsdbAuth = { username: need(auth.name, auth.usernameKey), password: need(auth.name, auth.passwordKey) };
  }
  if (missing.length > 0) throw new MissingSecretError(missing);
  return { resource, generation, spec, pushToken, catchpoint, tsdbAuth };
}

/**
 * A source of config generations. `start` resolves with the first valid config (or rejects when
 * there is none); later valid generations go to `onChange`; problems with a later generation go
 * to `onError` while the last good config keeps running.
 */
export interface ConfigSource {
  start(onChange: (config: ResolvedConfig) => void, onError: (err: Error) => void): Promise<ResolvedConfig>;
  stop(): Promise<void>;
}
