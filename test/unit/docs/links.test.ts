// Relative links between the docs (and from dashboards/README.md) point at files that exist and
// at headings that exist in them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { markdownAnchors } from '../../support/markdown.ts';
import { ROOT } from '../../support/product.ts';

const FILES = [
  'docs/metrics.md',
  'docs/operations.md',
  'docs/errors.md',
  'docs/reference.md',
  'docs/alerting-bosun.md',
  'dashboards/README.md',
];
const LINK = /\]\(([^)\s]+)\)/g;

describe('links', () => {
  it('every relative link and anchor in the docs resolves', () => {
    const broken: string[] = [];
    for (const file of FILES) {
      const path = join(ROOT, file);
      const text = readFileSync(path, 'utf8');
      for (const m of text.matchAll(LINK)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [file2 = '', anchor] = target.split('#');
        const targetPath = file2 === '' ? path : join(dirname(path), file2);
        if (!existsSync(targetPath)) {
          broken.push(`${file}: ${target} (no ${relative(ROOT, targetPath)})`);
          continue;
        }
        if (anchor !== undefined && targetPath.endsWith('.md')) {
          if (!markdownAnchors(readFileSync(targetPath, 'utf8')).has(anchor))
            broken.push(`${file}: ${target}`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });
});
