// A real `helm install`, `helm upgrade` and `helm uninstall` against a real kube-apiserver (no
// kubelet: pods never run, so nothing waits for them). The harness has already installed the CRD
// from crds/, as `kubectl apply -f crds/` would have: the chart's CRD template must take it over
// (helm install --take-ownership; add --force-conflicts when the CRD that is there differs from
// the chart's), and leave it, with users' CatchpointBridges, on uninstall. crd-upgrade.test.ts
// covers a CRD that only the chart ever managed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../scripts/control-plane/binaries.ts';
import { CRD_NAME } from '../../../src/api/crd.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../../../src/api/schema.ts';
import { OPERATOR_RULES, toKubeRules } from '../../../src/operator/rbac.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import { CHART_DIR, helm, kubectl, ok } from '../../support/chart.ts';

const RELEASE = 'cpb';
const FULLNAME = 'cpb-catchpoint-bridge';

let plane: ControlPlane;
let kubeconfig: string;
let releaseNs: string;
let userNs: string;

before(async () => {
  plane = await sharedControlPlane();
  kubeconfig = plane.kubeconfigPath;
  releaseNs = await plane.createNamespace('cpb-system');
  userNs = await plane.createNamespace('monitoring');
});

function helmIn(args: string[]) {
  return helm([...args, '--namespace', releaseNs], { kubeconfig });
}

