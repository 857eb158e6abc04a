/**
 * `--watch-namespaces`: the operator reconciles CatchpointBridges in the namespaces it was given
 * and leaves every other namespace alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyObject } from '../../../src/kube/apply.ts';
import type { RunningOperator } from '../../../src/operator/main.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';
import {
  condition,
  eventually,
  getBridge,
  installOperatorRbac,
  startOperator,
  writeSecret,
} from '../../harness/operator.ts';

let plane: ControlPlane;
let operator: RunningOperator;
let watched: string;
let other: string;

before(async () => {
  plane = await sharedControlPlane();
  const opNs = await plane.createNamespace('op');
  [watched, other] = await Promise.all([plane.createNamespace('watched'), plane.createNamespace('other')]);
  operator = await startOperator(await installOperatorRbac(plane, opNs), { namespaces: [watched] });
});
after(async () => {
  await operator?.stop();
});

describe('watch namespaces', () => {
  it('only CatchpointBridges in the watched namespaces are reconciled', async () => {
    for (const ns of [watched, other]) {
      await writeSecret(plane.kubeConfig, ns, 'cp', { apiKey: 'k' });
      await applyObject(
        plane.kubeConfig,
        {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          metadata: { name: 'b', namespace: ns },
          spec: {
            catchpoint: { credentialsSecretRef: { name: 'cp' } },
            tsdb: { endpoints: ['http://t:4242'] },
          },
        } as never,
        { fieldManager: 'test' },
      );
    }
    await eventually(
      () => getBridge(plane.kubeConfig, watched, 'b'),
      (b) => condition(b, 'Reconciled')?.status === 'True',
      15_000,
      'watched CR reconciled',
    );
    await new Promise((r) => setTimeout(r, 1500));
    const untouched = await getBridge(plane.kubeConfig, other, 'b');
    assert.equal(untouched?.status, undefined, 'a CR outside the watched namespaces has no status');
  });
});
