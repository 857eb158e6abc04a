/**
 * Server-side apply (SSA) and reads of arbitrary objects, as raw JSON.
 *
 * SSA needs `Content-Type: application/apply-patch+yaml` (JSON is valid YAML) plus `fieldManager`;
 * client-node's typed patch methods default to json-patch, which is the classic trap. The apply
 * body is an "apply configuration": only the fields this manager has an opinion about. Fields the
 * manager set before and now omits are removed; fields other managers own are left alone.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { isNotFound, KubeError } from './errors.ts';
import { kubeRequest } from './request.ts';
import { resolveResource, resourcePath } from './resources.ts';

export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface ApplyOptions {
  /** Owner of the applied fields; one constant per component (e.g. `catchpoint-operator`). */
  fieldManager: string;
  /** Take over fields other managers own (controllers must: nobody can resolve conflicts). Default true. */
  force?: boolean;
  /** Validate and default on the server without persisting. */
  dryRun?: boolean;
  /** Unknown or duplicate fields: `Strict` fails, `Warn` (server default) and `Ignore` drop them. */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  signal?: AbortSignal;
}

/**
 * Applies a namespaced or cluster-scoped object and returns the live object. Namespaced objects
 * must carry `metadata.namespace` (no silent fallback to the kubeconfig's default namespace).
 */
export async function applyObject<T extends object = KubeObject>(
  kc: KubeConfig,
  obj: KubeObject,
  options: ApplyOptions,
): Promise<T> {
  const { apiVersion, kind, metadata } = obj;
  if (!apiVersion || !kind || !metadata?.name) {
    throw new KubeError('CPB_ERR_KUBE_BAD_OBJECT', 'apply needs apiVersion, kind and metadata.name');
  }
  const resource = await resolveResource(kc, apiVersion, kind, options.signal);
  if (resource.namespaced && !metadata.namespace) {
    throw new KubeError(
      'CPB_ERR_KUBE_BAD_OBJECT',
      `${kind} ${metadata.name} is namespaced: set metadata.namespace`,
    );
  }
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: resourcePath({
      apiVersion,
      plural: resource.plural,
      namespace: resource.namespaced ? metadata.namespace : undefined,
      name: metadata.name,
    }),
    query: applyQuery(options),
    contentType: APPLY_PATCH_CONTENT_TYPE,
    body: obj,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export interface StatusTarget {
  apiVersion: string;
  kind: string;
  /** Resource plural, e.g. `catchpointbridges` (given, so status writes need no discovery). */
  plural: string;
  /** Omit for cluster-scoped resources. */
  namespace?: string;
  name: string;
  /** The status fields this manager owns; others' fields stay as they are. */
  status: Record<string, unknown>;
}

/**
 * Applies only the status subresource (`PATCH …/<plural>/<name>/status`). The spec is never
 * touched, even by accident: the server ignores non-status fields on this path. Returns the live
 * object; a missing object is a 404 KubeApiError (status apply does not create).
 */
export async function applyStatus<T extends object = KubeObject>(
  kc: KubeConfig,
  target: StatusTarget,
  options: ApplyOptions,
): Promise<T> {
  const metadata =
    target.namespace === undefined
      ? { name: target.name }
      : { name: target.name, namespace: target.namespace };
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path: resourcePath({ ...target, subresource: 'status' }),
    query: applyQuery(options),
    contentType: APPLY_PATCH_CONTENT_TYPE,
    body: { apiVersion: target.apiVersion, kind: target.kind, metadata, status: target.status },
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * Reads one object; `undefined` when it does not exist. `kindOrPlural` is resolved by discovery.
 * Pass `namespace: undefined` for cluster-scoped kinds.
 */
export async function getObject<T extends object = KubeObject>(
  kc: KubeConfig,
  apiVersion: string,
  kindOrPlural: string,
  namespace: string | undefined,
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<T | undefined> {
  const resource = await resolveResource(kc, apiVersion, kindOrPlural, options.signal);
  if (resource.namespaced && !namespace) {
    throw new KubeError(
      'CPB_ERR_KUBE_BAD_OBJECT',
      `${resource.kind} ${name} is namespaced: pass a namespace`,
    );
  }
  try {
    return await kubeRequest<T>(kc, {
      path: resourcePath({
        apiVersion,
        plural: resource.plural,
        namespace: resource.namespaced ? namespace : undefined,
        name,
      }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function applyQuery(options: ApplyOptions): Record<string, string | boolean | undefined> {
  return {
    fieldManager: options.fieldManager,
    force: options.force ?? true,
    dryRun: options.dryRun ? 'All' : undefined,
    fieldValidation: options.fieldValidation,
  };
}
