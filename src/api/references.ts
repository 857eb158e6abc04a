/**
 * The Secrets and ConfigMaps a spec makes the bridge read, for its watches and its Role's
 * resourceNames. Pure spec logic, in api/ so the bridge and the operator share it.
 */
import type { CatchpointBridgeSpec } from './types.ts';

export function referencedConfigMaps(spec: CatchpointBridgeSpec): string[] {
  const name = spec.tsdb.tls?.caRef?.configMapName;
  return name === undefined ? [] : [name];
}

/** Every Secret a spec references, for watches and the Role's resourceNames. */
export function referencedSecrets(spec: CatchpointBridgeSpec): string[] {
  const names = new Set<string>([spec.catchpoint.credentialsSecretRef.name]);
  if (spec.push.tokenSecretRef) names.add(spec.push.tokenSecretRef.name);
  if (spec.tsdb.auth) names.add(spec.tsdb.auth.secretRef.name);
  const tls = spec.tsdb.tls;
  if (tls?.caRef?.secretName !== undefined) names.add(tls.caRef.secretName);
  if (tls?.clientCertSecretRef) names.add(tls.clientCertSecretRef.name);
  return [...names].sort();
}
