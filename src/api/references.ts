/**
 * ConfigMaps a spec makes the bridge read, for its watches and its Role's resourceNames. Pure
 * spec logic, so the operator does not need the bridge's code for it (referenced Secrets are
 * still in bridge/config.ts).
 */
import type { CatchpointBridgeSpec } from './types.ts';

export function referencedConfigMaps(spec: CatchpointBridgeSpec): string[] {
  const name = spec.tsdb.tls?.caRef?.configMapName;
  return name === undefined ? [] : [name];
}
