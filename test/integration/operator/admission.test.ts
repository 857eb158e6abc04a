/**
 * Bad CatchpointBridges are refused by the API server itself (structural schema and CEL rules of
 * the generated CRD), with a message that names the field.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { kubeRequest } from '../../../src/kube/request.ts';
import { type ControlPlane, sharedControlPlane } from '../../harness/control-plane.ts';

let plane: ControlPlane;
let ns: string;
before(async () => {
  plane = await sharedControlPlane();
  ns = await plane.createNamespace('admission');
});

const good = {
  catchpoint: { credentialsSecretRef: { name: 'cp' } },
  tsdb: { endpoints: ['http://tsdb:4242'] },
};

async function create(name: string, spec: unknown): Promise<{ code: number; message: string }> {
  try {
    await kubeRequest(plane.kubeConfig, {
      method: 'POST',
      path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
      query: { fieldValidation: 'Strict' },
      body: {
        apiVersion: 'catchpoint-bridge.io/v1alpha1',
        kind: 'CatchpointBridge',
        metadata: { name },
        spec,
      },
    });
    return { code: 201, message: '' };
  } catch (err) {
    return {
      code:
        (err as { statusCode?: number; status?: number }).statusCode ??
        (err as { status?: number }).status ??
        0,
      message: (err as Error).message,
    };
  }
}

const bad: Array<[string, string, unknown, RegExp]> = [
  ['no-tsdb', 'no TSDB at all', { catchpoint: good.catchpoint }, /spec\.tsdb: Required value/],
  [
    'ftp',
    'endpoint with a scheme we cannot write',
    { ...good, tsdb: { endpoints: ['ftp://x:21'] } },
    /spec\.tsdb\.endpoints\[0\].*http\(s\):\/\/host:port/,
  ],
  [
    'empty-endpoints',
    'empty endpoint list',
    { ...good, tsdb: { endpoints: [] } },
    /spec\.tsdb\.endpoints.*at least 1/,
  ],
  [
    'planet',
    'unknown dimension',
    { ...good, dimensions: ['planet'] },
    /spec\.dimensions\[0\].*Unsupported value: "planet"/,
  ],
  [
    'dup',
    'duplicate dimension',
    { ...good, dimensions: ['city', 'city'] },
    /spec\.dimensions\[1\].*Duplicate value/,
  ],
  [
    'measure',
    'measurement that is no path',
    { ...good, measurements: ['Timing Total'] },
    /spec\.measurements\[0\]/,
  ],
  [
    'baseurl',
    'baseURL without scheme',
    { ...good, catchpoint: { ...good.catchpoint, baseURL: 'io.catchpoint.com' } },
    /spec\.catchpoint\.baseURL.*http:\/\/ or https:\/\//,
  ],
  [
    'v1-keys',
    'v1 with one key for id and secret',
    {
      ...good,
      catchpoint: { api: 'v1', credentialsSecretRef: { name: 'cp', clientIdKey: 'k', clientSecretKey: 'k' } },
    },
    /spec\.catchpoint.*two different Secret keys/,
  ],
  [
    'api-v3',
    'unknown API version',
    { ...good, catchpoint: { ...good.catchpoint, api: 'v3' } },
    /spec\.catchpoint\.api.*Unsupported value: "v3"/,
  ],
  [
    'template',
    'template format without a field map',
    { ...good, push: { format: 'template' } },
    /spec\.push.*push\.template \(the field map\) is required/,
  ],
  [
    'tags',
    'tags layout over the tag limit',
    { ...good, naming: { layout: 'tags' }, tsdb: { ...good.tsdb, maxTags: 4 } },
    /spec: Invalid value.*more tags than tsdb\.maxTags/,
  ],
  [
    'prefix',
    'metric prefix with a space',
    { ...good, naming: { prefix: 'my metrics' } },
    /spec\.naming\.prefix/,
  ],
  [
    'hpa',
    'autoscaling min above max',
    { ...good, deployment: { autoscaling: { minReplicas: 5, maxReplicas: 2 } } },
    /spec\.deployment\.autoscaling.*minReplicas must not exceed maxReplicas/,
  ],
  ['unknown', 'a misspelt field', { ...good, dimension: ['city'] }, /unknown field "spec\.dimension"/],
  [
    'replicas',
    'negative replicas',
    { ...good, deployment: { replicas: -1 } },
    /spec\.deployment\.replicas.*greater than or equal to 0/,
  ],
  [
    'tsdb-auth',
    'TSDB auth with both token and basic',
    {
      ...good,
      tsdb: {
        ...good.tsdb,
        auth: { secretRef: { name: 'a', tokenKey: 't', usernameKey: 'u', passwordKey: 'p' } },
      },
    },
    /spec\.tsdb\.auth\.secretRef.*either tokenKey/,
  ],
  [
    'tls-http',
    'TSDB TLS without an https endpoint',
    { ...good, tsdb: { ...good.tsdb, tls: { serverName: 'tsdb.example' } } },
    /spec\.tsdb: Invalid value.*https:\/\/ endpoints only/,
  ],
  [
    'tls-ca-both',
    'a TSDB CA from a Secret and a ConfigMap at once',
    {
      ...good,
      tsdb: { endpoints: ['https://tsdb:4242'], tls: { caRef: { secretName: 'a', configMapName: 'b' } } },
    },
    /spec\.tsdb\.tls\.caRef.*exactly one of secretName and configMapName/,
  ],
  [
    'tls-keys',
    'a client certificate and key in one key',
    {
      ...good,
      tsdb: {
        endpoints: ['https://tsdb:4242'],
        tls: { clientCertSecretRef: { name: 'c', certKey: 'k', keyKey: 'k' } },
      },
    },
    /spec\.tsdb\.tls\.clientCertSecretRef.*two different keys/,
  ],
  [
    'spool-volume',
    'a spool limit its volume cannot hold',
    { ...good, spool: { maxBytes: '1Gi' }, deployment: { spoolVolumeSize: '1Gi' } },
    /spec\.deployment\.spoolVolumeSize: Invalid value.*spec\.spool\.maxBytes \(1Gi\) plus 64Mi of headroom must fit spec\.deployment\.spoolVolumeSize \(1Gi\): raise spoolVolumeSize/,
  ],
  [
    'spool-volume-short',
    'a spool volume one KiB short of maxBytes plus the headroom',
    { ...good, spool: { maxBytes: '1Gi' }, deployment: { spoolVolumeSize: '1114111Ki' } },
    /spec\.deployment\.spoolVolumeSize: Invalid value.*spec\.spool\.maxBytes \(1Gi\) plus 64Mi of headroom must fit spec\.deployment\.spoolVolumeSize \(1114111Ki\)/,
  ],
  [
    'spool-volume-default',
    'a spool volume too small for the default maxBytes',
    { ...good, deployment: { spoolVolumeSize: '512Mi' } },
    /spec\.deployment\.spoolVolumeSize: Invalid value.*spec\.spool\.maxBytes \(512Mi\) plus 64Mi/,
  ],
  [
    'spool-claim-no-size',
    'a spool on claims without the claim',
    { ...good, spool: { storage: { type: 'persistentVolumeClaim' } } },
    /spool\.storage\.type persistentVolumeClaim needs spool\.storage\.persistentVolumeClaim\.size/,
  ],
  [
    'spool-claim-small',
    'a spool claim that cannot hold maxBytes plus the headroom',
    {
      ...good,
      spool: {
        maxBytes: '1Gi',
        storage: { type: 'persistentVolumeClaim', persistentVolumeClaim: { size: '1Gi' } },
      },
    },
    /spec\.spool\.storage\.persistentVolumeClaim\.size: Invalid value.*spec\.spool\.maxBytes \(1Gi\) plus 64Mi of headroom must fit spec\.spool\.storage\.persistentVolumeClaim\.size \(1Gi\)/,
  ],
];

for (const [name, what, spec, message] of bad) {
  it(`refused at admission: ${what}`, async () => {
    const res = await create(name, spec);
    // Strict field validation (kubectl's default) answers 400 for unknown fields, 422 otherwise.
    assert.equal(res.code, name === 'unknown' ? 400 : 422, res.message);
    assert.match(res.message, message);
  });
}

describe('admission', () => {
  it('a name too long for the child objects is refused', async () => {
    const res = await create('x'.repeat(60), good);
    assert.equal(res.code, 422);
    assert.match(res.message, /metadata\.name must be at most 59/);
  });

  it('the smallest useful spec is admitted and defaulted by the API server', async () => {
    const created = await kubeRequest<{
      spec: {
        dimensions: string[];
        measurements: string[];
        naming: { layout: string };
        catchpoint: { api: string };
        spool: { maxBytes: string };
        deployment: { spoolVolumeSize?: string };
      };
    }>(plane.kubeConfig, {
      method: 'POST',
      path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
      body: {
        apiVersion: 'catchpoint-bridge.io/v1alpha1',
        kind: 'CatchpointBridge',
        metadata: { name: 'ok' },
        spec: good,
      },
    });
    assert.deepEqual(created.spec.dimensions, [
      'node',
      'asn',
      'continent',
      'city',
      'country',
      'region',
      'isp',
    ]);
    assert.deepEqual(created.spec.measurements, ['rtt', 'status']);
    assert.equal(created.spec.naming.layout, 'seed');
    assert.equal(created.spec.catchpoint.api, 'v2');
    // The spool volume is left to the operator: spool.maxBytes plus the headroom.
    assert.equal(created.spec.spool.maxBytes, '512Mi');
    assert.equal(created.spec.deployment.spoolVolumeSize, undefined);
  });

  it('a spool volume that holds spool.maxBytes plus the headroom is admitted, and maxBytes alone', async () => {
    for (const [name, spec] of [
      ['spool-exact', { spool: { maxBytes: '1Gi' }, deployment: { spoolVolumeSize: '1088Mi' } }],
      ['spool-example', { spool: { maxBytes: '512Mi' }, deployment: { spoolVolumeSize: '1Gi' } }],
      ['spool-alone', { spool: { maxBytes: '3Gi' } }],
    ] as const) {
      const res = await create(name, { ...good, ...spec });
      assert.equal(res.code, 201, `${name}: ${res.message}`);
    }
  });

  it('a spool size that is no quantity is refused by its pattern alone', async () => {
    const res = await create('spool-lots', {
      ...good,
      spool: { maxBytes: 'lots' },
      deployment: { spoolVolumeSize: '1Gi' },
    });
    assert.equal(res.code, 422, res.message);
    // One error: the rule's isQuantity guards keep quantity() from failing on it as well.
    assert.match(res.message, /is invalid: spec\.spool\.maxBytes: Invalid value: "lots": .*should match/);
    assert.doesNotMatch(res.message, /evaluating rule|quantities must match/);
  });

  it('a TSDB TLS spec (CA from a ConfigMap, client certificate) is admitted and defaulted', async () => {
    const created = await kubeRequest<{
      spec: {
        tsdb: { tls: { caRef: { key: string }; clientCertSecretRef: { certKey: string; keyKey: string } } };
      };
    }>(plane.kubeConfig, {
      method: 'POST',
      path: `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges`,
      query: { fieldValidation: 'Strict' },
      body: {
        apiVersion: 'catchpoint-bridge.io/v1alpha1',
        kind: 'CatchpointBridge',
        metadata: { name: 'tls' },
        spec: {
          ...good,
          tsdb: {
            endpoints: ['https://10.0.0.7:4242'],
            tls: {
              caRef: { configMapName: 'kube-root-ca.crt' },
              clientCertSecretRef: { name: 'tsdb-client' },
              serverName: 'opentsdb.monitoring.svc',
            },
          },
        },
      },
    });
    assert.equal(created.spec.tsdb.tls.caRef.key, 'ca.crt');
    assert.equal(created.spec.tsdb.tls.clientCertSecretRef.certKey, 'tls.crt');
    assert.equal(created.spec.tsdb.tls.clientCertSecretRef.keyKey, 'tls.key');
  });

  it('spool.storage is fixed once created: a spool on claims is admitted, a change of it is refused', async () => {
    const spec = {
      ...good,
      spool: {
        storage: {
          type: 'persistentVolumeClaim',
          persistentVolumeClaim: { size: '1Gi', storageClassName: 'local' },
        },
      },
    };
    assert.equal((await create('spool-claim', spec)).code, 201);
    const path = `/apis/catchpoint-bridge.io/v1alpha1/namespaces/${ns}/catchpointbridges/spool-claim`;
    for (const storage of [
      { type: 'emptyDir' },
      { ...spec.spool.storage, persistentVolumeClaim: { size: '2Gi' } },
    ]) {
      const err = await kubeRequest(plane.kubeConfig, {
        method: 'PATCH',
        path,
        contentType: 'application/merge-patch+json',
        body: { spec: { spool: { storage } } },
      }).then(
        () => undefined,
        (e: unknown) => e as { code?: number; message: string },
      );
      assert.ok(err, `changing spool.storage to ${JSON.stringify(storage)} is refused`);
      assert.match(err.message, /spool\.storage is fixed when the CatchpointBridge is created/);
    }
    // Everything else still edits.
    await kubeRequest(plane.kubeConfig, {
      method: 'PATCH',
      path,
      contentType: 'application/merge-patch+json',
      body: { spec: { dimensions: ['country'] } },
    });
  });
});
