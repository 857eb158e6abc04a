/**
 * Reconciles one CatchpointBridge, level-triggered: reads the current state (never an event's
 * payload), converges the children, reports status. Idempotent: a second pass with nothing
 * changed issues no write at all — children carry a hash of what was applied, and status is
 * written only when it differs.
 *
 * Contract (controller-runtime's): resolves → done (it never asks for a timed requeue: the
 * children's watch events bring the CR back); throws → retry with backoff. NotFound means the CR
 * is gone and its children go with it (owner references).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { referencedSecrets } from '../../api/references.ts';
import { type MissingSecretError, readSecretData } from '../../api/secret-data.ts';
import type { CatchpointBridge, CatchpointBridgeStatus } from '../../api/types.ts';
import { type InvalidSpecError, validateSpec } from '../../api/validate.ts';
import { namespaceOf } from '../../kube/resources.ts';
import type { ReconcileResult } from '../../kube/work-queue.ts';
import { hasCode } from '../../shared/errors.ts';
import { type ConditionInput, ConditionType, mergeConditions, Reason, readyCondition } from './conditions.ts';
import {
  type ChildKind,
  childName,
  desiredChildren,
  endpointUrl,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type Manifest,
  minimumReplicas,
  type OperatorConfig,
  workloadKind,
} from './desired.ts';

export const INPUT_HASH_ANNOTATION = 'catchpoint-bridge.io/input-hash';

export interface ChildObject {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { replicas?: number; readyReplicas?: number; availableReplicas?: number };
}

/** Reads of cluster state; children come from informer caches in the operator. */
export interface ClusterReader {
  getBridge(namespace: string, name: string): Promise<CatchpointBridge | undefined>;
  /** Names of the Secret's keys that hold a value, or undefined when there is no such Secret. */
  getSecretKeys(namespace: string, name: string): Promise<ReadonlySet<string> | undefined>;
  getChild(kind: ChildKind, namespace: string, name: string): Promise<ChildObject | undefined>;
}

/** Writes; the operator's implementation server-side-applies with one field manager. */
export interface ClusterWriter {
  apply(manifest: Manifest): Promise<void>;
  remove(kind: ChildKind, namespace: string, name: string): Promise<void>;
  applyStatus(cr: CatchpointBridge, status: CatchpointBridgeStatus): Promise<void>;
  event(cr: CatchpointBridge, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcileRequest {
  namespace: string;
  name: string;
}

export interface ReconcileOptions {
  /** Apply every child even when its input hash matches (periodic resync, a child edited by hand). */
  force?: boolean;
}

export interface ReconcilerDeps {
  reader: ClusterReader;
  writer: ClusterWriter;
  config: OperatorConfig;
  logger: Logger;
  now?: () => Date;
}

export function inputHash(manifest: Manifest): string {
  return createHash('sha256').update(canonicalJson(manifest)).digest('hex').slice(0, 20);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export class CatchpointBridgeReconciler {
  readonly #deps: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  async reconcile(req: ReconcileRequest, options: ReconcileOptions = {}): Promise<ReconcileResult> {
    const { reader } = this.#deps;
    const cr = await reader.getBridge(req.namespace, req.name);
    if (cr === undefined) return {};
    const generation = cr.metadata.generation ?? 0;

    if (cr.spec?.paused === true) {
      const paused: ConditionInput = {
        type: ConditionType.Ready,
        status: 'Unknown',
        reason: Reason.Paused,
        message: 'spec.paused is true: the operator leaves this bridge as it is',
      };
      await this.#writeStatus(cr, [paused], {});
      return {};
    }

    // The API server validated the spec at admission; this also catches a CRD older than the
    // operator, and gives the defaults a standalone config would get.
    let spec: CatchpointBridge['spec'];
    try {
      spec = validateSpec(cr.spec);
    } catch (err) {
      if (!hasCode(err, 'CPB_ERR_INVALID_SPEC')) throw err;
      const invalid: ConditionInput = {
        type: ConditionType.ConfigValid,
        status: 'False',
        reason: Reason.InvalidSpec,
        message: (err as InvalidSpecError).problems.map((p) => `${p.path}: ${p.message}`).join('; '),
      };
      await this.#writeStatus(cr, [readyCondition([invalid]), invalid], {});
      return {};
    }
    const bridge: CatchpointBridge = { ...cr, spec };
    const configValid: ConditionInput = {
      type: ConditionType.ConfigValid,
      status: 'True',
      reason: Reason.ValidSpec,
      message: `generation ${generation} is valid`,
    };

    const secretNames = referencedSecrets(spec);
    const secretsFound = await this.#checkSecrets(bridge, secretNames);

    let reconciled: ConditionInput;
    let applyError: unknown;
    try {
      await this.#applyChildren(bridge, secretNames, options.force === true);
      reconciled = {
        type: ConditionType.Reconciled,
        status: 'True',
        reason: Reason.Applied,
        message: 'children are up to date',
      };
    } catch (err) {
      applyError = err;
      const code = (err as { code?: number | string }).code;
      reconciled = {
        type: ConditionType.Reconciled,
        status: 'False',
        reason: Reason.ApplyFailed,
        message:
          `could not apply the bridge's objects${code === undefined ? '' : ` (${code})`}: ${(err as Error).message}`.slice(
            0,
            1024,
          ),
      };
    }

    const kind = workloadKind(bridge);
    const workload = await reader.getChild(kind, req.namespace, childName(bridge));
    const desiredReplicas = workload?.spec?.replicas ?? minimumReplicas(bridge);
    const available = availableCondition(workload, kind, desiredReplicas, childName(bridge));
    const parts = [configValid, secretsFound, reconciled, available];
    await this.#writeStatus(cr, [readyCondition(parts), ...parts], {
      replicas: desiredReplicas,
      readyReplicas: workload?.status?.readyReplicas ?? 0,
      replicasSummary: `${workload?.status?.readyReplicas ?? 0}/${desiredReplicas}`,
      endpoint: endpointUrl(bridge),
    });
    if (applyError !== undefined) throw applyError;
    return {};
  }