async function deploymentReplicas(): Promise<number | undefined> {
  const apps = plane.kubeConfig.makeApiClient(AppsV1Api);
  const deployment = await apps.readNamespacedDeployment({ name: FULLNAME, namespace: releaseNs });
  return deployment.spec?.replicas;
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

describe('install', () => {
  it('install, upgrade, uninstall: the CRD is taken over, upgraded with the chart and kept', {
    timeout: 300_000,
  }, async (t) => {
    const crds = plane.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const rbac = plane.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const objects = plane.kubeConfig.makeApiClient(CustomObjectsApi);

    await t.test(
      'a bad value is refused by helm install with the schema message, and nothing is installed',
      async () => {
        const r = await helmIn(['install', RELEASE, CHART_DIR, '--set', 'operator.replicas=-1']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /values don't meet the specifications of the schema/);
        assert.match(r.stderr, /\/operator\/replicas.*minimum/);
        const list = await helmIn(['list', '--all', '--short']);
        assert.equal(list.stdout.trim(), '');
      },
    );

    await t.test('without --take-ownership, the CRD that kubectl installed blocks the install', async () => {
      const r = await helmIn(['install', RELEASE, CHART_DIR]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /CustomResourceDefinition.*catchpointbridges\.catchpoint-bridge\.io/s);
      assert.match(
        r.stderr,
        /exists and cannot be imported into the current release: invalid ownership metadata/,
      );
      // Whatever the failed attempt recorded, clear it so the next install starts clean.
      await helmIn(['uninstall', RELEASE, '--ignore-not-found']);
    });

    await t.test('helm install --take-ownership', async () => {
      const out = await ok(helmIn(['install', RELEASE, CHART_DIR, '--take-ownership']), 'helm install');
      assert.match(out, /STATUS: deployed/);
      assert.match(out, /kubectl .*get cpb/, 'NOTES tell the next step');
      assert.equal(await deploymentReplicas(), 2);
      const crd = await crds.readCustomResourceDefinition({ name: CRD_NAME });
      assert.equal(crd.metadata?.annotations?.['helm.sh/resource-policy'], 'keep');
      assert.equal(crd.metadata?.annotations?.['meta.helm.sh/release-name'], RELEASE);
      const role = await rbac.readClusterRole({ name: FULLNAME });
      assert.deepEqual(
        role.rules?.map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs })),
        toKubeRules(OPERATOR_RULES),
      );
    });

    await t.test("the operator's ServiceAccount holds exactly what the code needs", async () => {
      const sa = `system:serviceaccount:${releaseNs}:${FULLNAME}`;
      const canI = async (...args: string[]) =>
        (await kubectl(['auth', 'can-i', ...args, '--as', sa], { kubeconfig })).stdout.trim();
      assert.equal(await canI('watch', 'catchpointbridges.catchpoint-bridge.io', '--all-namespaces'), 'yes');
      assert.equal(
        await canI('patch', 'catchpointbridges.catchpoint-bridge.io', '--subresource=status', '-n', userNs),
        'yes',
      );
      assert.equal(await canI('create', 'deployments.apps', '-n', userNs), 'yes');
      assert.equal(await canI('update', 'leases.coordination.k8s.io', '-n', releaseNs), 'yes');
      assert.equal(await canI('update', 'leases.coordination.k8s.io', '-n', userNs), 'no');
      assert.equal(await canI('create', 'secrets', '-n', userNs), 'no');
      assert.equal(await canI('update', 'catchpointbridges.catchpoint-bridge.io', '-n', userNs), 'no');
      assert.equal(await canI('create', 'customresourcedefinitions.apiextensions.k8s.io'), 'no');
    });

    await t.test('a user applies a CatchpointBridge (deploy/examples/minimal.yaml)', async () => {
      const manifest = await readFile(join(REPO_ROOT, 'deploy/examples/minimal.yaml'), 'utf8');
      await ok(kubectl(['apply', '-n', userNs, '-f', '-'], { kubeconfig, input: manifest }), 'kubectl apply');
      const got = await ok(
        kubectl(['get', 'cpb', '-n', userNs, '-o', 'name'], { kubeconfig }),
        'kubectl get cpb',
      );
      assert.equal(got.trim(), 'catchpointbridge.catchpoint-bridge.io/dns-perf');
    });

    await t.test('an operator running as the installed ServiceAccount reconciles it', async () => {
      // No kubelet here: run the operator the chart deployed as a local process, with a token of
      // the chart's own ServiceAccount, so the chart's RBAC is what it runs under.
      const saKubeconfig = await plane.kubeconfigFileForServiceAccount(releaseNs, FULLNAME);
      const operator = spawn(
        process.execPath,
        [
          join(REPO_ROOT, 'src/cli.ts'),
          'operator',
          '--image',
          'img:e2e',
          '--lease-namespace',
          releaseNs,
          '--listen-metrics',
          '127.0.0.1:0',
        ],
        { env: { ...process.env, KUBECONFIG: saKubeconfig, LOG_LEVEL: 'warn' }, stdio: 'ignore' },
      );
      try {
        const custom = plane.kubeConfig.makeApiClient(CustomObjectsApi);
        const deadline = Date.now() + 30_000;
        let conditions: Array<{ type: string; status: string }> = [];
        while (Date.now() < deadline) {
          const cr = (await custom.getNamespacedCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            namespace: userNs,
            plural: PLURAL,
            name: 'dns-perf',
          })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
          conditions = cr.status?.conditions ?? [];
          if (conditions.some((c) => c.type === 'Reconciled' && c.status === 'True')) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(
          conditions.some((c) => c.type === 'Reconciled' && c.status === 'True'),
          `not reconciled: ${JSON.stringify(conditions)}`,
        );
        const apps = plane.kubeConfig.makeApiClient(AppsV1Api);
        const bridge = await apps.readNamespacedDeployment({ name: 'cpb-dns-perf', namespace: userNs });
        assert.equal(bridge.spec?.template.spec?.containers[0]?.image, 'img:e2e');
      } finally {
        operator.kill('SIGTERM');
      }
    });

    await t.test('helm upgrade with a changed value changes the Deployment', async () => {
      const out = await ok(
        helmIn(['upgrade', RELEASE, CHART_DIR, '--set', 'operator.replicas=3']),
        'helm upgrade',
      );
      assert.match(out, /REVISION: 2/);
      assert.equal(await deploymentReplicas(), 3);
    });

    await t.test('helm upgrade refuses a bad value and leaves the release as it was', async () => {
      const r = await helmIn(['upgrade', RELEASE, CHART_DIR, '--set', 'surprise=1']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /additional properties 'surprise' not allowed/);
      assert.equal(await deploymentReplicas(), 3);
      const history = await ok(helmIn(['history', RELEASE, '-o', 'json']), 'helm history');
      assert.equal((JSON.parse(history) as unknown[]).length, 2);
    });

    await t.test(
      'helm uninstall removes the operator and keeps the CRD and the CatchpointBridge',
      async () => {
        const out = await helmIn(['uninstall', RELEASE]);
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /kept due to the resource policy/);
        assert.equal(
          await exists(() =>
            plane.kubeConfig
              .makeApiClient(AppsV1Api)
              .readNamespacedDeployment({ name: FULLNAME, namespace: releaseNs }),
          ),
          false,
        );
        assert.equal(await exists(() => rbac.readClusterRole({ name: FULLNAME })), false);
        assert.equal(await exists(() => crds.readCustomResourceDefinition({ name: CRD_NAME })), true);
        const cr = await objects.getNamespacedCustomObject({
          group: API_GROUP,
          version: API_VERSION,
          plural: PLURAL,
          namespace: userNs,
          name: 'dns-perf',
        });
        assert.equal((cr as { metadata: { name: string } }).metadata.name, 'dns-perf');
      },
    );

    await t.test(
      'installing the same release again adopts the kept CRD without --take-ownership',
      async () => {
        await ok(
          helmIn(['install', RELEASE, CHART_DIR, '--set', 'operator.replicas=1']),
          'helm install (again)',
        );
        assert.equal(await deploymentReplicas(), 1);
        await ok(helmIn(['uninstall', RELEASE]), 'helm uninstall');
        assert.equal(await exists(() => crds.readCustomResourceDefinition({ name: CRD_NAME })), true);
      },
    );
  });
});
