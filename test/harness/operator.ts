/**
 * Runs the operator against the test control plane under exactly the permissions the chart
 * grants (src/operator/rbac.ts, the list the chart is generated from), as its ServiceAccount.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject, getObject } from '../../src/kube/apply.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import { type OperatorOptions, type RunningOperator, runOperator } from '../../src/operator/main.ts';
import { LEADER_ELECTION_RULES, OPERATOR_RULES, toKubeRules } from '../../src/operator/rbac.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { ControlPlane } from './control-plane.ts';

export const TEST_IMAGE = 'registry.example/catchpoint-bridge:test';
const FM = 'test-setup';

/** Creates the operator's ServiceAccount, ClusterRole(Binding) and lease Role in `namespace`. */
export async function installOperatorRbac(plane: ControlPlane, namespace: string): Promise<KubeConfig> {
  const kc = plane.kubeConfig;
  const name = `cpb-operator-${namespace}`;
  const apply = (obj: Record<string, unknown>) => applyObject(kc, obj as never, { fieldManager: FM });
  await apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator', namespace } });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name },
    rules: toKubeRules(OPERATOR_RULES),
  });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace }],
  });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'leases', namespace },
    rules: toKubeRules(LEADER_ELECTION_RULES),
  });
  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'leases', namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace }],
  });
  return plane.kubeConfigForServiceAccount(namespace, 'operator');
}

export async function startOperator(
  kc: KubeConfig,
  options: Partial<OperatorOptions> = {},
): Promise<RunningOperator> {
  return runOperator({
    kc,
    logger: createLogger({ level: process.env.OPERATOR_LOG_LEVEL ?? 'warn' }),
    config: { image: TEST_IMAGE },
    leaderElect: false,
    listen: { host: '127.0.0.1', port: 0 },
    processMetrics: false,
    ...options,
  });
}

/** Polls `read` until `check` holds (returns the last value) or fails after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (v: T) => boolean,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (check(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 2000)} ${lastErr ? `error: ${(lastErr as Error).message}` : ''}`,
  );
}

export async function writeSecret(
  kc: KubeConfig,
  namespace: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  await applyObject(
    kc,
    { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data } as never,
    { fieldManager: FM },
  );
}

export const getBridge = (kc: KubeConfig, namespace: string, name: string) =>
  getObject<{
    metadata: { generation: number; resourceVersion: string };
    status?: {
      observedGeneration?: number;
      conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
      replicasSummary?: string;
      endpoint?: string;
    };
  }>(kc, 'catchpoint-bridge.io/v1alpha1', 'catchpointbridges', namespace, name);

export function condition(cr: Awaited<ReturnType<typeof getBridge>>, type: string) {
  return cr?.status?.conditions?.find((c) => c.type === type);
}

/** Writes the Deployment's status as the controller-manager would (no kubelet here). */
export async function markDeploymentAvailable(
  kc: KubeConfig,
  namespace: string,
  name: string,
  replicas: number,
): Promise<void> {
  const dep = await kubeRequest<{ metadata: { generation: number } }>(kc, {
    path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
  });
  await kubeRequest(kc, {
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        observedGeneration: dep.metadata.generation,
        replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        updatedReplicas: replicas,
        conditions: [
          {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'test',
            lastUpdateTime: new Date().toISOString(),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    },
  });
}
