import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { createWriter, createWriterForEndpoints } from '../../../src/opentsdb/create-writer.ts';
import { FailoverWriter } from '../../../src/opentsdb/failover-writer.ts';
import { FileWriter } from '../../../src/opentsdb/file-writer.ts';
import { HttpWriter } from '../../../src/opentsdb/http-writer.ts';
import { TelnetWriter } from '../../../src/opentsdb/telnet-writer.ts';

const logger = pino({ level: 'silent' });

describe('createWriter', () => {
  it('picks the writer by scheme', async () => {
    const cases: [string, unknown][] = [
      ['http://127.0.0.1:4242', HttpWriter],
      ['https://tsdb.example:443/opentsdb', HttpWriter],
      ['tcp://127.0.0.1:4242', TelnetWriter],
      ['file:///tmp/cpb-test/points.put', FileWriter],
    ];
    for (const [endpoint, type] of cases) {
      const w = createWriter(endpoint, {}, logger);
      assert.ok(w instanceof (type as new (...a: never[]) => unknown), endpoint);
      await w.close();
    }
  });

  it('refuses other schemes and non-URLs with a coded, non-retryable error', () => {
    for (const endpoint of ['udp://h:4242', 'ftp://x', 'localhost:4242x', '']) {
      assert.throws(
        () => createWriter(endpoint, {}, logger),
        (err: unknown) =>
          (err as { code?: string; retryable?: boolean }).code === 'CPB_ERR_TSDB_BAD_ENDPOINT',
        endpoint,
      );
    }
    assert.throws(() => createWriter('tcp://host', {}, logger), /needs a host and a port/);
  });

  it('never shows credentials in endpoint names or errors', async () => {
    const w = createWriter('http://user:s3cret@127.0.0.1:4242/base?x=1', {}, logger);
    assert.equal(w.endpoint, 'http://127.0.0.1:4242/base');
    await w.close();
    assert.throws(
      () => createWriter('gopher://user:s3cret@h', {}, logger),
      (err: Error) => !err.message.includes('s3cret'),
    );
  });

  it('several endpoints make a failover writer', async () => {
    const w = createWriterForEndpoints(['http://127.0.0.1:1', 'tcp://127.0.0.1:2'], {}, logger);
    assert.ok(w instanceof FailoverWriter);
    assert.equal(w.endpoint, 'http://127.0.0.1:1,tcp://127.0.0.1:2');
    await w.close();
    assert.throws(() => createWriterForEndpoints([], {}, logger), /no TSDB endpoint/);
  });
});
