import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { SPOOL_VOLUME_HEADROOM_BYTES } from '../../../src/api/spool-volume.ts';
import type { CatchpointBridge } from '../../../src/api/types.ts';
import { validateSpec } from '../../../src/api/validate.ts';
import {
  desiredChildren,
  endpointUrl,
  type Manifest,
  spoolVolumeSize,
} from '../../../src/operator/catchpoint-bridge/desired.ts';

const config = { image: 'registry.example/catchpoint-bridge:1.2.3' };

function bridge(spec: Record<string, unknown> = {}): CatchpointBridge {
  return {
    apiVersion: 'catchpoint-bridge.io/v1alpha1',
    kind: 'CatchpointBridge',
    metadata: {
      name: 'dns-perf',
      namespace: 'monitoring',
      uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
      generation: 3,
    },
    spec: validateSpec({
      catchpoint: { credentialsSecretRef: { name: 'catchpoint-api' } },
      push: { tokenSecretRef: { name: 'catchpoint-push' } },
      tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
      ...spec,
    }),
  };
}

const find = (list: Manifest[], kind: string) => list.find((m) => m.kind === kind);

describe('desired', () => {
  it('golden: every child of a full CatchpointBridge (update with UPDATE_GOLDEN=1)', async () => {
    const cr = bridge({
      tsdb: {
        endpoints: ['https://opentsdb.monitoring:4242'],
        tls: { caRef: { configMapName: 'opentsdb-ca' }, clientCertSecretRef: { name: 'opentsdb-client' } },
      },
      deployment: {
        autoscaling: { minReplicas: 2, maxReplicas: 6 },
        ingress: { host: 'cpb.example.com', className: 'nginx', tlsSecretName: 'cpb-tls' },
      },
    });
    const out = desiredChildren(cr, config, ['catchpoint-api', 'catchpoint-push', 'opentsdb-client']);
    const text = out.apply.map((m) => stringify(m)).join('---\n');
    const golden = join(import.meta.dirname, 'testdata/desired-full.yaml');
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(golden, text);
    assert.equal(text, await readFile(golden, 'utf8'));
    assert.deepEqual(out.absent, ['StatefulSet']);
  });

  it('every child is owned by the CR as its controller and labelled as ours', () => {
    const cr = bridge();
    for (const m of desiredChildren(cr, config, ['a']).apply) {
      assert.deepEqual(m.metadata.ownerReferences, [
        {
          apiVersion: 'catchpoint-bridge.io/v1alpha1',
          kind: 'CatchpointBridge',
          name: 'dns-perf',
          uid: cr.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      assert.equal(m.metadata.namespace, 'monitoring');
      assert.equal(m.metadata.labels['app.kubernetes.io/managed-by'], 'catchpoint-bridge-operator');
    }
  });

  it('the Role names exactly the CR and its Secrets', () => {
    const role = find(desiredChildren(bridge(), config, ['s2', 's1']).apply, 'Role') as Manifest & {
      rules: Array<{ resources: string[]; resourceNames: string[]; verbs: string[] }>;
    };
    assert.deepEqual(
      role.rules.map((r) => [r.resources[0], r.resourceNames, r.verbs]),
      [
        ['catchpointbridges', ['dns-perf'], ['get', 'list', 'watch']],
        ['catchpointbridges/status', ['dns-perf'], ['get', 'patch']],
        ['secrets', ['s1', 's2'], ['get', 'list', 'watch']],
      ],
    );
  });

  it('editing what the bridge reloads live does not change the pod template', () => {
    const a = find(desiredChildren(bridge(), config, ['x']).apply, 'Deployment');
    const b = find(
      desiredChildren(
        bridge({
          dimensions: ['city'],
          measurements: ['rtt', 'timing.dns'],
          naming: { layout: 'tags' },
          tsdb: { endpoints: ['tcp://t:4242'] },
        }),
        config,
        ['x', 'y'],
      ).apply,
      'Deployment',
    );
    assert.deepEqual(a, b);
  });

  it('restricted pod security', () => {
    const d = find(desiredChildren(bridge(), config, []).apply, 'Deployment') as Manifest & {
      spec: {
        template: {
          spec: {
            securityContext: Record<string, unknown>;
            containers: Array<{ securityContext: unknown; args: string[] }>;
          };
        };
      };
    };
    const pod = d.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.deepEqual(pod.containers[0]!.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    assert.deepEqual(pod.containers[0]!.args.slice(0, 3), ['bridge', '--resource', 'monitoring/dns-perf']);
  });

  it('replicas: a PDB from two, none for one; an HPA owns replicas when autoscaling', () => {
    const one = desiredChildren(bridge({ deployment: { replicas: 1 } }), config, []);
    assert.equal(find(one.apply, 'PodDisruptionBudget'), undefined);
    assert.deepEqual(one.absent, [
      'StatefulSet',
      'PodDisruptionBudget',
      'HorizontalPodAutoscaler',
      'Ingress',
    ]);
    const two = desiredChildren(bridge(), config, []);
    assert.equal((find(two.apply, 'Deployment')!.spec as { replicas: number }).replicas, 2);
    assert.ok(find(two.apply, 'PodDisruptionBudget'));
    const auto = desiredChildren(
      bridge({ deployment: { autoscaling: { minReplicas: 3, maxReplicas: 9 } } }),
      config,
      [],
    );
    assert.equal('replicas' in (find(auto.apply, 'Deployment')!.spec as object), false);
    assert.ok(find(auto.apply, 'HorizontalPodAutoscaler'));
  });

  it('the endpoint shown to users never holds the token', () => {
    assert.equal(endpointUrl(bridge()), 'http://cpb-dns-perf.monitoring.svc/push');
    assert.equal(
      endpointUrl(bridge({ deployment: { ingress: { host: 'cpb.example.com', tlsSecretName: 't' } } })),
      'https://cpb.example.com/push',
    );
  });

  it("the Role names the TSDB CA bundle's ConfigMap, and no ConfigMap at all without one", () => {
    type Rules = Manifest & {
      rules: Array<{ resources: string[]; resourceNames: string[]; verbs: string[] }>;
    };
    const withCa = bridge({
      tsdb: { endpoints: ['https://tsdb:4242'], tls: { caRef: { configMapName: 'kube-root-ca.crt' } } },
    });
    const role = find(desiredChildren(withCa, config, ['s']).apply, 'Role') as Rules;
    assert.deepEqual(
      role.rules.find((r) => r.resources[0] === 'configmaps'),
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['kube-root-ca.crt'],
        verbs: ['get', 'list', 'watch'],
      },
    );
    // An empty resourceNames would grant every ConfigMap of the namespace.
    const plain = find(desiredChildren(bridge(), config, ['s']).apply, 'Role') as Rules;
    assert.equal(
      plain.rules.find((r) => r.resources[0] === 'configmaps'),
      undefined,
    );
  });

  it("the spool emptyDir's sizeLimit: spoolVolumeSize when set, else 1Gi or spool.maxBytes plus the headroom if more", () => {
    const sizeLimit = (spec: Record<string, unknown>) => {
      const d = find(desiredChildren(bridge(spec), config, []).apply, 'Deployment') as Manifest & {
        spec: { template: { spec: { volumes: Array<{ emptyDir: { sizeLimit: string } }> } } };
      };
      return d.spec.template.spec.volumes[0]!.emptyDir.sizeLimit;
    };
    assert.equal(SPOOL_VOLUME_HEADROOM_BYTES, 64 * 2 ** 20);
    assert.equal(sizeLimit({}), '1Gi'); // the default 512Mi + 64Mi fits the 1Gi floor
    assert.equal(sizeLimit({ spool: { maxBytes: '960Mi' } }), '1Gi'); // exactly fits: no roll up to here
    assert.equal(sizeLimit({ spool: { maxBytes: '961Mi' } }), '1025Mi');
    assert.equal(sizeLimit({ spool: { maxBytes: '3Gi' } }), '3136Mi');
    assert.equal(sizeLimit({ deployment: { spoolVolumeSize: '2Gi' } }), '2Gi');
    assert.equal(
      sizeLimit({ spool: { maxBytes: '1Gi' }, deployment: { spoolVolumeSize: '1088Mi' } }),
      '1088Mi',
    );
    assert.equal(
      spoolVolumeSize(bridge({ spool: { maxBytes: '1073741000' } })),
      String(1073741000 + 64 * 2 ** 20),
    );
    // Past what a number counts exactly, rounded up (never down) to whole Gi.
    assert.equal(spoolVolumeSize(bridge({ spool: { maxBytes: '999999999999Gi' } })), '1000000000000Gi');
  });

  it('spool on claims: a StatefulSet with one retained claim per replica instead of the Deployment', () => {
    const cr = bridge({
      spool: {
        maxBytes: '1Gi',
        storage: {
          type: 'persistentVolumeClaim',
          persistentVolumeClaim: { size: '2Gi', storageClassName: 'fast' },
        },
      },
      deployment: { replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 3 } },
    });
    const out = desiredChildren(cr, config, ['a']);
    assert.equal(find(out.apply, 'Deployment'), undefined);
    assert.ok(out.absent.includes('Deployment'), 'a Deployment left from before is removed');
    const sts = find(out.apply, 'StatefulSet') as Manifest & {
      spec: {
        serviceName: string;
        podManagementPolicy: string;
        persistentVolumeClaimRetentionPolicy: unknown;
        volumeClaimTemplates: Array<{ metadata: { name: string }; spec: Record<string, unknown> }>;
        template: {
          spec: {
            volumes?: unknown[];
            containers: Array<{ volumeMounts: Array<{ name: string }>; args: string[] }>;
          };
        };
      };
    };
    assert.ok(sts);
    assert.equal('replicas' in sts.spec, false, 'the HPA owns replicas');
    assert.equal(sts.spec.serviceName, 'cpb-dns-perf');
    assert.equal(sts.spec.podManagementPolicy, 'Parallel');
    assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, {
      whenDeleted: 'Retain',
      whenScaled: 'Retain',
    });
    assert.deepEqual(
      sts.spec.volumeClaimTemplates.map((t) => [t.metadata.name, t.spec]),
      [
        [
          'spool',
          {
            accessModes: ['ReadWriteOnce'],
            storageClassName: 'fast',
            resources: { requests: { storage: '2Gi' } },
          },
        ],
      ],
    );
    const pod = sts.spec.template.spec;
    assert.equal(pod.volumes, undefined, 'the claim, not an emptyDir, backs the spool mount');
    assert.deepEqual(
      pod.containers[0]!.volumeMounts.map((m) => m.name),
      ['spool'],
    );
    assert.ok(
      pod.containers[0]!.args.includes('--handoff-url'),
      'a replica removed by scale-down still hands off',
    );
    const hpa = find(out.apply, 'HorizontalPodAutoscaler') as Manifest & {
      spec: { scaleTargetRef: { kind: string } };
    };
    assert.equal(hpa.spec.scaleTargetRef.kind, 'StatefulSet');
    // The same pod template as the Deployment's, but for the volume: one place for the pod's facts.
    const plain = find(desiredChildren(bridge(), config, ['a']).apply, 'Deployment') as typeof sts;
    assert.deepEqual({ ...pod, volumes: undefined }, { ...plain.spec.template.spec, volumes: undefined });
  });

  it('spool.storage: a claim needs its size, which must hold maxBytes plus the headroom; emptyDir is the default', () => {
    const spec = (spool: Record<string, unknown>) =>
      validateSpec({
        catchpoint: { credentialsSecretRef: { name: 'cp' } },
        dimensions: ['country'],
        measurements: ['rtt'],
        tsdb: { endpoints: ['http://tsdb:4242'] },
        spool,
      });
    assert.deepEqual(spec({}).spool.storage, { type: 'emptyDir' });
    assert.throws(
      () => spec({ storage: { type: 'persistentVolumeClaim' } }),
      /persistentVolumeClaim needs spool.storage.persistentVolumeClaim.size/,
    );
    assert.throws(
      () =>
        spec({
          maxBytes: '1Gi',
          storage: { type: 'persistentVolumeClaim', persistentVolumeClaim: { size: '1Gi' } },
        }),
      /spec.spool.maxBytes \(1Gi\) plus 64Mi of headroom must fit spec.spool.storage.persistentVolumeClaim.size \(1Gi\)/,
    );
    assert.equal(
      spec({
        maxBytes: '1Gi',
        storage: { type: 'persistentVolumeClaim', persistentVolumeClaim: { size: '1088Mi' } },
      }).spool.storage.persistentVolumeClaim?.size,
      '1088Mi',
    );
    // The emptyDir's spoolVolumeSize is not the claim's business.
    spec({
      maxBytes: '1Gi',
      storage: { type: 'persistentVolumeClaim', persistentVolumeClaim: { size: '2Gi' } },
    });
  });
});
