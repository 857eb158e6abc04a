// Smoke tests of the test control plane: it is a real kube-apiserver (storage, RBAC, CEL, version
// stamp), and the harness helpers (namespaces, ServiceAccount identities, kubeconfig files) work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';

const execFileAsync = promisify(execFile);

// The project's own CRDs are covered by project-crds.test.ts; this file tests the plane itself.
const options = { crdDir: null };

let plane: ControlPlane;

before(async () => {
  plane = await sharedControlPlane(options);
});

describe('control plane smoke', () => {
  test('/version reports the stamped Kubernetes version', async () => {
    const version = await plane.kubeConfig.makeApiClient(VersionApi).getCode();
    assert.equal(version.gitVersion, 'v1.36.3');
    assert.equal(version.minor, '36');
  });

  test('stores a Secret and a Deployment in a fresh namespace and lists them back', async () => {
    const namespace = await plane.createNamespace('smoke-store');
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    const apps = plane.kubeConfig.makeApiClient(AppsV1Api);

    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'credentials' }, stringData: { token: 's3cret' } },
    });
    await apps.createNamespacedDeployment({ namespace, body: deployment('web') });

    const secrets = await core.listNamespacedSecret({ namespace });
    assert.deepEqual(
      secrets.items.map((secret) => secret.metadata?.name),
      ['credentials'],
    );
    assert.equal(Buffer.from(secrets.items[0]?.data?.token ?? '', 'base64').toString(), 's3cret');
    const deployments = await apps.listNamespacedDeployment({ namespace });
    assert.deepEqual(
      deployments.items.map((item) => item.metadata?.name),
      ['web'],
    );
    assert.equal(deployments.items[0]?.spec?.template.spec?.containers[0]?.image, 'registry.invalid/web:1');
  });

  test('namespaces from createNamespace are unique and valid DNS labels', async () => {
    const [first, second] = await Promise.all([
      plane.createNamespace('Smoke_Unique'),
      plane.createNamespace('Smoke_Unique'),
    ]);
    assert.notEqual(first, second);
    assert.match(first, /^smoke-unique-[0-9a-f]{8}$/);
  });

  test('a ServiceAccount without a RoleBinding is forbidden by RBAC, and allowed once bound', async () => {
    const namespace = await plane.createNamespace('smoke-rbac');
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
    const asServiceAccount = (await plane.kubeConfigForServiceAccount(namespace, 'nobody')).makeApiClient(
      CoreV1Api,
    );

    const status = await apiFailure(asServiceAccount.listNamespacedSecret({ namespace }));
    assert.equal(status.code, 403);
    // The message names the authenticated user: proof that the token identifies the ServiceAccount
    // (an anonymous or admin request would fail differently or succeed).
    assert.match(
      status.message,
      new RegExp(`"system:serviceaccount:${namespace}:nobody" cannot list resource "secrets"`),
    );

    await grantSecretReader(namespace, 'nobody');
    const secrets = await asServiceAccount.listNamespacedSecret({ namespace });
    assert.deepEqual(secrets.items, []);
  });

  test('a CRD CEL validation rule rejects a bad object with the apiserver message', async () => {
    await plane.installCrds([widgetCrd]);
    const namespace = await plane.createNamespace('smoke-cel');
    const objects = plane.kubeConfig.makeApiClient(CustomObjectsApi);
    const create = (name: string, spec: { replicas: number; maxReplicas: number }) =>
      objects.createNamespacedCustomObject({
        group: 'smoke.test.io',
        version: 'v1',
        namespace,
        plural: 'widgets',
        body: { apiVersion: 'smoke.test.io/v1', kind: 'Widget', metadata: { name }, spec },
      });

    await create('good', { replicas: 2, maxReplicas: 3 });
    const status = await apiFailure(create('bad', { replicas: 5, maxReplicas: 3 }));
    assert.equal(status.code, 422);
    assert.match(
      status.message,
      /^Widget\.smoke\.test\.io "bad" is invalid: spec: .*replicas must not exceed maxReplicas$/,
    );
  });

  test('the admin kubeconfig file works for kubectl', async () => {
    const namespace = await plane.createNamespace('smoke-kubectl');
    const { stdout } = await kubectl(plane.kubeconfigPath, ['get', 'namespace', namespace, '-o', 'name']);
    assert.equal(stdout.trim(), `namespace/${namespace}`);
  });

  test('a ServiceAccount kubeconfig file makes kubectl act as that ServiceAccount', async () => {
    const namespace = await plane.createNamespace('smoke-sa-file');
    await plane.kubeConfig
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'robot' } } });
    const path = await plane.kubeconfigFileForServiceAccount(namespace, 'robot');

    const { stdout } = await kubectl(path, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(stdout, `system:serviceaccount:${namespace}:robot`);
  });
});

function deployment(name: string) {
  const labels = { app: name };
  return {
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        // Never pulled: there is no kubelet, so the Deployment is only stored and validated.
        spec: { containers: [{ name, image: 'registry.invalid/web:1' }] },
      },
    },
  };
}

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.smoke.test.io' },
  spec: {
    group: 'smoke.test.io',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['replicas', 'maxReplicas'],
                properties: { replicas: { type: 'integer' }, maxReplicas: { type: 'integer' } },
                'x-kubernetes-validations': [
                  {
                    rule: 'self.replicas <= self.maxReplicas',
                    message: 'replicas must not exceed maxReplicas',
                  },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

async function grantSecretReader(namespace: string, serviceAccount: string): Promise<void> {
  const rbac = plane.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'secret-reader' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'secret-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    },
  });
}

/** Awaits a call that must fail with an API error; returns its HTTP code and the Status message. */
async function apiFailure(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
    // client-node leaves the body as the raw JSON of the Status object.
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    const message =
      typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : '';
    return { code: err.code, message };
  }
  assert.fail('expected the API call to fail');
}

function kubectl(kubeconfig: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(join(plane.binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args]);
}
