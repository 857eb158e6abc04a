/**
 * Imports in src/ only go down, and never in a circle. The layers are the README's table
 * ("Architecture": a folder and the folders it may import), read here, so the README and the
 * check cannot drift apart; imports are read from the import and export-from statements
 * themselves, type-only ones included (they tie modules together as much).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file's text, as paths under src/. */
function importsIn(text: string, file: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/g)) {
    found.push(relative(SRC, resolve(dirname(file), m[1]!)));
  }
  return found;
}

const importsOf = (file: string) => importsIn(readFileSync(file, 'utf8'), file);

/** The folder a path under src/ is in; '' for the entry files at the top (cli.ts). */
const folderOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '');

/** The README's layer table: `| \`folder/\` | \`a/\`, \`b/\` |` → folder → the folders it may import. */
function layersFromReadme(readme: string): Map<string, Set<string>> {
  const section = readme.slice(readme.indexOf('| layer | may import |'));
  const layers = new Map<string, Set<string>>();
  for (const line of section.split('\n').slice(2)) {
    const m = /^\| `([a-z]+)\/` \| (.*) \|$/.exec(line.trim());
    if (m === null) break;
    layers.set(m[1]!, new Set([...m[2]!.matchAll(/`([a-z]+)\/`/g)].map((x) => x[1]!)));
  }
  return layers;
}

/** Every import that goes against the layers: from a folder to one it may not import. */
function layerViolations(graph: Map<string, string[]>, layers: Map<string, Set<string>>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const fromFolder = folderOf(from);
    if (fromFolder === '') continue; // the entry files wire everything
    const allowed = layers.get(fromFolder);
    if (allowed === undefined) {
      out.push(`${from}: its folder is not in the README's layer table`);
      continue;
    }
    for (const to of targets) {
      const toFolder = folderOf(to);
      if (toFolder !== fromFolder && !allowed.has(toFolder)) out.push(`${from} → ${to}`);
    }
  }
  return out;
}

/** The import circles of a graph (Tarjan's strongly connected components of more than one file, or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = new Map(sources(SRC).map((file) => [relative(SRC, file), importsOf(file)]));
const layers = layersFromReadme(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('architecture', () => {
  it("the README's layer table is there and names every folder of src/", () => {
    const folders = new Set([...graph.keys()].map(folderOf).filter((f) => f !== ''));
    assert.deepEqual([...layers.keys()].sort(), [...folders].sort());
  });

  it('imports in src/ only go down the layers the README gives', () => {
    assert.deepEqual(layerViolations(graph, layers), []);
  });

  it('the operator and the bridge never import each other', () => {
    assert.ok(!layers.get('operator')!.has('bridge') && !layers.get('bridge')!.has('operator'));
  });

  it('no import circle in src/, type-only imports included', () => {
    assert.deepEqual(cycles(graph), []);
  });

  it('the checks see what they must (a fault planted in a copy of the graph is caught)', () => {
    const reconciler = 'operator/catchpoint-bridge/reconciler.ts';
    assert.ok(graph.get(reconciler)!.includes('api/secret-data.ts'), graph.get(reconciler)!.join(', '));
    assert.deepEqual(
      importsIn(
        "import type { X } from '../bridge/config.ts';\nexport { Y } from './b.ts';",
        join(SRC, 'operator/a.ts'),
      ),
      ['bridge/config.ts', 'operator/b.ts'],
      'import type and export-from are seen',
    );
    const planted = new Map(graph);
    planted.set(reconciler, [...graph.get(reconciler)!, 'bridge/config.ts']);
    assert.deepEqual(layerViolations(planted, layers), [`${reconciler} → bridge/config.ts`]);
    planted.set('shared/duration.ts', ['shared/logger.ts']);
    planted.set('shared/logger.ts', ['shared/duration.ts']);
    assert.ok(
      cycles(planted).some((c) => c.join() === 'shared/duration.ts,shared/logger.ts'),
      'a planted circle is found',
    );
    const abc = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    assert.deepEqual(cycles(abc), [['a', 'b', 'c'], ['e']]);
  });
});
