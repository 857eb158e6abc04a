/**
 * `npm run demo` runs non-interactively (--ci) and shows what it promises: the chart installed,
 * the CR Ready, every replayed push acknowledged, series in the TSDB, a live edit without a roll.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '../../..');

test('the demo walks through install, pushes, series and a live edit', { timeout: 300_000 }, async () => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [join(root, 'scripts/demo.ts'), '--ci'],
      { cwd: root, maxBuffer: 1 << 24 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`demo failed:\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.match(out, /STATUS: deployed/);
  assert.match(
    out,
    /dns-perf\s+True\s+Ready\s+2\/2\s+http:\/\/cpb-dns-perf\.monitoring\.svc\/push\/<token>\s+260/,
  );
  assert.match(
    out,
    /replayed 1500 pushes to http:\/\/127\.0\.0\.1:\d+\/push\/<token> in \d+ ms: \{"200":1500\}/,
  );
  assert.match(out, /country\s+mean rtt \(ms\)\s+points/);
  assert.match(out, /unchanged: the pods did not roll/);
  assert.match(out, /network_type\s+mean rtt \(ms\)\s+points\n\s+(Backbone|LastMile|PublicCloud|Wireless)/);
  assert.match(out, /demo complete\./);
  assert.doesNotMatch(out, /\/push\/demo[a-z0-9]/, 'the push token is never printed');
});
