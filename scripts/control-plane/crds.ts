// Installing CustomResourceDefinitions and waiting until clients can really use them.
//
// "Created" is not "usable": the apiextensions controllers must first accept the names
// (Established=True) and publish the resource in discovery, which clients such as
// KubernetesObjectApi and kubectl resolve kinds through. envtest waits for discovery only;
// we wait for both so a broken CRD (e.g. a names conflict) fails with its condition message.
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { PermanentError, type PollOptions, pollUntil } from './poll.ts';
import { errnoCode } from './process-group.ts';

/** The fields of a CRD manifest the installer relies on, plus the manifest itself. */
export interface CrdManifest {
  readonly name: string;
  readonly group: string;
  readonly plural: string;
  readonly servedVersions: readonly string[];
  readonly body: Record<string, unknown>;
  /** Where it came from (file path or "inline CRD"), for error messages. */
  readonly source: string;
}

/** Minimal GET against the apiserver as admin (discovery is not worth a typed client). */
export type AdminGet = (path: string) => Promise<{ status: number; body: string }>;

const FIELD_MANAGER = 'catchpoint-bridge-control-plane';
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const WAIT_TIMEOUT_MS = 30_000;
const WAIT_INTERVAL_MS = 100;

/**
 * Reads every CRD from the YAML/JSON files directly in `dir`, in file-name order.
 * A missing directory means "no CRDs" (the project may not have generated any yet); other
 * object kinds in those files (e.g. a kustomization) are skipped.
 */
export async function readCrdManifests(dir: string): Promise<CrdManifest[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((file) => MANIFEST_EXTENSIONS.has(extname(file))).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const manifests: CrdManifest[] = [];
  for (const file of files) {
    const path = join(dir, file);
    for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS();
      if (isObject(value) && value.kind === 'CustomResourceDefinition')
        manifests.push(toCrdManifest(value, path));
    }
  }
  return manifests;
}

/** Validates the parts of a CRD object the installer needs; `source` names it in errors. */
export function toCrdManifest(value: unknown, source = 'inline CRD'): CrdManifest {
  const fail = (what: string): never => {
    throw new Error(`${source}: CustomResourceDefinition without ${what}`);
  };
  if (!isObject(value)) return fail('a body');
  const metadata = isObject(value.metadata) ? value.metadata : fail('metadata');
  const spec = isObject(value.spec) ? value.spec : fail('spec');
  const names = isObject(spec.names) ? spec.names : fail('spec.names');
  const versions = Array.isArray(spec.versions) ? spec.versions : fail('spec.versions');
  const servedVersions = versions.flatMap((version: unknown) =>
    isObject(version) && version.served === true && typeof version.name === 'string' ? [version.name] : [],
  );
  return {
    name: typeof metadata.name === 'string' ? metadata.name : fail('metadata.name'),
    group: typeof spec.group === 'string' ? spec.group : fail('spec.group'),
    plural: typeof names.plural === 'string' ? names.plural : fail('spec.names.plural'),
    servedVersions,
    body: value,
    source,
  };
}

/** Server-side applies every CRD (create or update alike), then waits for each to be usable. */
export async function installCrds(
  kc: KubeConfig,
  get: AdminGet,
  crds: readonly CrdManifest[],
): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const applyAsSsa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  for (const crd of crds) {
    try {
      await api.patchCustomResourceDefinition(
        { name: crd.name, body: crd.body, fieldManager: FIELD_MANAGER, force: true },
        applyAsSsa,
      );
    } catch (err) {
      throw new Error(`installing CRD ${crd.name} from ${crd.source} failed: ${apiErrorMessage(err)}`, {
        cause: err,
      });
    }
  }
  await Promise.all(crds.map((crd) => waitUntilUsable(api, get, crd)));
}

async function waitUntilUsable(api: ApiextensionsV1Api, get: AdminGet, crd: CrdManifest): Promise<void> {
  await pollUntil(waitOptions(`CRD ${crd.name} to be Established`), async () =>
    established(await api.readCustomResourceDefinition({ name: crd.name })) ? true : undefined,
  );
  for (const version of crd.servedVersions) {
    await pollUntil(waitOptions(`${crd.plural}.${crd.group}/${version} in discovery`), async () =>
      (await inDiscovery(get, crd.group, version, crd.plural)) ? true : undefined,
    );
  }
  await waitUntilServed(get, crd);
}

/**
 * Waits until every served version of the CRD answers a list. Discovery can list a resource whose
 * storage (watch cache) is still initialising; requests then get 429 "storage is (re)initializing",
 * notably for a while after kube-apiserver restarts, since /readyz does not cover custom resources.
 */
async function waitUntilServed(get: AdminGet, crd: CrdManifest): Promise<void> {
  for (const version of crd.servedVersions) {
    const path = `/apis/${crd.group}/${version}/${crd.plural}?limit=1`;
    await pollUntil(waitOptions(`GET ${path} to succeed`), async () => {
      const response = await get(path);
      if (response.status === 200) return true;
      throw new Error(`HTTP ${response.status}: ${response.body.slice(0, 200)}`);
    });
  }
}

/** Waits until every CRD the apiserver knows can be listed (after a restart). */
export async function waitForInstalledCrds(get: AdminGet): Promise<void> {
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const list = await pollUntil(waitOptions(`GET ${path}`), async () => {
    const response = await get(path);
    if (response.status === 200) return JSON.parse(response.body) as unknown;
    throw new Error(`HTTP ${response.status}: ${response.body.slice(0, 200)}`);
  });
  const items = isObject(list) && Array.isArray(list.items) ? list.items : [];
  await Promise.all(items.map((item: unknown) => waitUntilServed(get, toCrdManifest(item, 'installed CRD'))));
}

function waitOptions(what: string): PollOptions {
  return { what, timeoutMs: WAIT_TIMEOUT_MS, intervalMs: WAIT_INTERVAL_MS };
}

function established(crd: V1CustomResourceDefinition): boolean {
  const conditions = crd.status?.conditions ?? [];
  const namesAccepted = conditions.find((condition) => condition.type === 'NamesAccepted');
  if (namesAccepted?.status === 'False') {
    // Retrying cannot fix this; report the apiserver's own reason at once.
    throw new PermanentError(`CRD ${crd.metadata?.name} names not accepted: ${namesAccepted.message}`);
  }
  return conditions.some((condition) => condition.type === 'Established' && condition.status === 'True');
}

async function inDiscovery(get: AdminGet, group: string, version: string, plural: string): Promise<boolean> {
  const response = await get(`/apis/${group}/${version}`);
  if (response.status !== 200) return false;
  const list: unknown = JSON.parse(response.body);
  const resources = isObject(list) && Array.isArray(list.resources) ? list.resources : [];
  return resources.some((resource: unknown) => isObject(resource) && resource.name === plural);
}

/** The apiserver's own explanation (Status.message) from an ApiException, whose body is raw JSON. */
function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException && typeof err.body === 'string') {
    try {
      const status: unknown = JSON.parse(err.body);
      if (isObject(status) && typeof status.message === 'string') return `${err.code} ${status.message}`;
    } catch {
      // Not a Status object; fall through to the generic message.
    }
  }
  return err instanceof Error ? err.message : String(err);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
