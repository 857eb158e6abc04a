// docs/errors.md documents every error code of the registry (src/shared/errors.ts), and only
// those: like fastify's test/internals/errors.test.js. The source tree is also searched for
// `CPB_ERR_*` string literals, so a code written outside the registry's types (a log field) is
// caught too.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS } from '../../../src/shared/errors.ts';
import { ROOT, sourceTree } from '../../support/product.ts';

const CODE_LITERAL = /(['"`])(CPB_ERR_[A-Z0-9_]+)\1/g;
const ROW = /^\| `(CPB_ERR_[A-Z0-9_]+)` \|(.*)\|\s*$/gm;

function codesInSource(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { path, text } of sourceTree()) {
    for (const m of text.matchAll(CODE_LITERAL)) {
      const files = out.get(m[2]!) ?? [];
      files.push(relative(ROOT, path));
      out.set(m[2]!, files);
    }
  }
  return out;
}

const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
const rows = [...doc.matchAll(ROW)].map((m) => ({
  code: m[1]!,
  cells: m[2]!.split(' | ').map((c) => c.trim()),
}));

describe('errors', () => {
  it('the source tree has error codes to document', () => {
    assert.ok(codesInSource().size >= 30, `found ${codesInSource().size}`);
  });

  it('every CPB_ERR_ code in src/ has a row in docs/errors.md', () => {
    const documented = new Set(rows.map((r) => r.code));
    const missing = [...codesInSource()]
      .filter(([code]) => !documented.has(code))
      .map(([code, files]) => `${code} (${[...new Set(files)].join(', ')})`);
    assert.deepEqual(missing, [], 'codes without a row in docs/errors.md');
  });

  it('every row of docs/errors.md names a code that is still in src/', () => {
    const inSource = codesInSource();
    assert.deepEqual(
      rows.map((r) => r.code).filter((code) => !inSource.has(code)),
      [],
      'rows for codes no longer in src/',
    );
  });

  it('each code has one row, with what it means, where it shows up and what to do', () => {
    const codes = rows.map((r) => r.code);
    assert.equal(new Set(codes).size, codes.length, 'a code has two rows');
    for (const { code, cells } of rows) {
      assert.equal(cells.length, 3, `${code}: meaning | where | what to do`);
      for (const cell of cells) assert.ok(cell.length >= 10, `${code}: an empty cell`);
    }
  });

  it('every code in src/ is in the registry, and every code of the registry is used in src/', () => {
    const registry = Object.keys(ERRORS).sort();
    const used = [...codesInSource()]
      .filter(([, files]) => files.some((f) => f !== 'src/shared/errors.ts'))
      .map(([code]) => code)
      .sort();
    assert.deepEqual(used, registry);
  });

  it('the registry names each code CPB_ERR_<AREA>_<PROBLEM>, with a message and a status only where a request is answered', () => {
    for (const [code, definition] of Object.entries(ERRORS)) {
      assert.match(code, /^CPB_ERR_[A-Z]+(_[A-Z]+)*$/);
      assert.ok(definition.message.length >= 10, code);
      const status = (definition as { statusCode?: number }).statusCode;
      if (status !== undefined) assert.ok(status >= 400 && status <= 599, code);
    }
  });
});
