/**
 * Push + node + spec → datapoints, as pure functions. A MappingPlan is computed once per config
 * generation (metric name parts, tag keys, measurement readers) so that mapping a push only
 * concatenates strings and serialises points.
 *
 * Naming layouts:
 *  - seed (default, NS1 compatible): `<prefix>.<measurement>.by_<dim>.<testId>` tagged `nodeid`
 *    and the dimension's own tag; `status` adds `status=ok|error` and, on failures, the seed's
 *    `<prefix>.error.by_node.<testId>` tagged `error=<code>`. The `test` dimension writes
 *    `<prefix>.<measurement>.by_test` tagged `nodeid` and `testid`: one metric across all tests.
 *  - tags: `<prefix>.<measurement>` tagged `testid`, `nodeid` and every other dimension; status
 *    is 1 (ok) or 0 (error); `error` is tagged `testid`, `nodeid`, `error`.
 * A dimension without a value for this node is left out of that point (seed: no point for that
 * dimension; tags: no tag) and counted, never written as an empty tag.
 *
 * Measurements: those of `spec.measurements`, plus, with `push.format: template`, every one
 * `push.template.measurements` maps that the list lacks (mapping a value is asking for it). A
 * measurement the push lacks is counted as missing; one it carries in a shape that is not a
 * number is counted as invalid; either way the push's other points are written. A run whose status
 * cannot be read (an unreadable error code) gets no status or error point.
 */
import type { CatchpointBridgeSpec, Dimension } from '../api/types.ts';
import {
  canonicalMeasurementKey,
  NOT_A_NUMBER,
  readMeasurementOrInvalid,
} from '../catchpoint/measurement.ts';
import type { NodeInfo } from '../catchpoint/node.ts';
import { statusUnknown } from '../catchpoint/push.ts';
import type { CatchpointPush } from '../catchpoint/types.ts';
import type { EncodedDatapoint } from '../opentsdb/datapoint.ts';
import { sanitizeTagValue, wireValue } from '../opentsdb/sanitize.ts';

type MeasurementKind = 'value' | 'status' | 'error';

interface PlannedMeasurement {
  name: string;
  kind: MeasurementKind;
  /** readMeasurement key for kind 'value'. */
  key: string;
  /** Metric name up to (not including) the `.by_<dim>` part. */
  metricBase: string;
  /**
   * Seed layout, per plan dimension: the encoded point up to the metric's test id,
   * `{"metric":"<base>.by_<dim>.` (`.by_test` points: the whole metric and its closing quote).
   */
  seedHeads: string[];
}

interface PlannedDimension {
  dimension: Dimension;
  /** Tag key, or undefined for `node` (nodeid is on every point anyway). */
  tagKey: string | undefined;
  /** Seed layout: `,"<tagKey>":` (empty for `node`), the JSON before the dimension's tag value. */
  tagKeyJson: string;
}

export interface MappingPlan {
  layout: 'seed' | 'tags';
  prefix: string;
  measurements: PlannedMeasurement[];
  dimensions: PlannedDimension[];
  /** Whether the seed's error.by_node series is written (with `status` or `error`). */
  errorByNode: boolean;
}

/** Counters the caller reads; mapping increments them instead of allocating results. */
export interface MappingStats {
  /** Dimension → points (seed) or tags (tags layout) left out because the value was unknown. */
  missingDimension: Map<Dimension, number>;
  /** Measurements the push did not carry (e.g. rtt of a failed run, or status when unreadable). */
  missingMeasurement: Map<string, number>;
  /** Measurements the push carried in a shape that is not a number ("n/a", an object). */
  invalidMeasurement: Map<string, number>;
}

export function newMappingStats(): MappingStats {
  return { missingDimension: new Map(), missingMeasurement: new Map(), invalidMeasurement: new Map() };
}

const TAG_KEYS: Record<Dimension, string | undefined> = {
  node: undefined,
  asn: 'asn',
  continent: 'continent',
  city: 'city',
  country: 'country',
  region: 'region',
  isp: 'isp',
  networkType: 'network_type',
  test: 'testid',
};

export function buildMappingPlan(spec: CatchpointBridgeSpec): MappingPlan {
  const prefix = spec.naming.prefix;
  const measurements: PlannedMeasurement[] = measurementNames(spec).map((name) => {
    const kind: MeasurementKind = name === 'status' ? 'status' : name === 'error' ? 'error' : 'value';
    const key = canonicalMeasurementKey(name);
    const metricBase = `${prefix}.${name}`;
    const seedHeads = spec.dimensions.map((d) =>
      d === 'test'
        ? `{"metric":${JSON.stringify(`${metricBase}.by_test`)}`
        : `{"metric":${JSON.stringify(`${metricBase}.by_${d}.`).slice(0, -1)}`,
    );
    return { name, kind, key, metricBase, seedHeads };
  });
  return {
    layout: spec.naming.layout,
    prefix,
    measurements,
    dimensions: spec.dimensions.map((dimension) => {
      const tagKey = TAG_KEYS[dimension];
      return { dimension, tagKey, tagKeyJson: tagKey === undefined ? '' : `,${JSON.stringify(tagKey)}:` };
    }),
    errorByNode: measurements.some((m) => m.kind === 'status' || m.kind === 'error'),
  };
}

