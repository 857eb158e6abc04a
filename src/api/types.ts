/**
 * TypeScript types of the CatchpointBridge API, derived from schema.ts. `CatchpointBridgeSpec`
 * is the spec after defaulting (every defaulted field present), which is what the bridge and
 * the operator work with; validate.ts produces it.
 */
import type { Static } from '@sinclair/typebox';
import type * as schema from './schema.ts';

export type CatchpointBridgeSpec = Static<typeof schema.CatchpointBridgeSpec>;
export type CatchpointBridgeStatus = Static<typeof schema.CatchpointBridgeStatus>;
export type Condition = Static<typeof schema.Condition>;
export type BridgeReport = Static<typeof schema.BridgeReport>;
export type Dimension = (typeof schema.DIMENSIONS)[number];
export type TsdbSpec = CatchpointBridgeSpec['tsdb'];
export type PushSpec = CatchpointBridgeSpec['push'];
export type CatchpointSpec = CatchpointBridgeSpec['catchpoint'];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A CatchpointBridge as stored by the API server (or read from a manifest file). */
export interface CatchpointBridge {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: CatchpointBridgeSpec;
  status?: CatchpointBridgeStatus;
}
