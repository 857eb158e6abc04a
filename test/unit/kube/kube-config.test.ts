import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { loadKubeConfig, ownNamespace } from '../../../src/kube/kube-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-config-test-'));
const kubeconfig = join(dir, 'config');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://from-file.example:6443'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: from-context}}]
current-context: ctx
`,
);

const VARS = ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'POD_NAMESPACE'] as const;
const saved = Object.fromEntries(VARS.map((name) => [name, process.env[name]]));

function setEnv(values: Partial<Record<(typeof VARS)[number], string>>): void {
  for (const name of VARS) {
    const value = values[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

afterEach(() => setEnv(saved as Partial<Record<(typeof VARS)[number], string>>));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('loadKubeConfig', () => {
  it('uses the in-cluster ServiceAccount when running in a pod without KUBECONFIG', () => {
    setEnv({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    const kc = loadKubeConfig();
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.96.0.1:443');
    assert.equal(kc.getCurrentCluster()?.caFile, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
  });

  it('brackets an IPv6 service host', () => {
    setEnv({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' });
    assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://[fd00::1]:443');
  });

  it('prefers an explicit KUBECONFIG, even in a pod', () => {
    setEnv({ KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://from-file.example:6443');
  });

  it('uses KUBECONFIG outside a pod', () => {
    setEnv({ KUBECONFIG: kubeconfig });
    assert.equal(loadKubeConfig().getCurrentUser()?.token, 't');
  });
});

describe('ownNamespace', () => {
  it('prefers POD_NAMESPACE, then the context namespace', () => {
    setEnv({ KUBECONFIG: kubeconfig });
    const kc = loadKubeConfig();
    assert.equal(ownNamespace(kc), 'from-context');
    process.env.POD_NAMESPACE = 'from-downward-api';
    assert.equal(ownNamespace(kc), 'from-downward-api');
  });
});
