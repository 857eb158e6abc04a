/**
 * Desired state of a CatchpointBridge's children, as pure functions: (CR, operator config,
 * referenced Secret names) → manifests. No I/O, clock or env; the input is never mutated.
 *
 * What a running bridge can change by itself (dimensions, measurements, naming, TSDB endpoints,
 * tokens, credentials: it watches its CR and Secrets) stays OUT of the pod template, so editing
 * the CR does not roll the pods. Only what a process cannot change lives in the template: image,
 * resources, the spool volume, security settings.
 */
import { referencedConfigMaps } from '../../api/references.ts';
import { API_GROUP, API_VERSION, KIND, PLURAL } from '../../api/schema.ts';
import { defaultSpoolVolumeBytes } from '../../api/spool-volume.ts';
import type { CatchpointBridge } from '../../api/types.ts';
import { namespaceOf } from '../../kube/resources.ts';
import { formatQuantity, parseQuantity } from '../../shared/duration.ts';

export const FIELD_MANAGER = 'catchpoint-bridge-operator';
export const BRIDGE_PORT = 8080;
export const SPOOL_MOUNT = '/var/lib/catchpoint-bridge/spool';
/** Bridge processes run as this non-root UID (the image's user, too). */
export const BRIDGE_UID = 10001;

export interface OperatorConfig {
  /** Image of the bridge (the operator's own image: one image, one CLI). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
} & Record<string, unknown>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

/** The kinds a CatchpointBridge owns, in apply order (RBAC before the pods that need it). */
export const CHILD_KINDS = [
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', plural: 'ingresses' },
] as const;

export type ChildKind = (typeof CHILD_KINDS)[number]['kind'];

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'catchpoint-bridge-operator';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';

/** Name of every child object. The CRD limits CR names so the prefix keeps them valid. */
export function childName(cr: CatchpointBridge): string {
  return `cpb-${cr.metadata.name}`;
}

export function selectorLabels(cr: CatchpointBridge): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'catchpoint-bridge',
    [INSTANCE_LABEL]: cr.metadata.name,
    'app.kubernetes.io/component': 'bridge',
  };
}

function labels(cr: CatchpointBridge): Record<string, string> {
  return { ...selectorLabels(cr), [MANAGED_BY_LABEL]: MANAGED_BY };
}

function meta(cr: CatchpointBridge, name = childName(cr)): Manifest['metadata'] {
  return {
    name,
    namespace: namespaceOf(cr),
    labels: labels(cr),
    ownerReferences: [
      {
        apiVersion: `${API_GROUP}/${API_VERSION}`,
        kind: KIND,
        name: cr.metadata.name,
        uid: cr.metadata.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

/** Replicas the bridge runs with at least (HPA minimum when autoscaled). */
export function minimumReplicas(cr: CatchpointBridge): number {
  const d = cr.spec.deployment;
  return d.autoscaling ? d.autoscaling.minReplicas : d.replicas;
}

export function serviceAccount(cr: CatchpointBridge): Manifest {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(cr), automountServiceAccountToken: true };
}

/**
 * The bridge reads exactly its own CatchpointBridge and the Secrets (and the CA bundle's
 * ConfigMap) it references, by name (resourceNames; the bridge watches with
 * fieldSelector=metadata.name=<name>), and writes only its report into the CR's status.
 */
export function role(cr: CatchpointBridge, secretNames: readonly string[]): Manifest {
  const configMaps = referencedConfigMaps(cr.spec);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(cr),
    rules: [
      {
        apiGroups: [API_GROUP],
        resources: [PLURAL],
        resourceNames: [cr.metadata.name],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: [API_GROUP],
        resources: [`${PLURAL}/status`],
        resourceNames: [cr.metadata.name],
        verbs: ['get', 'patch'],
      },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [...secretNames].sort(),
        verbs: ['get', 'list', 'watch'],
      },
      // Only when there is one: an empty resourceNames would grant every ConfigMap.
      ...(configMaps.length === 0
        ? []
        : [
            {
              apiGroups: [''],
              resources: ['configmaps'],
              resourceNames: configMaps,
              verbs: ['get', 'list', 'watch'],
            },
          ]),
    ],
  };
}

export function roleBinding(cr: CatchpointBridge): Manifest {
  const name = childName(cr);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(cr),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: namespaceOf(cr) }],
  };
}

