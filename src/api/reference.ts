/**
 * The CatchpointBridge reference as Markdown, generated from schema.ts (README and docs embed it;
 * a test fails when a checked-in copy is stale), so the documentation cannot drift from the API.
 */
import type { TSchema } from '@sinclair/typebox';
import { CatchpointBridgeSpec } from './schema.ts';

interface Row {
  path: string;
  type: string;
  def: string;
  description: string;
}

function typeOf(s: TSchema): string {
  const anyOf = s.anyOf as TSchema[] | undefined;
  if (anyOf) return anyOf.map((a) => `\`${String(a.const)}\``).join(' \\| ');
  if (s.type === 'array') {
    const items = s.items as TSchema;
    return `list of ${typeOf(items)}`;
  }
  if (s.patternProperties) return 'map';
  return String(s.type ?? 'any');
}

function walk(schema: TSchema, path: string, required: boolean, rows: Row[]): void {
  const rules = (schema['x-kubernetes-validations'] as Array<{ message: string }> | undefined) ?? [];
  const notes = [schema.description as string | undefined, ...rules.map((r) => `Rule: ${r.message}.`)]
    .filter((x): x is string => x !== undefined && x !== '')
    .join(' ');
  const bounds: string[] = [];
  if (schema.minimum !== undefined || schema.maximum !== undefined)
    bounds.push(`${schema.minimum ?? ''}…${schema.maximum ?? ''}`);
  if (typeof schema.pattern === 'string' && schema.pattern.length <= 24 && !schema.anyOf)
    bounds.push(`pattern \`${schema.pattern}\``);
  if (schema.maxItems !== undefined) bounds.push(`≤ ${schema.maxItems} items`);
  if (path !== '') {
    rows.push({
      path: `\`${path}\``,
      type: typeOf(schema) + (required && schema.default === undefined ? ' (required)' : ''),
      def: schema.default === undefined ? '' : `\`${JSON.stringify(schema.default)}\``,
      description: [notes, bounds.length ? `(${bounds.join('; ')})` : '']
        .filter(Boolean)
        .join(' ')
        .replaceAll('|', '\\|'),
    });
  }
  if (schema.type === 'object' && schema.properties) {
    const req = new Set((schema.required as string[] | undefined) ?? []);
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
      walk(child, path === '' ? key : `${path}.${key}`, req.has(key), rows);
    }
  }
}

export function specReferenceMarkdown(): string {
  const rows: Row[] = [];
  walk(CatchpointBridgeSpec, '', true, rows);
  const lines = [
    '| field (under `spec`) | type | default | meaning |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.path} | ${r.type} | ${r.def} | ${r.description} |`),
  ];
  return `${lines.join('\n')}\n`;
}