  async #checkSecrets(cr: CatchpointBridge, names: string[]): Promise<ConditionInput> {
    const namespace = namespaceOf(cr);
    const keys = new Map<string, ReadonlySet<string>>();
    const absent: string[] = [];
    for (const name of names) {
      const present = await this.#deps.reader.getSecretKeys(namespace, name);
      if (present === undefined) absent.push(name);
      else keys.set(name, present);
    }
    if (absent.length > 0) {
      return {
        type: ConditionType.SecretsFound,
        status: 'False',
        reason: Reason.SecretNotFound,
        message: `Secret ${absent.map((n) => `"${n}"`).join(', ')} not found in namespace ${namespace}: create it`,
      };
    }
    try {
      // Only presence is checked: the reader hands over key names, never values. A referenced
      // ConfigMap (a CA bundle) is not checked here: the bridge reports it while it waits.
      readSecretData(
        cr.spec,
        (secret, key) => (keys.get(secret)?.has(key) ? 'present' : undefined),
        () => 'present',
      );
    } catch (err) {
      if (!hasCode(err, 'CPB_ERR_SECRET_MISSING')) throw err;
      return {
        type: ConditionType.SecretsFound,
        status: 'False',
        reason: Reason.SecretKeyMissing,
        message: (err as MissingSecretError).missing
          .map((m) => `${m.kind} "${m.name}" has no key "${m.key}"`)
          .join('; '),
      };
    }
    return {
      type: ConditionType.SecretsFound,
      status: 'True',
      reason: Reason.SecretsFound,
      message: `${names.join(', ')} found`,
    };
  }

  async #applyChildren(cr: CatchpointBridge, secretNames: string[], force: boolean): Promise<void> {
    const { reader, writer, config } = this.#deps;
    const namespace = namespaceOf(cr);
    const desired = desiredChildren(cr, config, secretNames);
    for (const manifest of desired.apply) {
      const hash = inputHash(manifest);
      const existing = await reader.getChild(manifest.kind as ChildKind, namespace, manifest.metadata.name);
      if (!force && existing?.metadata?.annotations?.[INPUT_HASH_ANNOTATION] === hash) continue;
      await writer.apply({
        ...manifest,
        metadata: {
          ...manifest.metadata,
          annotations: { ...manifest.metadata.annotations, [INPUT_HASH_ANNOTATION]: hash },
        },
      });
    }
    for (const kind of desired.absent) {
      const existing = await reader.getChild(kind, namespace, childName(cr));
      if (existing?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY)
        await writer.remove(kind, namespace, childName(cr));
    }
  }

  /** Writes status only when it changed; records an Event when Ready changes. */
  async #writeStatus(
    cr: CatchpointBridge,
    conditions: ConditionInput[],
    fields: Omit<CatchpointBridgeStatus, 'conditions' | 'observedGeneration' | 'bridge'>,
  ): Promise<void> {
    const generation = cr.metadata.generation ?? 0;
    const now = (this.#deps.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status: CatchpointBridgeStatus = {
      observedGeneration: generation,
      conditions: mergeConditions(cr.status?.conditions, conditions, generation, now),
      ...fields,
    };
    const current = cr.status ?? {};
    const comparable = (s: CatchpointBridgeStatus) =>
      canonicalJson({
        observedGeneration: s.observedGeneration,
        conditions: s.conditions,
        replicas: s.replicas,
        readyReplicas: s.readyReplicas,
        replicasSummary: s.replicasSummary,
        endpoint: s.endpoint,
      });
    if (comparable(status) === comparable(current)) return;
    await this.#deps.writer.applyStatus(cr, status);

    const before = current.conditions?.find((c) => c.type === ConditionType.Ready);
    const after = status.conditions!.find((c) => c.type === ConditionType.Ready)!;
    if (before?.status !== after.status || before?.reason !== after.reason) {
      const type = after.status === 'False' ? 'Warning' : 'Normal';
      await this.#deps.writer.event(cr, type, after.reason, after.message).catch((err: unknown) => {
        this.#deps.logger.warn({ error: (err as Error).message }, 'could not record an event');
      });
    }
  }
}

function availableCondition(
  workload: ChildObject | undefined,
  kind: 'Deployment' | 'StatefulSet',
  desired: number,
  name: string,
): ConditionInput {
  if (desired === 0) {
    return {
      type: ConditionType.Available,
      status: 'True',
      reason: Reason.ScaledToZero,
      message: 'scaled to zero replicas',
    };
  }
  const available = workload?.status?.availableReplicas ?? 0;
  if (available >= 1) {
    return {
      type: ConditionType.Available,
      status: 'True',
      reason: Reason.MinimumReplicasAvailable,
      message: `${available} of ${desired} replicas available`,
    };
  }
  return {
    type: ConditionType.Available,
    status: 'False',
    reason: kind === 'StatefulSet' ? Reason.StatefulSetUnavailable : Reason.DeploymentUnavailable,
    message: workload
      ? `${kind} ${name} has no available replica yet (0 of ${desired}): see its pods' events` +
        (kind === 'StatefulSet' ? ' and claims (a claim no volume can bind keeps its pod Pending)' : '')
      : `${kind} ${name} does not exist yet`,
  };
}
