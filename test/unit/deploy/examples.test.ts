// deploy/examples without a cluster: each CatchpointBridge passes the same validation the bridge
// runs on a config file (schema + the CRD's CEL rules), references only Secrets and keys the file
// itself provides, and full.yaml really sets every field of the spec. The API server's verdict on
// the same files is in test/e2e/chart/deploy.test.ts.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { parseAllDocuments } from 'yaml';
import { CatchpointBridgeSpec, SEED_DIMENSIONS } from '../../../src/api/schema.ts';
import { parseCatchpointBridgeManifest } from '../../../src/api/validate.ts';

const EXAMPLES_DIR = join(import.meta.dirname, '../../../deploy/examples');
const files = (await readdir(EXAMPLES_DIR)).filter((f) => f.endsWith('.yaml')).sort();

interface Doc {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  stringData?: Record<string, string>;
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

async function load(file: string): Promise<{ text: string; docs: Doc[] }> {
  const text = await readFile(join(EXAMPLES_DIR, file), 'utf8');
  const docs = parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${file}: YAML errors`);
    return d.toJS() as Doc;
  });
  return { text, docs: docs.filter((d) => d !== null) };
}

describe('examples', () => {
  it('the three documented examples exist', () => {
    for (const f of ['minimal.yaml', 'seed-compatible.yaml', 'full.yaml']) assert.ok(files.includes(f), f);
  });

  for (const file of files) {
    it(`${file}: the CatchpointBridge validates and its Secrets are in the file`, async () => {
      const { text, docs } = await load(file);
      const bridge = parseCatchpointBridgeManifest(text);
      assert.equal(
        bridge.metadata.namespace,
        undefined,
        'examples apply into the namespace kubectl -n names',
      );

      const secrets = new Map<string, Record<string, string>>();
      for (const doc of docs.filter((d) => d.kind === 'Secret')) {
        assert.equal(doc.data, undefined, `${doc.metadata?.name}: placeholders go in stringData`);
        for (const value of Object.values(doc.stringData ?? {})) assert.match(value, /^REPLACE-WITH-/);
        secrets.set(doc.metadata?.name ?? '', doc.stringData ?? {});
      }
      const needs = (name: string, key: string) => {
        assert.ok(secrets.get(name)?.[key] !== undefined, `${file}: Secret ${name} with key ${key}`);
      };
      const { catchpoint, push, tsdb } = bridge.spec;
      const creds = catchpoint.credentialsSecretRef;
      if (catchpoint.api === 'v1') {
        needs(creds.name, creds.clientIdKey);
        needs(creds.name, creds.clientSecretKey);
      } else {
        needs(creds.name, creds.apiKeyKey);
      }
      assert.ok(push.tokenSecretRef, `${file}: pushes are authenticated`);
      needs(push.tokenSecretRef.name, push.tokenSecretRef.key);
      const auth = tsdb.auth?.secretRef;
      if (auth !== undefined) {
        for (const key of [auth.usernameKey, auth.passwordKey, auth.tokenKey]) if (key) needs(auth.name, key);
      }
    });
  }

  it('minimal.yaml is minimal: only the fields without defaults are set', async () => {
    const { text, docs } = await load('minimal.yaml');
    parseCatchpointBridgeManifest(text);
    const cr = docs.find((d) => d.kind === 'CatchpointBridge');
    assert.deepEqual(Object.keys(cr?.spec ?? {}).sort(), ['catchpoint', 'push', 'tsdb']);
  });

  it('seed-compatible.yaml keeps the seed: API v1, its seven dimensions, rtt and status, seed naming', async () => {
    const { text } = await load('seed-compatible.yaml');
    const { spec } = parseCatchpointBridgeManifest(text);
    assert.equal(spec.catchpoint.api, 'v1');
    assert.deepEqual(spec.dimensions, [...SEED_DIMENSIONS]);
    assert.deepEqual(spec.measurements, ['rtt', 'status']);
    assert.deepEqual(spec.naming, { layout: 'seed', prefix: 'catchpoint' });
  });

  /**
   * Fields full.yaml leaves out because the schema forbids setting them together with others, or
   * (the claim) because they only mean something with another choice, shown there in a comment.
   */
  const EXCLUSIVE = new Set([
    '/tsdb/auth/secretRef/tokenKey',
    '/tsdb/tls/caRef/secretName',
    '/spool/storage/persistentVolumeClaim',
  ]);

  it('full.yaml sets every field of the spec (update it when the schema grows)', async () => {
    const { docs } = await load('full.yaml');
    const spec = docs.find((d) => d.kind === 'CatchpointBridge')?.spec;
    const missing: string[] = [];
    const walk = (schema: TSchema, value: unknown, path: string) => {
      if (EXCLUSIVE.has(path)) return;
      if (value === undefined) {
        missing.push(path);
        return;
      }
      if (schema.type === 'object' && schema.properties !== undefined) {
        for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
          walk(child, (value as Record<string, unknown>)[key], `${path}/${key}`);
        }
      } else if (schema.type === 'object' && schema.patternProperties !== undefined) {
        if (Object.keys(value as object).length === 0) missing.push(`${path}/<any key>`);
      }
    };
    walk(CatchpointBridgeSpec, spec, '');
    assert.deepEqual(missing, []);
  });
});
