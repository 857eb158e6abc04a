/**
 * The types the push modules share, at the bottom of the folder so that push.ts (the parser),
 * template.ts (the field-map compiler) and measurement.ts (the reader) each import them from
 * here and not from one another: a parsed push, the push format and its template field map,
 * and a compiled field map. Types only; nothing here runs.
 */
import type { CompiledPath } from './path.ts';
import type { kPushBody, kPushSummary, kPushTemplate } from './symbols.ts';

export type JsonObject = Record<string, unknown>;

export type PushFormat = { type: 'json' } | { type: 'template'; fields: TemplateFieldMap };

/**
 * Where each field lives in a Template body, as dot paths ('TestDetails.TestId',
 * 'Summary.TotalTime'; a numeric segment indexes an array). `measurements` maps a measurement
 * key ('timing.total' or 'rtt', 'timing.dns', ...) to the path of its value. Treat a field map
 * as immutable: its compilation is cached by object identity.
 */
export interface TemplateFieldMap {
  testId: string;
  nodeId: string;
  timestamp: string;
  nodeName?: string;
  asn?: string;
  errorCode?: string;
  measurements?: Record<string, string>;
}

export interface FieldRef {
  /** The path as configured, used in error messages ('TestDetails.TestId'). */
  readonly path: string;
  readonly steps: CompiledPath;
}

/** A TemplateFieldMap compiled into path steps (template.ts). */
export interface CompiledTemplate {
  readonly testId: FieldRef;
  readonly nodeId: FieldRef;
  readonly timestamp: FieldRef;
  readonly nodeName: FieldRef | undefined;
  readonly asn: FieldRef | undefined;
  readonly errorCode: FieldRef | undefined;
  /** Canonical measurement key (see canonicalMeasurementKey) → path of its value. */
  readonly measurements: ReadonlyMap<string, CompiledPath>;
}

/** An optional field left out of a push because its value could not be read (never a 400). */
export interface DroppedField {
  /** Which field: the label of catchpoint_bridge_field_invalid_total. */
  field: 'nodeName' | 'asn' | 'errorCode';
  /** Where it was, in the push's own terms ('Summary.Error.Code', 'TestDetails.Asn'). */
  path: string;
  /** What was there, described and cut short (describeValue), for the log line. */
  value: string;
}

export interface CatchpointPush {
  /** Catchpoint test id, digits only, no leading zeros. */
  testId: string;
  /** Catchpoint node id, digits only, no leading zeros. */
  nodeId: string;
  /** "City, CC - ISP" as Catchpoint names the node; undefined when absent or empty. */
  nodeName?: string;
  /** AS number of the node, digits only ('AS' prefix dropped); undefined when absent or invalid. */
  asn?: string;
  /** Start of the run, epoch milliseconds, UTC. */
  timestampMs: number;
  /** Present iff the run failed: the error code, or 'unknown' when the failure had none. */
  errorCode?: string;
  /** Optional fields the push carried in a shape the bridge cannot read; undefined when none. */
  dropped?: readonly DroppedField[];
  /** The parsed body; internal to readMeasurement. Absent on hand-built pushes. */
  readonly [kPushBody]?: JsonObject;
  /** Default JSON: the Summary object (undefined when the push has none). */
  readonly [kPushSummary]?: JsonObject;
  /** Template pushes: the compiled field map their measurements are read through. */
  readonly [kPushTemplate]?: CompiledTemplate;
}
