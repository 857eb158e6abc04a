import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatedFiles } from '../../../scripts/generated-files.ts';

const root = join(import.meta.dirname, '../../..');

for (const file of generatedFiles()) {
  test(`${file.path} is up to date with src/api/schema.ts (run npm run gen)`, async () => {
    const onDisk = await readFile(join(root, file.path), 'utf8');
    assert.equal(onDisk, file.content, `${file.path} is stale: run \`npm run gen\` and commit the result`);
  });
}
