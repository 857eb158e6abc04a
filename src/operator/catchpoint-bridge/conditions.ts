/**
 * Status conditions of a CatchpointBridge: types, stable CamelCase reasons, and how they combine.
 * Ready is the summary; ConfigValid, SecretsFound, Reconciled and Available explain it.
 * "Reconciled" (children applied) is kept apart from "Available" (the Deployment has available
 * replicas), which needs a kubelet, so a test control plane can show the first without the second.
 */
import type { Condition } from '../../api/types.ts';

export const ConditionType = {
  Ready: 'Ready',
  ConfigValid: 'ConfigValid',
  SecretsFound: 'SecretsFound',
  Reconciled: 'Reconciled',
  Available: 'Available',
} as const;

export const Reason = {
  Ready: 'Ready',
  Paused: 'Paused',
  ValidSpec: 'ValidSpec',
  InvalidSpec: 'InvalidSpec',
  SecretsFound: 'SecretsFound',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  Applied: 'Applied',
  ApplyFailed: 'ApplyFailed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  DeploymentUnavailable: 'DeploymentUnavailable',
  StatefulSetUnavailable: 'StatefulSetUnavailable',
  ScaledToZero: 'ScaledToZero',
} as const;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Merges fresh conditions into the existing ones: lastTransitionTime changes only when a
 * condition's status does, so an unchanged status produces an identical object (no write).
 */
export function mergeConditions(
  existing: readonly Condition[] | undefined,
  fresh: readonly ConditionInput[],
  generation: number,
  now: string,
): Condition[] {
  return fresh.map((c) => {
    const old = existing?.find((e) => e.type === c.type);
    return {
      type: c.type,
      status: c.status,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now,
      reason: c.reason,
      message: c.message,
    };
  });
}

/** Ready = every explaining condition True; otherwise False with the first failing reason. */
export function readyCondition(parts: readonly ConditionInput[]): ConditionInput {
  const failing = parts.find((p) => p.status !== 'True');
  if (failing === undefined) {
    return {
      type: ConditionType.Ready,
      status: 'True',
      reason: Reason.Ready,
      message: 'the bridge is running and taking pushes',
    };
  }
  return {
    type: ConditionType.Ready,
    status: failing.status,
    reason: failing.reason,
    message: failing.message,
  };
}
