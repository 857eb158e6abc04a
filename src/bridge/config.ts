/**
 * What the bridge runs on: a validated spec plus the secret values it references (and the
 * ConfigMap values: a CA bundle). Where it comes from (a manifest file and a Secret directory,
 * or the API server) is a ConfigSource's business; the rest of the bridge only sees
 * ResolvedConfig generations.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import {
  type ConfigMapReader,
  readSecretData,
  type SecretData,
  type SecretReader,
  type TsdbTlsMaterial,
} from '../api/secret-data.ts';
import type { CatchpointBridgeSpec } from '../api/types.ts';
import { CodedError } from '../shared/errors.ts';

export interface ResolvedConfig extends SecretData {
  /** `namespace/name` of the CatchpointBridge (namespace may be empty standalone). */
  resource: string;
  /** metadata.generation of the spec (or a counter of file reloads standalone). */
  generation: number;
  spec: CatchpointBridgeSpec;
}

/** TLS material that does not parse; the message names where it came from, never its content. */
export class InvalidTlsMaterialError extends CodedError<'CPB_ERR_TLS_MATERIAL'> {
  constructor(message: string) {
    super('CPB_ERR_TLS_MATERIAL', message);
  }
}

/** A spec with the values its references hold (api/secret-data.ts), as a config generation. */
export function resolveSecrets(
  resource: string,
  generation: number,
  spec: CatchpointBridgeSpec,
  read: SecretReader,
  readConfigMap: ConfigMapReader = () => undefined,
): ResolvedConfig {
  return { resource, generation, spec, ...readSecretData(spec, read, readConfigMap) };
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
