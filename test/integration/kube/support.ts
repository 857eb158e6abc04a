// Helpers shared by the Kubernetes integration tests.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Logger, pino } from 'pino';
import { applyObject, type KubeObject } from '../../../src/kube/apply.ts';

export const CR_API_VERSION = 'catchpoint-bridge.io/v1alpha1';
export const CR_KIND = 'CatchpointBridge';
export const CR_PLURAL = 'catchpointbridges';
export const TEST_FIELD_MANAGER = 'kube-integration-test';

/** Silent unless TEST_LOG_LEVEL is set (e.g. `TEST_LOG_LEVEL=debug` to watch reconnects). */
export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

/** A minimal valid CatchpointBridge. */
export function bridge(namespace: string, name: string, endpoints = ['http://tsdb:4242']): KubeObject {
  return {
    apiVersion: CR_API_VERSION,
    kind: CR_KIND,
    metadata: { name, namespace },
    spec: { catchpoint: { credentialsSecretRef: { name: 'cp' } }, tsdb: { endpoints } },
  };
}

export function applyBridge(kc: KubeConfig, namespace: string, name: string, endpoints?: string[]) {
  return applyObject<KubeObject & { metadata: { resourceVersion: string; generation: number } }>(
    kc,
    bridge(namespace, name, endpoints),
    { fieldManager: TEST_FIELD_MANAGER },
  );
}

export async function waitFor(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
