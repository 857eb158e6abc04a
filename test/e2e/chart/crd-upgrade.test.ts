// The CRD upgrade story, on a control plane that starts without the CRD (as a fresh cluster
// would): the chart installs it, `helm upgrade` to a newer chart updates it (files in a chart's
// crds/ folder would never be upgraded), and `helm uninstall` keeps it and users' objects.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiextensionsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../scripts/control-plane/binaries.ts';
import { buildCrd, CRD_NAME } from '../../../src/api/crd.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../../../src/api/schema.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { CHART_DIR, helm, kubectl, ok } from '../../support/chart.ts';

const RELEASE = 'cpb';
const NODES_COLUMN =
  '        - name: Nodes\n          type: integer\n          jsonPath: .status.bridge.directorySize\n';

let plane: ControlPlane;
let scratch: string;
/** A copy of the chart standing for an older release: its CRD lacks the Nodes printer column. */
let olderChart: string;

before(async () => {
  plane = await sharedControlPlane({ crdDir: null });
  scratch = await mkdtemp(join(tmpdir(), 'chart-older-'));
  olderChart = join(scratch, 'catchpoint-bridge');
  await cp(CHART_DIR, olderChart, { recursive: true });
  const crdTemplate = join(olderChart, 'templates', 'crd.yaml');
  const current = await readFile(crdTemplate, 'utf8');
  assert.ok(current.includes(NODES_COLUMN), 'the CRD template has the Nodes column');
  await writeFile(crdTemplate, current.replace(NODES_COLUMN, ''));
  const chartYaml = join(olderChart, 'Chart.yaml');
  await writeFile(chartYaml, (await readFile(chartYaml, 'utf8')).replace(/^version: .*$/m, 'version: 0.0.1'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function printerColumns(): Promise<string[]> {
  const crd = await plane.kubeConfig
    .makeApiClient(ApiextensionsV1Api)
    .readCustomResourceDefinition({ name: CRD_NAME });
  return crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name) ?? [];
}

describe('crd upgrade', () => {
  it('the chart installs the CRD, helm upgrade updates it, helm uninstall keeps it', {
    timeout: 300_000,
  }, async (t) => {
    const releaseNs = await plane.createNamespace('cpb-system');
    const userNs = await plane.createNamespace('monitoring');
    const kubeconfig = plane.kubeconfigPath;
    const helmIn = (args: string[]) => helm([...args, '--namespace', releaseNs], { kubeconfig });

    await t.test('an older chart installs its CRD', async () => {
      await ok(helmIn(['install', RELEASE, olderChart]), 'helm install (older chart)');
      assert.deepEqual(await printerColumns(), ['Ready', 'Reason', 'Replicas', 'Endpoint', 'Age']);
      const manifest = await readFile(join(REPO_ROOT, 'deploy/examples/minimal.yaml'), 'utf8');
      // The API server needs a moment to serve a new CRD's resource; kubectl retries discovery.
      await waitFor(
        async () =>
          (await kubectl(['apply', '-n', userNs, '-f', '-'], { kubeconfig, input: manifest })).code === 0,
      );
    });

    await t.test('helm upgrade to the current chart updates the CRD to what buildCrd() makes', async () => {
      await ok(helmIn(['upgrade', RELEASE, CHART_DIR]), 'helm upgrade');
      assert.deepEqual(await printerColumns(), ['Ready', 'Reason', 'Replicas', 'Endpoint', 'Nodes', 'Age']);
      // kubectl's JSON is the wire form (client-node's typed model renames x-kubernetes-* fields).
      const live = JSON.parse(
        await ok(kubectl(['get', 'crd', CRD_NAME, '-o', 'json'], { kubeconfig }), 'kubectl get crd'),
      ) as { spec: { versions: Array<{ schema: unknown }> } };
      const expected = buildCrd() as { spec: { versions: Array<{ schema: unknown }> } };
      assert.deepEqual(
        live.spec.versions[0]?.schema,
        expected.spec.versions[0]?.schema,
        'the served schema is the generated one',
      );
      const printed = await ok(kubectl(['get', 'cpb', '-n', userNs], { kubeconfig }), 'kubectl get cpb');
      assert.match(printed, /^NAME\s+READY\s+REASON\s+REPLICAS\s+ENDPOINT\s+NODES\s+AGE/);
      assert.match(printed, /\ndns-perf\s/);
    });

    await t.test('helm uninstall keeps the CRD and the CatchpointBridge', async () => {
      const out = await ok(helmIn(['uninstall', RELEASE]), 'helm uninstall');
      assert.match(
        out,
        /kept due to the resource policy:\s+\[CustomResourceDefinition\] catchpointbridges\.catchpoint-bridge\.io/,
      );
      const cr = await plane.kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        plural: PLURAL,
        namespace: userNs,
        name: 'dns-perf',
      });
      assert.equal((cr as { metadata: { name: string } }).metadata.name, 'dns-perf');
    });

    await t.test('crds.install=false: a release that leaves the CRD to someone else', async () => {
      const otherNs = await plane.createNamespace('cpb-other');
      const out = await ok(
        helm(
          [
            'install',
            'other',
            CHART_DIR,
            '--namespace',
            otherNs,
            '--set',
            'crds.install=false',
            '--set',
            'rbac.aggregateToView=false',
            '--set',
            'rbac.aggregateToEdit=false',
            '--set',
            `watchNamespaces={${userNs}}`,
          ],
          { kubeconfig },
        ),
        'helm install (crds.install=false)',
      );
      assert.match(out, /crds\.install is false/, 'NOTES say where the CRD must come from');
      const manifest = await ok(
        helm(['get', 'manifest', 'other', '--namespace', otherNs], { kubeconfig }),
        'helm get',
      );
      assert.doesNotMatch(manifest, /kind: CustomResourceDefinition/);
      await ok(helm(['uninstall', 'other', '--namespace', otherNs], { kubeconfig }), 'helm uninstall other');
    });
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
