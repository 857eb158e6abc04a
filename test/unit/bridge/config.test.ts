import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { referencedConfigMaps, referencedSecrets } from '../../../src/api/references.ts';
import { MissingSecretError } from '../../../src/api/secret-data.ts';
import { validateSpec } from '../../../src/api/validate.ts';
import { InvalidTlsMaterialError, resolveConfig, resolveSecrets } from '../../../src/bridge/config.ts';
import { createTestPki } from '../../harness/test-pki.ts';

const pki = createTestPki();
after(() => pki.close());
const ca = pki.ca('tsdb-ca');
const client = pki.issue(ca, 'bridge', { client: true });
const other = pki.issue(ca, 'other', { client: true });

const spec = (tls: Record<string, unknown>) =>
  validateSpec({
    catchpoint: { credentialsSecretRef: { name: 'cp' } },
    tsdb: { endpoints: ['https://10.0.0.7:4242'], tls },
  });

type Store = Record<string, Record<string, string>>;
const reader = (store: Store) => (name: string, key: string) => store[name]?.[key];
const secrets: Store = {
  cp: { apiKey: 'k' },
  'tsdb-ca': { 'ca.crt': ca.cert },
  'tsdb-client': { 'tls.crt': client.cert, 'tls.key': client.key },
};

describe('config', () => {
  it('tsdb.tls resolves to the PEM text and server name undici takes', () => {
    const s = spec({
      caRef: { configMapName: 'kube-root-ca.crt' },
      clientCertSecretRef: { name: 'tsdb-client' },
      serverName: 'tsdb.test',
    });
    const config = resolveConfig(
      'ns/b',
      1,
      s,
      reader(secrets),
      reader({ 'kube-root-ca.crt': { 'ca.crt': `${ca.cert}\n` } }),
    );
    assert.deepEqual(config.tsdbTls, {
      ca: ca.cert.trim(),
      cert: client.cert.trim(),
      key: client.key.trim(),
      servername: 'tsdb.test',
    });
    assert.deepEqual(referencedSecrets(s), ['cp', 'tsdb-client']);
    assert.deepEqual(referencedConfigMaps(s), ['kube-root-ca.crt']);

    const fromSecret = spec({ caRef: { secretName: 'tsdb-ca' } });
    assert.equal(
      resolveConfig('ns/b', 1, fromSecret, reader(secrets), reader({})).tsdbTls?.ca,
      ca.cert.trim(),
    );
    assert.deepEqual(referencedSecrets(fromSecret), ['cp', 'tsdb-ca']);
    assert.deepEqual(referencedConfigMaps(fromSecret), []);
  });

  it('without tsdb.tls there is no TLS material', () => {
    const s = validateSpec({
      catchpoint: { credentialsSecretRef: { name: 'cp' } },
      tsdb: { endpoints: ['https://tsdb.example:4242'] },
    });
    assert.equal(resolveConfig('ns/b', 1, s, reader(secrets), reader({})).tsdbTls, undefined);
  });

  it('a missing ConfigMap key or client key is named with its kind', () => {
    const s = spec({ caRef: { configMapName: 'cas' }, clientCertSecretRef: { name: 'tsdb-client' } });
    assert.throws(
      () =>
        resolveSecrets(
          'ns/b',
          1,
          s,
          reader({ ...secrets, 'tsdb-client': { 'tls.crt': client.cert } }),
          reader({}),
        ),
      (err: unknown) =>
        err instanceof MissingSecretError &&
        err.message === 'missing data: key ca.crt of ConfigMap cas, key tls.key of Secret tsdb-client',
    );
  });

  it('TLS material that does not parse is refused, naming where it came from and never its content', () => {
    const s = spec({ caRef: { secretName: 'tsdb-ca' }, clientCertSecretRef: { name: 'tsdb-client' } });
    const cases: Array<[Store, RegExp]> = [
      [
        { 'tsdb-ca': { 'ca.crt': 'not a certificate' } },
        /caRef \(Secret tsdb-ca, key ca\.crt\) holds no PEM certificate/,
      ],
      [
        { 'tsdb-ca': { 'ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' } },
        /caRef \(Secret tsdb-ca, key ca\.crt\): certificate 1 does not parse/,
      ],
      [
        { 'tsdb-client': { 'tls.crt': client.cert, 'tls.key': other.key } },
        /clientCertSecretRef \(Secret tsdb-client, keys tls\.crt and tls\.key\): .*mismatch/,
      ],
      [
        { 'tsdb-client': { 'tls.crt': client.cert, 'tls.key': 'garbage key' } },
        /clientCertSecretRef \(Secret tsdb-client/,
      ],
    ];
    for (const [patch, message] of cases) {
      assert.throws(
        () => resolveConfig('ns/b', 1, s, reader({ ...secrets, ...patch }), reader({})),
        (err: unknown) => {
          assert.ok(err instanceof InvalidTlsMaterialError, String(err));
          assert.equal(err.code, 'CPB_ERR_TLS_MATERIAL');
          assert.match(err.message, message);
          assert.doesNotMatch(err.message, /BEGIN|garbage|AAAA/);
          return true;
        },
      );
    }
    // The operator's presence check (stand-in values) does not parse anything.
    assert.doesNotThrow(() =>
      resolveSecrets(
        '',
        0,
        s,
        () => 'present',
        () => 'present',
      ),
    );
  });

  it('absent or empty Catchpoint credentials mean no node directory, not a missing Secret', () => {
    const v2 = validateSpec({
      catchpoint: { credentialsSecretRef: { name: 'cp' } },
      push: { tokenSecretRef: { name: 'push' } },
      tsdb: { endpoints: ['http://t:4242'] },
    });
    const push = { push: { token: 't' } };
    const cases: Array<Record<string, string> | undefined> = [
      undefined,
      {},
      { apiKey: '' },
      { apiKey: ' \n' },
    ];
    for (const cp of cases) {
      const store: Store = cp === undefined ? push : { ...push, cp };
      assert.equal(resolveSecrets('ns/b', 1, v2, reader(store)).catchpoint, undefined, JSON.stringify(cp));
    }
    assert.deepEqual(resolveSecrets('ns/b', 1, v2, reader({ ...push, cp: { apiKey: 'k\n' } })).catchpoint, {
      apiKey: 'k',
    });
    // Other Secrets are still required.
    assert.throws(
      () => resolveSecrets('ns/b', 1, v2, reader({})),
      (err: unknown) =>
        err instanceof MissingSecretError && err.message === 'missing data: key token of Secret push',
    );

    const v1 = validateSpec({
      catchpoint: { api: 'v1', credentialsSecretRef: { name: 'cp' } },
      tsdb: { endpoints: ['http://t:4242'] },
    });
    assert.equal(
      resolveSecrets('ns/b', 1, v1, reader({ cp: { clientId: '', clientSecret: '' } })).catchpoint,
      undefined,
    );
    assert.deepEqual(
      resolveSecrets('ns/b', 1, v1, reader({ cp: { clientId: 'i', clientSecret: 's' } })).catchpoint,
      {
        clientId: 'i',
        clientSecret: 's',
      },
    );
    // Half a v1 credential is a mistake, not a choice: the other half is missing.
    assert.throws(
      () => resolveSecrets('ns/b', 1, v1, reader({ cp: { clientId: 'i' } })),
      (err: unknown) =>
        err instanceof MissingSecretError && err.message === 'missing data: key clientSecret of Secret cp',
    );
  });
});
