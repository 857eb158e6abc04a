/**
 * Maps apiVersion + kind to the REST path of a resource (a tiny RESTMapper), using API discovery
 * (`GET /api/v1`, `GET /apis/<group>/<version>`), cached per KubeConfig and group-version.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { isNotFound, KubeError } from './errors.ts';
import { kubeRequest } from './request.ts';

export interface ResourceInfo {
  apiVersion: string;
  kind: string;
  /** Lower-case plural, the path segment: `deployments`, `catchpointbridges`. */
  plural: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

interface CacheEntry {
  fetchedAt: number;
  resources: Promise<ResourceInfo[]>;
}

// A kind that is missing may be a CRD installed a moment ago; refetch, but at most this often.
const MISS_REFRESH_MS = 5_000;

const cache = new WeakMap<KubeConfig, Map<string, CacheEntry>>();

/** The collection path of a group-version: `/api/v1` for the core group, else `/apis/<group>/<version>`. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The namespace of a namespaced object, or `default` when its metadata names none (as kubectl). */
export function namespaceOf(obj: { metadata: { namespace?: string | undefined } }): string {
  return obj.metadata.namespace ?? 'default';
}

export interface ResourcePathParts {
  apiVersion: string;
  plural: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/** `/apis/g/v/namespaces/ns/plural/name/subresource`, each segment URL-encoded. */
export function resourcePath(parts: ResourcePathParts): string {
  let path = groupVersionPath(parts.apiVersion);
  if (parts.namespace) path += `/namespaces/${encodeURIComponent(parts.namespace)}`;
  path += `/${parts.plural}`;
  if (parts.name !== undefined) path += `/${encodeURIComponent(parts.name)}`;
  if (parts.subresource !== undefined) path += `/${parts.subresource}`;
  return path;
}

/** Looks up a kind (or its plural) in discovery; throws UNKNOWN_KIND when the server does not serve it. */
export async function resolveResource(
  kc: KubeConfig,
  apiVersion: string,
  kindOrPlural: string,
  signal?: AbortSignal,
): Promise<ResourceInfo> {
  let byVersion = cache.get(kc);
  if (byVersion === undefined) {
    byVersion = new Map();
    cache.set(kc, byVersion);
  }
  let entry = byVersion.get(apiVersion);
  let found = entry ? find(await settle(byVersion, apiVersion, entry), kindOrPlural) : undefined;
  if (
    found === undefined &&
    (entry === undefined || performance.now() - entry.fetchedAt >= MISS_REFRESH_MS)
  ) {
    entry = { fetchedAt: performance.now(), resources: fetchResources(kc, apiVersion, signal) };
    byVersion.set(apiVersion, entry);
    found = find(await settle(byVersion, apiVersion, entry), kindOrPlural);
  }
  if (found === undefined) {
    throw new KubeError(
      'CPB_ERR_KUBE_UNKNOWN_KIND',
      `the server does not serve ${kindOrPlural} in ${apiVersion}`,
    );
  }
  return found;
}

/** Awaits a cache entry; a failed fetch is evicted so the next call tries again. */
async function settle(byVersion: Map<string, CacheEntry>, apiVersion: string, entry: CacheEntry) {
  try {
    return await entry.resources;
  } catch (err) {
    if (byVersion.get(apiVersion) === entry) byVersion.delete(apiVersion);
    throw err;
  }
}

function find(resources: ResourceInfo[], kindOrPlural: string): ResourceInfo | undefined {
  return resources.find((r) => r.kind === kindOrPlural) ?? resources.find((r) => r.plural === kindOrPlural);
}

async function fetchResources(
  kc: KubeConfig,
  apiVersion: string,
  signal?: AbortSignal,
): Promise<ResourceInfo[]> {
  try {
    const list = await kubeRequest<ApiResourceList>(kc, {
      path: groupVersionPath(apiVersion),
      ...(signal ? { signal } : {}),
    });
    return (list.resources ?? [])
      .filter((r) => !r.name.includes('/')) // subresources such as deployments/status
      .map((r) => ({ apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced }));
  } catch (err) {
    // An unknown group-version is an empty list, not an error: the caller reports the kind.
    if (isNotFound(err)) return [];
    throw err;
  }
}
