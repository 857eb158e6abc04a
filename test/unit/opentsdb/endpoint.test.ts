import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseFileEndpoint,
  parseHttpEndpoint,
  parseTcpEndpoint,
  redactUrl,
} from '../../../src/opentsdb/endpoint.ts';

const badEndpoint = (message: RegExp) => (err: unknown) =>
  (err as { code?: string }).code === 'CPB_ERR_TSDB_BAD_ENDPOINT' && message.test((err as Error).message);

describe('parseHttpEndpoint', () => {
  it('posts to {base}/api/put?details, keeping the endpoint query', () => {
    assert.deepEqual(parseHttpEndpoint('http://tsdb:4242'), {
      origin: 'http://tsdb:4242',
      path: '/api/put?details',
      redacted: 'http://tsdb:4242',
      authorization: undefined,
    });
    const vm = parseHttpEndpoint('https://vm.example/opentsdb//?extra_label=env=prod');
    assert.equal(vm.origin, 'https://vm.example');
    assert.equal(vm.path, '/opentsdb/api/put?details&extra_label=env=prod');
    assert.equal(vm.redacted, 'https://vm.example/opentsdb');
  });

  it('asks for ?sync, with a whole-millisecond sync_timeout of at least 1', () => {
    assert.equal(parseHttpEndpoint('http://h:1', { sync: true }).path, '/api/put?details&sync');
    assert.equal(
      parseHttpEndpoint('http://h:1/b?x=1', { sync: true, syncTimeoutMs: 2500.7 }).path,
      '/b/api/put?details&sync&sync_timeout=2500&x=1',
    );
    assert.equal(
      parseHttpEndpoint('http://h:1', { sync: true, syncTimeoutMs: 0 }).path,
      '/api/put?details&sync&sync_timeout=1',
    );
    assert.equal(parseHttpEndpoint('http://h:1', { syncTimeoutMs: 100 }).path, '/api/put?details');
  });

  it('authorizes with the bearer token, the user and password, or the URL credentials', () => {
    const base64 = (s: string) => Buffer.from(s).toString('base64');
    assert.equal(parseHttpEndpoint('http://h:1', { auth: { token: 't' } }).authorization, 'Bearer t');
    assert.equal(
      parseHttpEndpoint('http://h:1', { auth: { username: 'w', password: 'pa:ss' } }).authorization,
      `Basic ${base64('w:pa:ss')}`,
    );
    const inUrl = parseHttpEndpoint('http://u%40x:p%2Fw@h:1/b');
    assert.equal(inUrl.authorization, `Basic ${base64('u@x:p/w')}`);
    assert.equal(inUrl.redacted, 'http://h:1/b');
    assert.equal(
      parseHttpEndpoint('http://u:p@h:1', { auth: { token: 't' } }).authorization,
      'Bearer t',
      'auth wins over the URL',
    );
  });
});

describe("every writer's URL", () => {
  it("must parse and have that writer's scheme; the error names the writer", () => {
    const cases: [(endpoint: string) => unknown, string, string, string][] = [
      [parseHttpEndpoint, 'HTTP', 'tcp://h:1', 'an http(s) URL, got tcp:'],
      [parseTcpEndpoint, 'telnet', 'http://h:1', 'a tcp:// URL, got http:'],
      [parseFileEndpoint, 'file', 'tcp://h:1', 'a file:// URL, got tcp:'],
    ];
    for (const [parse, writer, other, needs] of cases) {
      assert.throws(() => parse('::'), badEndpoint(new RegExp(`^invalid ${writer} endpoint URL$`)));
      assert.throws(
        () => parse(other),
        (err: Error) => badEndpoint(/./)(err) && err.message === `${writer} writer needs ${needs}`,
      );
    }
  });
});

describe('parseTcpEndpoint', () => {
  it('reads host and port; IPv6 bare for net.connect, bracketed in the name', () => {
    assert.deepEqual(parseTcpEndpoint('tcp://tsdb:4242'), {
      host: 'tsdb',
      port: 4242,
      name: 'tcp://tsdb:4242',
    });
    assert.deepEqual(parseTcpEndpoint('tcp://[::1]:4242/ignored'), {
      host: '::1',
      port: 4242,
      name: 'tcp://[::1]:4242',
    });
  });

  it('needs a host and a port', () => {
    assert.throws(() => parseTcpEndpoint('tcp://host'), badEndpoint(/needs a host and a port/));
  });
});

describe('parseFileEndpoint', () => {
  it('names an absolute path', () => {
    assert.equal(parseFileEndpoint('file:///var/log/points%20a.put'), '/var/log/points a.put');
  });

  it('needs a URL without a host', () => {
    assert.throws(() => parseFileEndpoint('file://host/x'), badEndpoint(/file:\/\/\/absolute\/path/));
  });
});

describe('redactUrl', () => {
  it('drops credentials and query, keeps the path', () => {
    assert.equal(redactUrl('https://u:secret@tsdb:4242/base?token=x'), 'https://tsdb:4242/base');
    assert.equal(redactUrl('tcp://tsdb:4242'), 'tcp://tsdb:4242');
    assert.equal(redactUrl('file:///var/log/p.put'), 'file:///var/log/p.put');
    assert.equal(redactUrl('not a url'), '(unparseable URL)');
  });
});
