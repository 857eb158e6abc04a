import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidSpecError, parseCatchpointBridgeManifest, validateSpec } from '../../../src/api/validate.ts';

const minimal = {
  catchpoint: { credentialsSecretRef: { name: 'catchpoint-api' } },
  tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
};

describe('validate', () => {
  it('the smallest useful spec gets the seed-compatible defaults', () => {
    const spec = validateSpec(minimal);
    assert.deepEqual(spec.dimensions, ['node', 'asn', 'continent', 'city', 'country', 'region', 'isp']);
    assert.deepEqual(spec.measurements, ['rtt', 'status']);
    assert.equal(spec.naming.layout, 'seed');
    assert.equal(spec.naming.prefix, 'catchpoint');
    assert.equal(spec.catchpoint.baseURL, 'https://io.catchpoint.com');
    assert.equal(spec.tsdb.maxTags, 8);
    assert.equal(spec.spool.durability, 'fsync');
  });

  const bad: Array<[string, unknown, string]> = [
    ['endpoint scheme', { ...minimal, tsdb: { endpoints: ['ftp://x:1'] } }, '/spec/tsdb/endpoints/0'],
    ['no endpoints', { ...minimal, tsdb: { endpoints: [] } }, '/spec/tsdb/endpoints'],
    ['unknown dimension', { ...minimal, dimensions: ['planet'] }, '/spec/dimensions/0'],
    ['duplicate dimension', { ...minimal, dimensions: ['city', 'city'] }, '/spec/dimensions'],
    ['bad measurement', { ...minimal, measurements: ['rtt', 'Timing Total'] }, '/spec/measurements/1'],
    [
      'bad baseURL',
      { ...minimal, catchpoint: { ...minimal.catchpoint, baseURL: 'io.catchpoint.com' } },
      '/spec/catchpoint/baseURL',
    ],
    ['template without fields', { ...minimal, push: { format: 'template' } }, '/spec/push'],
    [
      'tags layout over the tag limit',
      { ...minimal, naming: { layout: 'tags' }, tsdb: { ...minimal.tsdb, maxTags: 4 } },
      '/spec',
    ],
    ['unknown field', { ...minimal, dimension: ['city'] }, '/spec/dimension'],
    ['missing credentials', { tsdb: minimal.tsdb }, '/spec/catchpoint'],
    ['bad duration', { ...minimal, push: { dedupeWindow: '2 hours' } }, '/spec/push/dedupeWindow'],
    [
      'v1 with one key for both',
      {
        ...minimal,
        catchpoint: {
          api: 'v1',
          credentialsSecretRef: { name: 'a', clientIdKey: 'k', clientSecretKey: 'k' },
        },
      },
      '/spec/catchpoint',
    ],
    [
      'tls without an https endpoint',
      { ...minimal, tsdb: { ...minimal.tsdb, tls: { serverName: 'tsdb.example' } } },
      '/spec/tsdb',
    ],
    [
      'a CA from both a Secret and a ConfigMap',
      {
        ...minimal,
        tsdb: { endpoints: ['https://t:4242'], tls: { caRef: { secretName: 'a', configMapName: 'b' } } },
      },
      '/spec/tsdb/tls/caRef',
    ],
    [
      'a CA from neither',
      { ...minimal, tsdb: { endpoints: ['https://t:4242'], tls: { caRef: { key: 'ca.pem' } } } },
      '/spec/tsdb/tls/caRef',
    ],
    [
      'a client certificate and key in one key',
      {
        ...minimal,
        tsdb: {
          endpoints: ['https://t:4242'],
          tls: { clientCertSecretRef: { name: 'c', keyKey: 'tls.crt' } },
        },
      },
      '/spec/tsdb/tls/clientCertSecretRef',
    ],
    [
      'a serverName that is no DNS name',
      { ...minimal, tsdb: { endpoints: ['https://t:4242'], tls: { serverName: 'https://tsdb' } } },
      '/spec/tsdb/tls/serverName',
    ],
    [
      'insecureSkipVerify (verification cannot be turned off)',
      { ...minimal, tsdb: { endpoints: ['https://t:4242'], tls: { insecureSkipVerify: true } } },
      '/spec/tsdb/tls/insecureSkipVerify',
    ],
  ];

  it('tsdb.tls: a CA from a ConfigMap, a client certificate with the kubernetes.io/tls keys by default', () => {
    const spec = validateSpec({
      ...minimal,
      tsdb: {
        // tls applies to the https endpoint; a file:// fallback is allowed beside it.
        endpoints: ['https://10.0.0.7:4242', 'file:///var/spool/points.put'],
        tls: {
          caRef: { configMapName: 'kube-root-ca.crt' },
          clientCertSecretRef: { name: 'tsdb-client' },
          serverName: 'opentsdb.monitoring.svc',
        },
      },
    });
    assert.deepEqual(spec.tsdb.tls, {
      caRef: { configMapName: 'kube-root-ca.crt', key: 'ca.crt' },
      clientCertSecretRef: { name: 'tsdb-client', certKey: 'tls.crt', keyKey: 'tls.key' },
      serverName: 'opentsdb.monitoring.svc',
    });
    const fromSecret = validateSpec({
      ...minimal,
      tsdb: { endpoints: ['https://t:4242'], tls: { caRef: { secretName: 'tsdb-ca', key: 'bundle.pem' } } },
    });
    assert.deepEqual(fromSecret.tsdb.tls?.caRef, { secretName: 'tsdb-ca', key: 'bundle.pem' });
  });

  for (const [name, spec, path] of bad) {
    it(`rejects ${name}, naming ${path}`, () => {
      assert.throws(
        () => validateSpec(spec),
        (err: unknown) => err instanceof InvalidSpecError && err.problems.some((p) => p.path === path),
      );
    });
  }

  it('a manifest lists every problem by path', () => {
    const text = `apiVersion: catchpoint-bridge.io/v1alpha1
kind: CatchpointBridge
metadata: {name: x}
spec:
  tsdb: {endpoints: ["gopher://a"]}
  dimensions: [nowhere]
`;
    assert.throws(
      () => parseCatchpointBridgeManifest(text),
      (err: unknown) =>
        err instanceof InvalidSpecError &&
        ['/spec/catchpoint', '/spec/dimensions/0'].every((p) => err.problems.some((q) => q.path === p)),
    );
  });

  it('push.tokenHeader: a header of its own, and only with a token to carry', () => {
    const token = { tokenSecretRef: { name: 'push' } };
    assert.equal(
      validateSpec({ ...minimal, push: { ...token, tokenHeader: 'X-Push-Token' } }).push.tokenHeader,
      'X-Push-Token',
    );
    for (const header of ['Authorization', 'authorization', 'HOST', 'Content-Type', 'Cookie', 'Connection']) {
      assert.throws(
        () => validateSpec({ ...minimal, push: { ...token, tokenHeader: header } }),
        /tokenHeader must be a header of its own/,
        header,
      );
    }
    assert.throws(
      () => validateSpec({ ...minimal, push: { ...token, tokenHeader: 'X Token' } }),
      InvalidSpecError,
    );
    assert.throws(
      () => validateSpec({ ...minimal, push: { tokenHeader: 'X-Push-Token' } }),
      /push.tokenHeader needs push.tokenSecretRef/,
    );
  });

  it('spool.maxBytes plus the headroom must fit deployment.spoolVolumeSize; unset, the operator sizes it', () => {
    // The defaults, and maxBytes raised alone: the volume follows maxBytes (desired.ts).
    assert.equal(validateSpec(minimal).deployment.spoolVolumeSize, undefined);
    assert.equal(validateSpec({ ...minimal, spool: { maxBytes: '3Gi' } }).spool.maxBytes, '3Gi');
    // Room for 512Mi + 64Mi; exactly 1Gi + 64Mi fits too.
    validateSpec({ ...minimal, deployment: { spoolVolumeSize: '1Gi' } });
    validateSpec({ ...minimal, spool: { maxBytes: '1Gi' }, deployment: { spoolVolumeSize: '1088Mi' } });
    const refused = (maxBytes: string, spoolVolumeSize: string) =>
      assert.throws(
        () => validateSpec({ ...minimal, spool: { maxBytes }, deployment: { spoolVolumeSize } }),
        (err: unknown) =>
          err instanceof InvalidSpecError &&
          err.problems.length === 1 &&
          err.problems[0]!.path === '/spec/deployment/spoolVolumeSize' &&
          err.problems[0]!.message.startsWith(
            `spec.spool.maxBytes (${maxBytes}) plus 64Mi of headroom must fit spec.deployment.spoolVolumeSize (${spoolVolumeSize})`,
          ),
      );
    refused('1Gi', '1Gi');
    refused('1Gi', '1114111Ki'); // 1 KiB short of 1088Mi
    refused('512Mi', '512Mi');
    refused('1', '64Mi');
  });

  it('a spool size that is no quantity is reported once, by its pattern, not by the CEL rule', () => {
    assert.throws(
      () => validateSpec({ ...minimal, spool: { maxBytes: 'lots' }, deployment: { spoolVolumeSize: '1Gi' } }),
      (err: unknown) =>
        err instanceof InvalidSpecError &&
        err.problems.length === 1 &&
        err.problems[0]!.path === '/spec/spool/maxBytes',
    );
  });
});
