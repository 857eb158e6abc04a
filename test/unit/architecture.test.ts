/**
 * Imports in src/ only go down: the folders a module may import from, read from the import
 * statements themselves (type-only imports included: they tie modules together as much). The
 * operator and the bridge are two programs sharing api/ and the layers below, never each other.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '../../src');

/** Folder → the src folders it must not import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  shared: ['api', 'bridge', 'catchpoint', 'kube', 'opentsdb', 'operator', 'replay', 'spool'],
  api: ['bridge', 'catchpoint', 'kube', 'opentsdb', 'operator', 'replay', 'spool'],
  spool: ['bridge', 'catchpoint', 'kube', 'opentsdb', 'operator', 'replay'],
  opentsdb: ['bridge', 'catchpoint', 'kube', 'operator', 'replay', 'spool'],
  catchpoint: ['bridge', 'kube', 'opentsdb', 'operator', 'replay', 'spool'],
  kube: ['bridge', 'catchpoint', 'opentsdb', 'operator', 'replay', 'spool'],
  operator: ['bridge', 'catchpoint', 'opentsdb', 'replay', 'spool'],
  bridge: ['operator', 'replay'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file, as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/g)) {
    found.push(relative(SRC, resolve(dirname(file), m[1]!)));
  }
  return found;
}

const folderOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '');

test('imports in src/ only go down: no folder imports one the architecture puts above it', () => {
  const violations: string[] = [];
  for (const file of sources(SRC)) {
    const from = relative(SRC, file);
    const forbidden = FORBIDDEN[folderOf(from)] ?? [];
    for (const to of importsOf(file)) {
      if (forbidden.includes(folderOf(to))) violations.push(`${from} → ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the check sees imports, type-only ones too (it would catch the operator importing the bridge)', () => {
  const reconciler = join(SRC, 'operator/catchpoint-bridge/reconciler.ts');
  const seen = importsOf(reconciler);
  assert.ok(seen.includes('api/secret-data.ts'), seen.join(', '));
  assert.ok(importsOf(join(SRC, 'bridge/bridge.ts')).includes('bridge/config.ts'), 'import type is seen');
  assert.ok(FORBIDDEN.operator!.includes(folderOf('bridge/config.ts')));
});
