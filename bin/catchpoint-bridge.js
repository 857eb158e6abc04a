#!/usr/bin/env node
// The published entry point runs the compiled CLI (dist/, `npm run build`; the image builds it).
// From a checkout, `npm start -- <command>` runs the TypeScript sources directly instead.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error(
    'catchpoint-bridge: dist/cli.js is missing: run `npm run build` (or `npm start -- <command>`)',
  );
  process.exit(1);
}
await import(cli.href);