export function service(cr: CatchpointBridge): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cr),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cr),
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/** Whether the spool is on a claim per replica (a StatefulSet) rather than an emptyDir (a Deployment). */
export function spoolOnClaim(cr: CatchpointBridge): boolean {
  return cr.spec.spool.storage.type === 'persistentVolumeClaim';
}

/** The kind that runs the bridge pods: a StatefulSet when the spool is on claims. */
export function workloadKind(cr: CatchpointBridge): 'Deployment' | 'StatefulSet' {
  return spoolOnClaim(cr) ? 'StatefulSet' : 'Deployment';
}

/** The bridge pods' workload: a Deployment, or a StatefulSet with one spool claim per replica. */
export function workload(cr: CatchpointBridge, config: OperatorConfig): Manifest {
  return spoolOnClaim(cr) ? statefulSet(cr, config) : deployment(cr, config);
}

export function deployment(cr: CatchpointBridge, config: OperatorConfig): Manifest {
  const spec: Record<string, unknown> = {
    selector: { matchLabels: selectorLabels(cr) },
    // New pods must be ready before old ones go: pushes keep being acknowledged during a roll.
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: podTemplate(cr, config, [{ name: 'spool', emptyDir: { sizeLimit: spoolVolumeSize(cr) } }]),
  };
  // With an HPA the replica count is the HPA's: leaving the field out of our apply means we
  // never fight it (server-side apply only owns what we send).
  if (!cr.spec.deployment.autoscaling) spec.replicas = cr.spec.deployment.replicas;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(cr), spec };
}

/**
 * With the spool on claims: pod i always mounts claim `spool-<child>-i`, so a deleted pod comes
 * back to its own spool. Claims are retained when the set scales down (a removed replica hands
 * its spool to a peer on the way out, and anything it could not hand over is there again when it
 * comes back) and when the CatchpointBridge is deleted (a CatchpointBridge created again with the
 * same name delivers what was left; delete the claims by label to drop them).
 */
export function statefulSet(cr: CatchpointBridge, config: OperatorConfig): Manifest {
  const claim = cr.spec.spool.storage.persistentVolumeClaim;
  const spec: Record<string, unknown> = {
    selector: { matchLabels: selectorLabels(cr) },
    serviceName: childName(cr),
    // Replicas are peers, not a sequence: start and stop them all at once.
    podManagementPolicy: 'Parallel',
    updateStrategy: { type: 'RollingUpdate' },
    persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
    template: podTemplate(cr, config, []),
    volumeClaimTemplates: [
      {
        metadata: { name: 'spool', labels: labels(cr) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(claim?.storageClassName === undefined ? {} : { storageClassName: claim.storageClassName }),
          resources: { requests: { storage: claim?.size ?? spoolVolumeSize(cr) } },
        },
      },
    ],
  };
  if (!cr.spec.deployment.autoscaling) spec.replicas = cr.spec.deployment.replicas;
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta(cr), spec };
}

function podTemplate(
  cr: CatchpointBridge,
  config: OperatorConfig,
  volumes: unknown[],
): Record<string, unknown> {
  const d = cr.spec.deployment;
  const namespace = namespaceOf(cr);
  return {
    metadata: { labels: labels(cr) },
    spec: {
      serviceAccountName: childName(cr),
      automountServiceAccountToken: true,
      // Time to deliver what the spool holds before the pod (and its emptyDir) goes:
      // 5 s shutdown delay + 40 s drain + 10 s handoff, with room to spare.
      terminationGracePeriodSeconds: 60,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: BRIDGE_UID,
        runAsGroup: BRIDGE_UID,
        fsGroup: BRIDGE_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: selectorLabels(cr) },
        },
      ],
      containers: [
        {
          name: 'bridge',
          image: config.image,
          imagePullPolicy: config.imagePullPolicy ?? 'IfNotPresent',
          args: [
            'bridge',
            '--resource',
            `${namespace}/${cr.metadata.name}`,
            '--listen',
            `0.0.0.0:${BRIDGE_PORT}`,
            '--spool-dir',
            SPOOL_MOUNT,
            // Deliver for up to 40 s on shutdown, then hand what is left to another replica
            // through the Service: the emptyDir spool goes with the pod.
            // First 5 s out of the Service's endpoints while still taking pushes (kube-proxy
            // learns of the deletion when the pod does), then 503 with Retry-After.
            '--shutdown-delay',
            '5',
            '--drain',
            '40',
            '--handoff-url',
            `http://${childName(cr)}.${namespace}.svc`,
          ],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          ],
          ports: [{ name: 'http', containerPort: BRIDGE_PORT, protocol: 'TCP' }],
          livenessProbe: {
            httpGet: { path: '/healthz', port: 'http' },
            periodSeconds: 10,
            failureThreshold: 3,
          },
          readinessProbe: {
            httpGet: { path: '/readyz', port: 'http' },
            periodSeconds: 5,
            failureThreshold: 2,
          },
          resources: d.resources,
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            privileged: false,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [{ name: 'spool', mountPath: SPOOL_MOUNT }],
        },
      ],
      ...(volumes.length === 0 ? {} : { volumes }),
    },
  };
}

