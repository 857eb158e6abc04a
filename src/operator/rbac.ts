/**
 * The operator's permissions, listed once. The chart's ClusterRole and Role are generated from
 * this list (`npm run gen`; a test fails when they are stale), and the integration tests run the
 * operator under exactly these rules, so a missing verb fails a test before it fails a cluster.
 */
import { API_GROUP, PLURAL } from '../api/schema.ts';

export interface PolicyRule {
  /** Why the operator needs it (becomes a comment in the chart). */
  why: string;
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const OWNED = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'];

/** Cluster-wide (or per watched namespace) rules. */
export const OPERATOR_RULES: PolicyRule[] = [
  {
    why: 'watch CatchpointBridges (the primary resource)',
    apiGroups: [API_GROUP],
    resources: [PLURAL],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: 'report conditions, replicas and the endpoint in status',
    apiGroups: [API_GROUP],
    resources: [`${PLURAL}/status`],
    verbs: ['get', 'patch', 'update'],
  },
  {
    why: 'set blockOwnerDeletion owner references on children (OwnerReferencesPermissionEnforcement)',
    apiGroups: [API_GROUP],
    resources: [`${PLURAL}/finalizers`],
    verbs: ['update'],
  },
  {
    why: 'watch Secret metadata only (never their data) to react when a referenced Secret appears; get to check its keys',
    apiGroups: [''],
    resources: ['secrets'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: 'grant a bridge read access to the ConfigMap holding its TSDB CA bundle (RBAC lets the operator grant only what it holds)',
    apiGroups: [''],
    resources: ['configmaps'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: "the bridge's ServiceAccount and push Service",
    apiGroups: [''],
    resources: ['serviceaccounts', 'services'],
    verbs: OWNED,
  },
  {
    why: "the bridge's Role and RoleBinding (resourceNames-scoped; the operator holds every permission it grants)",
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['roles', 'rolebindings'],
    verbs: OWNED,
  },
  { why: "the bridge's Deployment", apiGroups: ['apps'], resources: ['deployments'], verbs: OWNED },
  {
    why: "the bridge's StatefulSet (spool on claims)",
    apiGroups: ['apps'],
    resources: ['statefulsets'],
    verbs: OWNED,
  },
  {
    why: 'a PodDisruptionBudget when the bridge runs more than one replica',
    apiGroups: ['policy'],
    resources: ['poddisruptionbudgets'],
    verbs: OWNED,
  },
  {
    why: 'a HorizontalPodAutoscaler when spec.deployment.autoscaling is set',
    apiGroups: ['autoscaling'],
    resources: ['horizontalpodautoscalers'],
    verbs: OWNED,
  },
  {
    why: 'an Ingress for the push endpoint when spec.deployment.ingress is set',
    apiGroups: ['networking.k8s.io'],
    resources: ['ingresses'],
    verbs: OWNED,
  },
  {
    why: 'Events on Ready transitions, shown by kubectl describe',
    apiGroups: ['', 'events.k8s.io'],
    resources: ['events'],
    verbs: ['create', 'patch'],
  },
];

/** Rules in the operator's own namespace only. */
export const LEADER_ELECTION_RULES: PolicyRule[] = [
  {
    why: 'leader election: one active operator among replicas',
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['get', 'create', 'update'],
  },
];

/** Without the `why`, as a Kubernetes PolicyRule. */
export function toKubeRules(rules: readonly PolicyRule[]): Array<Omit<PolicyRule, 'why'>> {
  return rules.map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs }));
}
