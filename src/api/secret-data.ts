/**
 * The values behind a spec's Secret and ConfigMap references (api/references.ts names them): read
 * through a reader, so the bridge (real values, from files or the API server) and the operator
 * (which only learns whether each key is there) share one rule for what is required.
 */
import { CodedError } from '../shared/errors.ts';
import type { CatchpointBridgeSpec } from './types.ts';

export type CatchpointCredentials = { clientId: string; clientSecret: string } | { apiKey: string };
export type TsdbCredentials = { username: string; password: string } | { token: string };

/** TLS material for https TSDB endpoints, PEM text, named as undici's connect options name it. */
export interface TsdbTlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface DataRefProblem {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  key?: string;
}

/** A referenced Secret or ConfigMap, or a key in it, is absent or empty. */
export class MissingSecretError extends CodedError<'CPB_ERR_SECRET_MISSING'> {
  readonly missing: DataRefProblem[];
  constructor(missing: DataRefProblem[]) {
    super(
      'CPB_ERR_SECRET_MISSING',
      `missing data: ${missing.map((m) => (m.key === undefined ? `${m.kind} ${m.name}` : `key ${m.key} of ${m.kind} ${m.name}`)).join(', ')}`,
    );
    this.missing = missing;
  }
}

/** Reads one key of one Secret; undefined when the Secret or the key is absent. */
export type SecretReader = (secret: string, key: string) => string | undefined;
/** Reads one key of one ConfigMap (data or binaryData); undefined when either is absent. */
export type ConfigMapReader = (configMap: string, key: string) => string | undefined;

/** The values a spec's Secret and ConfigMap references hold. */
export interface SecretData {
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

/**
 * Reads every Secret and ConfigMap value the spec needs; throws MissingSecretError naming all
 * that lack. Values are not checked beyond being there: the operator runs this with stand-ins to
 * learn which keys are missing, the bridge with the real values.
 * The Catchpoint credentials are optional as a whole: none of their keys means no node directory,
 * while v1 with only one of clientId and clientSecret is still missing the other.
 */
export function readSecretData(
  spec: CatchpointBridgeSpec,
  read: SecretReader,
  readConfigMap: ConfigMapReader = () => undefined,
): SecretData {
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
  return { pushToken, catchpoint, tsdbAuth, tsdbTls };
}