/**
 * spec.measurements, then each measurement push.template maps that the list lacks (`rtt` and
 * `timing.total` are one). `status` and `error` are derived from the error code, never read from a
 * path: only spec.measurements turns them on.
 */
function measurementNames(spec: CatchpointBridgeSpec): string[] {
  const names = [...spec.measurements];
  const mapped = spec.push.format === 'template' ? spec.push.template?.measurements : undefined;
  if (mapped === undefined) return names;
  const listed = new Set(names.map(canonicalMeasurementKey));
  for (const key of Object.keys(mapped)) {
    const canonical = canonicalMeasurementKey(key);
    if (canonical === 'status' || canonical === 'error' || listed.has(canonical)) continue;
    listed.add(canonical);
    names.push(key);
  }
  return names;
}

/** The push's own ids; the node's ASN, else the push's; every other dimension is the node's field of that name. */
function dimensionValue(dimension: Dimension, push: CatchpointPush, node: NodeInfo): string | undefined {
  switch (dimension) {
    case 'node':
      return push.nodeId;
    case 'test':
      return push.testId;
    case 'asn':
      return node.asn ?? push.asn;
    default:
      return node[dimension];
  }
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Serialises one point; tag values are already sanitised, names come from the plan. */
function encode(
  metric: string,
  timestamp: number,
  value: number | string,
  tags: Record<string, string>,
): EncodedDatapoint {
  return JSON.stringify({ metric, timestamp, value, tags });
}

export function mapPush(
  push: CatchpointPush,
  node: NodeInfo,
  plan: MappingPlan,
  stats: MappingStats,
): EncodedDatapoint[] {
  const out: EncodedDatapoint[] = [];
  const nodeid = sanitizeTagValue(push.nodeId) ?? push.nodeId;
  const failed = push.errorCode !== undefined;
  const unknownStatus = !failed && push.dropped !== undefined && statusUnknown(push);
  const errorTag = failed ? (sanitizeTagValue(push.errorCode!) ?? 'unknown') : undefined;
  let seedBody: string | undefined;
  let seedTags: string | undefined;

  // Resolve each dimension's tag value once per push.
  const values: Array<string | undefined> = plan.dimensions.map((d) => {
    const raw = dimensionValue(d.dimension, push, node);
    const clean = raw === undefined ? undefined : sanitizeTagValue(raw);
    if (clean === undefined) bump(stats.missingDimension, d.dimension);
    return clean;
  });

  for (const m of plan.measurements) {
    let value: number | string | undefined;
    if (m.kind === 'value') {
      const raw = readMeasurementOrInvalid(push, m.key);
      if (raw === NOT_A_NUMBER) {
        bump(stats.invalidMeasurement, m.name);
        continue;
      }
      value = raw === undefined ? undefined : wireValue(raw);
      if (value === undefined) {
        bump(stats.missingMeasurement, m.name);
        continue;
      }
    } else if (unknownStatus) {
      if (m.kind === 'status') bump(stats.missingMeasurement, m.name);
      continue;
    } else if (m.kind === 'error') {
      if (!failed) continue;
      value = 1;
    } else {
      value = plan.layout === 'tags' && failed ? 0 : 1;
    }

    if (plan.layout === 'tags') {
      const tags: Record<string, string> = { testid: push.testId, nodeid };
      if (m.kind === 'error') {
        tags.error = errorTag!;
      } else {
        for (let i = 0; i < plan.dimensions.length; i++) {
          const tagKey = plan.dimensions[i]!.tagKey;
          const v = values[i];
          if (tagKey !== undefined && tagKey !== 'testid' && v !== undefined) tags[tagKey] = v;
        }
      }
      out.push(encode(m.metricBase, push.timestampMs, value, tags));
      continue;
    }

    // Seed layout: one series per dimension. Built from the plan's pre-encoded pieces (what
    // encode() would produce for {metric, timestamp, value, tags: {nodeid, <tag>, status}}).
    if (m.kind === 'error') continue; // error.by_node below, like the seed
    seedBody ??= `,"timestamp":${JSON.stringify(push.timestampMs)},"value":`;
    seedTags ??= `,"tags":{"nodeid":${JSON.stringify(nodeid)}`;
    const middle = `${seedBody}${JSON.stringify(value)}${seedTags}`;
    const tail = m.kind === 'status' ? (failed ? ',"status":"error"}}' : ',"status":"ok"}}') : '}}';
    for (let i = 0; i < plan.dimensions.length; i++) {
      const v = values[i];
      if (v === undefined) continue;
      const d = plan.dimensions[i]!;
      // testId is digits only (parsePush), so it needs no JSON escaping.
      const head = d.dimension === 'test' ? m.seedHeads[i]! : `${m.seedHeads[i]!}${push.testId}"`;
      const tag = d.tagKey === undefined ? '' : `${d.tagKeyJson}${JSON.stringify(v)}`;
      out.push(`${head}${middle}${tag}${tail}`);
    }
  }

  if (plan.layout === 'seed' && failed && plan.errorByNode) {
    out.push(
      encode(`${plan.prefix}.error.by_node.${push.testId}`, push.timestampMs, 1, {
        nodeid,
        error: errorTag!,
      }),
    );
  }
  return out;
}
