// deploy/: the plain manifests are the chart rendered with its defaults (and not stale), and they,
// like every example in deploy/examples, are accepted by the real API server (server-side dry run:
// schema, CEL rules, RBAC objects and all).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { REPO_ROOT, resolveBinDir } from '../../../scripts/control-plane/binaries.ts';
import { MANIFESTS_NAMESPACE, MANIFESTS_PATH, renderManifests } from '../../../scripts/gen-manifests.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { kubectl, ok, parseObjects } from '../../support/chart.ts';

const EXAMPLES_DIR = join(REPO_ROOT, 'deploy', 'examples');
const examples = (await readdir(EXAMPLES_DIR)).filter((f) => f.endsWith('.yaml')).sort();

let plane: ControlPlane;
before(async () => {
  plane = await sharedControlPlane();
});

describe(MANIFESTS_PATH, () => {
  test('is up to date with the chart (run npm run gen:manifests)', async () => {
    const onDisk = await readFile(join(REPO_ROOT, MANIFESTS_PATH), 'utf8');
    const expected = await renderManifests(join(await resolveBinDir(), 'helm'));
    assert.equal(
      onDisk,
      expected,
      `${MANIFESTS_PATH} is stale: run \`npm run gen:manifests\` and commit the result`,
    );
  });

  test('applies with kubectl apply --server-side --dry-run=server, within the restricted Pod Security Standard', {
    timeout: 120_000,
  }, async () => {
    const kubeconfig = plane.kubeconfigPath;
    const text = await readFile(join(REPO_ROOT, MANIFESTS_PATH), 'utf8');
    const objects = parseObjects(text);
    const [namespace] = objects;
    assert.equal(namespace?.kind, 'Namespace');
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    // A dry run creates nothing, so the namespaced objects need the Namespace for real; its
    // labels make the API server warn about any pod template the restricted profile forbids.
    await ok(
      kubectl(['apply', '-f', '-'], { kubeconfig, input: JSON.stringify(namespace) }),
      'apply namespace',
    );

    const r = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], {
      kubeconfig,
      input: text,
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, objects.length, r.stdout);
    for (const line of lines) assert.match(line, /serverside-applied \(server dry run\)$/);
    assert.doesNotMatch(r.stderr, /PodSecurity/, 'the operator Deployment meets the restricted profile');

    // The check above is live: a pod template without a securityContext draws the warning.
    const unsafe = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'unsafe', namespace: MANIFESTS_NAMESPACE },
      spec: {
        selector: { matchLabels: { app: 'unsafe' } },
        template: {
          metadata: { labels: { app: 'unsafe' } },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      },
    };
    const control = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      kubeconfig,
      input: JSON.stringify(unsafe),
    });
    assert.match(control.stderr, /would violate PodSecurity "restricted/);
  });
});

describe('deploy/examples', () => {
  test('there are examples', () => {
    assert.deepEqual(
      ['full.yaml', 'minimal.yaml', 'seed-compatible.yaml'].filter((f) => !examples.includes(f)),
      [],
    );
  });

  for (const file of examples) {
    test(`${file} applies with kubectl apply --dry-run=server`, { timeout: 120_000 }, async () => {
      const namespace = await plane.createNamespace(`example-${file.replace(/\.yaml$/, '')}`);
      const text = await readFile(join(EXAMPLES_DIR, file), 'utf8');
      const objects = parseObjects(text);
      const out = await ok(
        kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], {
          kubeconfig: plane.kubeconfigPath,
          input: text,
        }),
        `kubectl apply ${file}`,
      );
      const lines = out.trim().split('\n');
      assert.equal(lines.length, objects.length, out);
      for (const line of lines) assert.match(line, /created \(server dry run\)$/);
      assert.ok(
        lines.some((l) => l.startsWith('catchpointbridge.catchpoint-bridge.io/')),
        'the CatchpointBridge was checked',
      );
    });
  }

  test('the API server rejects what the examples must not do (the dry run really validates)', async () => {
    const namespace = await plane.createNamespace('example-invalid');
    const text = await readFile(join(EXAMPLES_DIR, 'minimal.yaml'), 'utf8');
    const broken = text.replace('http://opentsdb.monitoring.svc:4242', 'udp://opentsdb:4242');
    assert.notEqual(broken, text);
    const r = await kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], {
      kubeconfig: plane.kubeconfigPath,
      input: broken,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /endpoints must be http\(s\):\/\/host:port, tcp:\/\/host:port or file:\/\/\/path/);
  });
});