/**
 * The spool emptyDir's sizeLimit: spec.deployment.spoolVolumeSize (the CRD refuses one smaller
 * than spool.maxBytes plus the headroom), or when unset 1Gi or that sum if larger. Past the limit
 * the kubelet evicts the pod, and the spool goes with it.
 */
export function spoolVolumeSize(cr: CatchpointBridge): string {
  return (
    cr.spec.deployment.spoolVolumeSize ??
    formatQuantity(defaultSpoolVolumeBytes(parseQuantity(cr.spec.spool.maxBytes)))
  );
}

export function podDisruptionBudget(cr: CatchpointBridge): Manifest | undefined {
  if (minimumReplicas(cr) < 2) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(cr),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cr) } },
  };
}

export function horizontalPodAutoscaler(cr: CatchpointBridge): Manifest | undefined {
  const a = cr.spec.deployment.autoscaling;
  if (!a) return undefined;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(cr),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: workloadKind(cr), name: childName(cr) },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage },
          },
        },
      ],
    },
  };
}

export function ingress(cr: CatchpointBridge): Manifest | undefined {
  const i = cr.spec.deployment.ingress;
  if (!i) return undefined;
  const spec: Record<string, unknown> = {
    rules: [
      {
        host: i.host,
        http: {
          paths: [
            {
              path: '/push',
              pathType: 'Prefix',
              backend: { service: { name: childName(cr), port: { name: 'http' } } },
            },
          ],
        },
      },
    ],
  };
  if (i.className !== undefined) spec.ingressClassName = i.className;
  if (i.tlsSecretName !== undefined) spec.tls = [{ hosts: [i.host], secretName: i.tlsSecretName }];
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta(cr), spec };
}

/**
 * The push URL users give Catchpoint. With a token it is /push, the token going in a header
 * (Authorization: Bearer, or push.tokenHeader), so no secret is in the URL; without one, /.
 */
export function endpointUrl(cr: CatchpointBridge): string {
  const i = cr.spec.deployment.ingress;
  const path = cr.spec.push.tokenSecretRef === undefined ? '/' : '/push';
  if (i) return `${i.tlsSecretName ? 'https' : 'http'}://${i.host}${path}`;
  return `http://${childName(cr)}.${namespaceOf(cr)}.svc${path}`;
}

export interface DesiredChildren {
  /** Objects to apply, in order. */
  apply: Manifest[];
  /** Kinds that must not exist (a PDB, HPA or Ingress no longer asked for; the other workload kind). */
  absent: ChildKind[];
}

export function desiredChildren(
  cr: CatchpointBridge,
  config: OperatorConfig,
  secretNames: readonly string[],
): DesiredChildren {
  const optional: Array<[ChildKind, Manifest | undefined]> = [
    ['PodDisruptionBudget', podDisruptionBudget(cr)],
    ['HorizontalPodAutoscaler', horizontalPodAutoscaler(cr)],
    ['Ingress', ingress(cr)],
  ];
  return {
    apply: [
      serviceAccount(cr),
      role(cr, secretNames),
      roleBinding(cr),
      service(cr),
      workload(cr, config),
      ...optional.flatMap(([, m]) => (m ? [m] : [])),
    ],
    absent: [
      spoolOnClaim(cr) ? 'Deployment' : 'StatefulSet',
      ...optional.filter(([, m]) => m === undefined).map(([k]) => k),
    ],
  };
}
