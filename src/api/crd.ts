/**
 * Builds the CatchpointBridge CustomResourceDefinition from schema.ts. TypeBox emits JSON Schema;
 * the API server wants a *structural* openAPIV3Schema, so this translation:
 *  - turns unions of literals into `type: string` + `enum`;
 *  - drops `additionalProperties: false` (structural schemas prune unknown fields instead) and
 *    `uniqueItems` (forbidden: `x-kubernetes-list-type: set` says it without quadratic cost);
 *  - turns TypeBox records (`patternProperties`) into `additionalProperties` plus a CEL rule on
 *    the keys;
 *  - leaves defaulted fields out of `required`, since the API server fills them in.
 */
import type { TSchema } from '@sinclair/typebox';
import {
  API_GROUP,
  API_VERSION,
  CatchpointBridgeSpec,
  CatchpointBridgeStatus,
  KIND,
  PLURAL,
} from './schema.ts';

type JsonSchema = Record<string, unknown>;

const DROPPED_KEYWORDS = new Set([
  '$id',
  'uniqueItems',
  'additionalProperties',
  'patternProperties',
  'anyOf',
]);

export function toStructural(schema: TSchema): JsonSchema {
  const literalUnion = asLiteralUnion(schema);
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!DROPPED_KEYWORDS.has(key) && key !== 'properties' && key !== 'items' && key !== 'required') {
      out[key] = value;
    }
  }
  if (literalUnion !== undefined) {
    out.type = 'string';
    out.enum = literalUnion;
  }
  if (schema.properties !== undefined) {
    const props = schema.properties as Record<string, TSchema>;
    out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, toStructural(v)]));
    const required = ((schema.required as string[] | undefined) ?? []).filter(
      (name) => (props[name] as { default?: unknown } | undefined)?.default === undefined,
    );
    if (required.length > 0) out.required = required;
  }
  if (schema.items !== undefined) out.items = toStructural(schema.items as TSchema);
  if (schema.patternProperties !== undefined) {
    const [[pattern, valueSchema]] = Object.entries(schema.patternProperties as Record<string, TSchema>) as [
      [string, TSchema],
    ];
    out.type = 'object';
    out.additionalProperties = toStructural(valueSchema);
    if (pattern !== '^(.*)$') {
      const rules = (out['x-kubernetes-validations'] as unknown[] | undefined) ?? [];
      out['x-kubernetes-validations'] = [
        ...rules,
        {
          rule: `self.all(k, k.matches('${pattern.replaceAll('\\', '\\\\')}'))`,
          message: `keys must match ${pattern}`,
        },
      ];
    }
  } else if (
    typeof schema.additionalProperties === 'object' &&
    schema.additionalProperties !== null &&
    schema.properties === undefined
  ) {
    out.additionalProperties = toStructural(schema.additionalProperties as TSchema);
  }
  return out;
}

function asLiteralUnion(schema: TSchema): string[] | undefined {
  const anyOf = schema.anyOf as TSchema[] | undefined;
  if (anyOf === undefined) return undefined;
  const values = anyOf.map((s) => s.const);
  if (!values.every((v): v is string => typeof v === 'string')) {
    throw new Error(`only unions of string literals can become a CRD enum, got ${JSON.stringify(schema)}`);
  }
  return values;
}

export const CRD_NAME = `${PLURAL}.${API_GROUP}`;

export function buildCrd(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'catchpoint-bridge', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ['cpb'],
        categories: ['catchpoint'],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Replicas', type: 'string', jsonPath: '.status.replicasSummary' },
            { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
            { name: 'Nodes', type: 'integer', jsonPath: '.status.bridge.directorySize' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A bridge from Catchpoint Test Data Webhook pushes to OpenTSDB.',
              required: ['spec'],
              'x-kubernetes-validations': [
                {
                  // Child objects are named cpb-<name>, and Services need a DNS-1035 label.
                  rule: "size(self.metadata.name) <= 59 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
                  message:
                    'metadata.name must be at most 59 lower-case letters, digits and dashes (children are named cpb-<name>)',
                },
              ],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructural(CatchpointBridgeSpec),
                status: toStructural(CatchpointBridgeStatus),
              },
            },
          },
        },
      ],
    },
  };
}
