/**
 * The modules of src/catchpoint import one another without a circle (type-only imports and
 * export-from included): types.ts sits at the bottom, the parser, the template compiler and the
 * measurement reader each take their types from it rather than from one another.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const DIR = new URL('../../../src/catchpoint/', import.meta.url);

function localImports(file: string): string[] {
  const text = readFileSync(new URL(file, DIR), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'\.\/([^'/]+)'/g)].map((m) => m[1]!);
}

test('no import circle within src/catchpoint', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  const graph = new Map(files.map((f) => [f, localImports(f)]));
  const done = new Set<string>();
  const circles: string[] = [];
  const visit = (file: string, path: readonly string[]): void => {
    if (path.includes(file)) circles.push([...path.slice(path.indexOf(file)), file].join(' → '));
    if (done.has(file) || path.includes(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(circles, []);
  assert.ok(graph.get('push.ts')?.includes('types.ts'), 'the check sees type-only imports');
});
