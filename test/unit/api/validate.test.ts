import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidSpecError, parseCatchpointBridgeManifest, validateSpec } from '../../../src/api/validate.ts';

const minimal = {
  catchpoint: { credentialsSecretRef: { name: 'catchpoint-api' } },
  tsdb: { endpoints: ['http://opentsdb.monitoring:4242'] },
};

test('the smallest useful spec gets the seed-compatible defaults', () => {
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
      catchpoint: { api: 'v1', credentialsSecretRef: { name: 'a', clientIdKey: 'k', clientSecretKey: 'k' } },
    },
    '/spec/catchpoint',
  ],
];

for (const [name, spec, path] of bad) {
  test(`rejects ${name}, naming ${path}`, () => {
    assert.throws(
      () => validateSpec(spec),
      (err: unknown) => err instanceof InvalidSpecError && err.problems.some((p) => p.path === path),
    );
  });
}

test('a manifest lists every problem by path', () => {
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
