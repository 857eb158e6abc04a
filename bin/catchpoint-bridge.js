#!/usr/bin/env node
// The published entry point: Node >= 24 runs the TypeScript sources directly (type stripping),
// so the image ships src/ as is and there is no build output to drift from it.
import '../src/cli.ts';
