/**
 * The contract server is only worth the writer tests run against it if it enforces the contract:
 * these tests hit it with raw requests, including the ones our writer must never send.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { type StrictOpenTsdb, startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';

const TS = 1_700_000_000;
const good = (i = 0) => ({ metric: 'sys.cpu', timestamp: TS + i, value: i, tags: { host: 'a' } });

describe('strict OpenTSDB /api/put contract', () => {
  let tsdb: StrictOpenTsdb;
  before(async () => {
    tsdb = await startStrictOpenTsdb();
  });
  after(async () => {
    await tsdb?.close();
  });

  async function put(body: string | Buffer | Readable, query = '', headers: Record<string, string> = {}) {
    const res = await request(`${tsdb.httpUrl}/api/put${query}`, { method: 'POST', body, headers });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  }

  it('204 when every point is stored, 200 with counts under summary/details', async () => {
    assert.equal((await put(JSON.stringify(good()))).status, 204);
    assert.deepEqual((await put(JSON.stringify([good(1)]), '?summary')).json, { success: 1, failed: 0 });
    assert.deepEqual((await put(JSON.stringify([good(2)]), '?details')).json, {
      success: 1,
      failed: 0,
      errors: [],
    });
  });

  it('400 with details lists only the bad points; the good ones are stored', async () => {
    tsdb.reset();
    const body = `[${JSON.stringify(good())},{"metric":"m","timestamp":${TS},"value":1.0,"tags":{"b":"2","a":"1","port":8080}}]`;
    const { status, json } = await put(body, '?details');
    assert.equal(status, 400);
    assert.equal(json.success, 1);
    assert.equal(json.failed, 1);
    assert.deepEqual(json.errors[0].datapoint, {
      metric: 'm',
      timestamp: TS,
      value: '1.0',
      tags: { port: 8080, a: '1', b: '2' },
    });
    assert.equal(json.errors[0].error, 'Invalid tag value for port: not a string');
    assert.equal(tsdb.accepted.length, 1);
    const plain = await put(`[{"metric":"m","timestamp":${TS},"value":"NaN","tags":{"a":"b"}}]`);
    assert.equal(plain.status, 400);
    assert.equal(plain.json.error.message, 'One or more data points had errors');
  });

  it('refuses whole bodies it cannot read, storing nothing', async () => {
    tsdb.reset();
    const cases: [string, string][] = [
      ['', 'Missing request content'],
      ['metric=x', 'The JSON must start as an object or an array'],
      ['[{"metric":', 'Unable to parse the given JSON'],
      ['[]', 'No datapoints found in content'],
      [`[${JSON.stringify(good())},null]`, 'Unable to parse the given JSON'],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await put(body, '?details');
      assert.equal(status, 400, body);
      assert.equal(json.error.message, message);
    }
    assert.equal(tsdb.accepted.length, 0);
  });

  it('treats chunked, Expect: 100-continue and bodies over 8192 wire bytes as "chunked": 400 HTML', async () => {
    tsdb.reset();
    const small = JSON.stringify([good()]);
    const chunked = await put(Readable.from([Buffer.from(small)]));
    assert.equal(chunked.status, 400);
    assert.match(chunked.text, /<h1>Chunked request not supported\.<\/h1>/);
    assert.equal(tsdb.requests.at(-1)?.chunked, true);

    const big = JSON.stringify(Array.from({ length: 200 }, (_, i) => good(i)));
    assert.ok(Buffer.byteLength(big) > 8192);
    assert.equal((await put(big)).status, 400);
    // The same points gzipped under 8192 wire bytes pass: the check is on the wire size.
    const gz = gzipSync(big);
    assert.ok(gz.length <= 8192);
    assert.equal((await put(gz, '', { 'content-encoding': 'gzip' })).status, 204);

    const expect = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${tsdb.httpUrl}/api/put`, {
        method: 'POST',
        headers: { expect: '100-continue', 'content-length': Buffer.byteLength(small) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.on('continue', () => req.end(small));
    });
    assert.equal(expect, 400);
    assert.equal(tsdb.accepted.length, 200);
  });

  it('with enable_chunked, closes the connection above max_chunk without answering', async () => {
    const strict = await startStrictOpenTsdb({ enableChunked: true, maxChunk: 20_000 });
    try {
      const mid = JSON.stringify(Array.from({ length: 200 }, (_, i) => good(i)));
      const res = await request(`${strict.httpUrl}/api/put`, { method: 'POST', body: mid });
      await res.body.dump();
      assert.equal(res.statusCode, 204);
      const huge = JSON.stringify(Array.from({ length: 1000 }, (_, i) => good(i)));
      // Reset while we still upload, or closed before the answer: either way no response.
      await assert.rejects(
        request(`${strict.httpUrl}/api/put`, { method: 'POST', body: huge }),
        (err: Error) =>
          ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes((err as { code?: string }).code ?? ''),
      );
      assert.equal(strict.requests.at(-1)?.status, 'closed');
    } finally {
      await strict.close();
    }
  });

  it('closes the connection on a corrupt gzip body', async () => {
    await assert.rejects(put(Buffer.from('not gzip'), '', { 'content-encoding': 'gzip' }), {
      code: 'UND_ERR_SOCKET',
    });
  });

  it('applies OpenTSDB value and timestamp rules', async () => {
    tsdb.reset();
    const body = [
      `{"metric":"m","timestamp":${TS},"value":9223372036854775808,"tags":{"a":"b"}}`,
      `{"metric":"m","timestamp":${TS},"value":1e400,"tags":{"a":"b"}}`,
      `{"metric":"m","timestamp":${TS}000,"value":"1.5","tags":{"a":"b"}}`,
      `{"metric":"m","timestamp":5000000000,"value":1,"tags":{"a":"b"}}`,
      `{"metric":"m","value":1,"tags":{"a":"b"}}`,
    ];
    const { json } = await put(`[${body.join(',')}]`, '?details');
    assert.deepEqual(
      json.errors.map((e: { error: string }) => e.error.replace(/[:=].*/, '')),
      ['Unable to parse value to a number', 'value is NaN or Infinite', 'bad timestamp', 'Invalid timestamp'],
    );
    assert.deepEqual(
      tsdb.accepted.map((p) => [p.timestamp, p.value]),
      [[TS * 1000, 1.5]],
    );
  });

  it('fault controls: failNext, down/up', async () => {
    tsdb.failNext(2, 503);
    assert.equal((await put(JSON.stringify(good()))).status, 503);
    assert.equal((await put(JSON.stringify(good()))).status, 503);
    assert.equal((await put(JSON.stringify(good()))).status, 204);
    await tsdb.down();
    // A kept-alive socket sees the close ("other side closed"), a new one is refused.
    await assert.rejects(put(JSON.stringify(good())), (err: Error) =>
      ['ECONNREFUSED', 'UND_ERR_SOCKET'].includes((err as { code?: string }).code ?? ''),
    );
    await assert.rejects(put(JSON.stringify(good())), { code: 'ECONNREFUSED' });
    await tsdb.up();
    assert.equal((await put(JSON.stringify(good()))).status, 204);
  });
});
