/**
 * Compiles a Template field map (where each value of a user-defined Catchpoint template lives in
 * the body) into path steps, once per config generation. parsePush and readMeasurement then only
 * walk precompiled steps. The field map and its compiled form are declared in types.ts.
 */
import { PushFormatError } from './errors.ts';
import { canonicalMeasurementKey } from './measurement.ts';
import { type CompiledPath, compilePath } from './path.ts';
import type { CompiledTemplate, FieldRef, TemplateFieldMap } from './types.ts';

/** Keys that name counters the bridge derives itself, never values read from a body. */
const NOT_MEASUREMENTS = new Set(['status', 'error']);

// Formats come from config and are replaced, not mutated, on reload: cache by identity.
const cache = new WeakMap<TemplateFieldMap, CompiledTemplate>();

/** Compiles (or returns the cached compilation of) a field map. Throws PushFormatError. */
export function compileTemplate(fields: TemplateFieldMap): CompiledTemplate {
  const cached = cache.get(fields);
  if (cached !== undefined) return cached;
  if (typeof fields !== 'object' || fields === null) {
    throw new PushFormatError('', 'template fields must be an object');
  }
  const measurements = new Map<string, CompiledPath>();
  if (fields.measurements !== undefined) {
    if (typeof fields.measurements !== 'object' || fields.measurements === null) {
      throw new PushFormatError('measurements', 'template measurements must be an object of key → path');
    }
    for (const [key, path] of Object.entries(fields.measurements)) {
      const canonical = canonicalMeasurementKey(key);
      if (NOT_MEASUREMENTS.has(canonical)) continue;
      if (compilePath(canonical) === undefined) {
        throw new PushFormatError(
          `measurements.${key}`,
          `measurement key ${JSON.stringify(key)} is not a dot path`,
        );
      }
      measurements.set(canonical, required(path, `measurements.${key}`).steps);
    }
  }
  const compiled: CompiledTemplate = {
    testId: required(fields.testId, 'testId'),
    nodeId: required(fields.nodeId, 'nodeId'),
    timestamp: required(fields.timestamp, 'timestamp'),
    nodeName: optional(fields.nodeName, 'nodeName'),
    asn: optional(fields.asn, 'asn'),
    errorCode: optional(fields.errorCode, 'errorCode'),
    measurements,
  };
  cache.set(fields, compiled);
  return compiled;
}

function required(path: unknown, name: string): FieldRef {
  if (typeof path !== 'string')
    throw new PushFormatError(name, `template field ${name} must be a dot path string`);
  const steps = compilePath(path);
  if (steps === undefined) {
    throw new PushFormatError(
      name,
      `template field ${name} ${JSON.stringify(path)} has an empty path segment`,
    );
  }
  return { path, steps };
}

function optional(path: unknown, name: string): FieldRef | undefined {
  return path === undefined ? undefined : required(path, name);
}
