/**
 * The CLI as the image runs it: src/ compiled by tsconfig.build.json to plain JavaScript.
 * Tests and the benchmark use it to check and measure that artifact rather than the type-stripped
 * sources.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const repoRoot = join(import.meta.dirname, '../..');

/** dist/ itself (what `npm run build` writes), or a scratch folder that tests can own. */
export const DIST_DIR = join(repoRoot, 'dist');
export const SCRATCH_DIST_DIR = join(repoRoot, 'node_modules/.cache/catchpoint-bridge/dist');

/** Compiles src/ into `outDir` and returns the path of its cli.js. */
export async function compileCli(outDir: string = DIST_DIR): Promise<string> {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], {
    cwd: repoRoot,
  });
  // Under node_modules/ the repository's package.json no longer scopes the files: say ESM here.
  if (outDir !== DIST_DIR) await writeFile(join(outDir, 'package.json'), '{"type":"module"}\n');
  return join(outDir, 'cli.js');
}
