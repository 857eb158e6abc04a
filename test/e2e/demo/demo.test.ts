/**
 * `npm run demo` runs non-interactively (--ci) and shows what it promises: the chart installed,
 * the CR Ready, every replayed push acknowledged, series in the TSDB, a live edit without a roll;
 * on a machine that can run a node, all of it on the real node (pods, the Service's ClusterIP),
 * and the host put back afterwards.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeUnsupportedReason } from '../../../scripts/control-plane/node-host.ts';
import { hostSnapshot } from '../../harness/host-snapshot.ts';

const root = join(import.meta.dirname, '../../..');

const onNode = nodeUnsupportedReason() === undefined;

describe('demo', () => {
  it('the demo walks through install, pushes, series and a live edit', { timeout: 600_000 }, async () => {
    const hostBefore = onNode ? await hostSnapshot() : '';
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
    assert.match(out, /dns-perf\s+True\s+Ready\s+2\/2\s+http:\/\/cpb-dns-perf\.monitoring\.svc\/push\s+260/);
    assert.match(
      out,
      onNode
        ? /replayed 1500 pushes to http:\/\/10\.96\.\d+\.\d+\/push in \d+ ms: \{"200":1500\}/
        : /replayed 1500 pushes to http:\/\/127\.0\.0\.1:\d+\/push in \d+ ms: \{"200":1500\}/,
    );
    if (onNode) {
      assert.match(out, /catchpoint-bridge-node\s+Ready\s.*containerd:\/\/2\./, 'the node and its runtime');
      const running = out.split('\n').filter((l) => /\s1\/1\s+Running\s+0\s/.test(l));
      assert.equal(
        running.filter((l) => l.includes('catchpoint-bridge-system')).length,
        2,
        'two operator pods',
      );
      assert.equal(running.filter((l) => /monitoring\s+cpb-dns-perf-/.test(l)).length, 2, 'two bridge pods');
      assert.match(out, /the same pods, no restarts/);
      assert.doesNotMatch(out, /FALLBACK|STAND-IN/);
      assert.equal(await hostSnapshot(), hostBefore, 'the host is put back');
    } else {
      assert.match(out, /FALLBACK: this machine cannot run a node/);
    }
    assert.match(out, /country\s+mean rtt \(ms\)\s+points/);
    assert.match(out, /unchanged: the pods did not roll/);
    assert.match(out, /network_type\s+mean rtt \(ms\)\s+points\n\s+(Backbone|LastMile|PublicCloud|Wireless)/);
    assert.match(out, /demo complete\./);
    assert.doesNotMatch(out, /\/push\/demo[a-z0-9]/, 'the push token is never printed');
  });
});
