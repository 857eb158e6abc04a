import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpretPutResponse, matchErrorsToLines, pointKey } from '../../../src/opentsdb/put-response.ts';

describe('interpretPutResponse', () => {
  it('204 and 200 without failures are ok', () => {
    assert.deepEqual(interpretPutResponse(204, ''), { kind: 'ok' });
    assert.deepEqual(interpretPutResponse(200, '{"success":3,"failed":0,"errors":[]}'), { kind: 'ok' });
  });

  it('400 with details is a partial success', () => {
    const v = interpretPutResponse(
      400,
      '{"success":1,"failed":1,"errors":[{"datapoint":{"metric":"m"},"error":"Unknown metric"}]}',
    );
    assert.equal(v.kind, 'partial');
    assert.equal(v.kind === 'partial' && v.errors[0]?.error, 'Unknown metric');
  });

  it('400 with an error object or HTML is a whole-request refusal', () => {
    assert.deepEqual(
      interpretPutResponse(400, '{"error":{"code":400,"message":"Unable to parse the given JSON"}}'),
      {
        kind: 'refused',
        reason: 'Unable to parse the given JSON',
      },
    );
    const html =
      '<html><body><h2>Bad Request</h2><blockquote><h1>Chunked request not supported.</h1></blockquote>';
    assert.deepEqual(interpretPutResponse(400, html), {
      kind: 'refused',
      reason: 'Chunked request not supported.',
    });
    assert.equal(interpretPutResponse(413, 'too large').kind, 'refused');
  });

  it('a 400 that does not blame the body is misconfiguration, not bad points', () => {
    const vmWrongPath =
      'remoteAddr: "127.0.0.1:40126"; requestURI: /foo/api/put; unexpected path requested on HTTP OpenTSDB server: "/foo/api/put"\n';
    const v = interpretPutResponse(400, vmWrongPath);
    assert.equal(v.kind === 'retry' && v.code, 'CPB_ERR_TSDB_HTTP_STATUS');
    const vmBadJson = 'requestURI: /api/put; cannot parse HTTP OpenTSDB json: cannot parse JSON';
    assert.equal(interpretPutResponse(400, vmBadJson).kind, 'refused');
    assert.equal(interpretPutResponse(400, 'json array decode error').kind, 'refused');
    assert.equal(
      interpretPutResponse(400, '{"error":{"code":400,"message":"Missing tsd.mode"}}').kind,
      'retry',
    );
  });

  it("nginx's answer to a missing or unverified client certificate is a TLS error, not bad points", () => {
    // nginx 1.22 with `ssl_verify_client on`: its 496 and 495, sent as 400 with an HTML page.
    const page = (title: string) =>
      `<html>\r\n<head><title>400 ${title}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>${title}</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n`;
    for (const title of ['No required SSL certificate was sent', 'The SSL certificate error']) {
      const v = interpretPutResponse(400, page(title));
      assert.equal(v.kind, 'retry', title);
      assert.equal(v.kind === 'retry' && v.code, 'CPB_ERR_TSDB_TLS');
      assert.equal(v.kind === 'retry' && v.tlsFailure, 'client_certificate');
      assert.match(v.kind === 'retry' ? v.reason : '', new RegExp(title));
    }
  });

  it('storage trouble and overload are retryable', () => {
    const timeout = interpretPutResponse(400, '{"success":0,"failed":0,"timeouts":3}');
    assert.equal(timeout.kind === 'retry' && timeout.code, 'CPB_ERR_TSDB_STORAGE');
    const timedout = interpretPutResponse(
      400,
      '{"error":{"code":400,"message":"The put call has timedout with 0 successful writes"}}',
    );
    assert.equal(timedout.kind, 'retry');
    for (const status of [408, 429, 500, 502, 503, 504]) {
      const v = interpretPutResponse(status, '');
      assert.equal(v.kind === 'retry' && v.code, 'CPB_ERR_TSDB_UNAVAILABLE', String(status));
    }
  });

  it('configuration statuses are retryable with their own code', () => {
    for (const status of [301, 401, 403, 404, 405]) {
      const v = interpretPutResponse(status, '');
      assert.equal(v.kind === 'retry' && v.code, 'CPB_ERR_TSDB_HTTP_STATUS', String(status));
    }
  });

  it('200 with failures under sync is a partial report (the writer decides)', () => {
    const v = interpretPutResponse(
      200,
      '{"success":1,"failed":1,"errors":[{"datapoint":{},"error":"Please throttle writes"}]}',
    );
    assert.equal(v.kind, 'partial');
  });
});

describe('matchErrorsToLines', () => {
  const lines = [
    '{"metric":"a","timestamp":1700000000000,"value":1,"tags":{"x":"1","y":"2"}}',
    '{"metric":"b","timestamp":1700000000000,"value":1.5,"tags":{"x":"1"}}',
    'not json',
    '{"metric":"a","timestamp":1700000000000,"value":1,"tags":{"x":"1","y":"2"}}',
  ];

  it('matches the server echo (value as string, tags reordered)', () => {
    const idx = matchErrorsToLines(lines, 0, 4, [
      { datapoint: { metric: 'b', timestamp: 1700000000000, value: '1.5', tags: { x: '1' } }, error: 'e' },
    ]);
    assert.deepEqual(idx, [1]);
  });

  it('matches identical lines one error each', () => {
    const echo = { metric: 'a', timestamp: 1700000000000, value: '1', tags: { y: '2', x: '1' } };
    assert.deepEqual(
      matchErrorsToLines(lines, 0, 4, [
        { datapoint: echo, error: 'e' },
        { datapoint: echo, error: 'e' },
      ]),
      [0, 3],
    );
    assert.equal(
      matchErrorsToLines(lines, 0, 4, [
        { datapoint: echo, error: 'e' },
        { datapoint: echo, error: 'e' },
        { datapoint: echo, error: 'e' },
      ]),
      undefined,
    );
  });

  it('returns undefined when an error matches no line of the range', () => {
    assert.equal(matchErrorsToLines(lines, 0, 1, [{ datapoint: { metric: 'b' }, error: 'e' }]), undefined);
  });

  it('pointKey compares values as numbers', () => {
    assert.equal(
      pointKey({ metric: 'm', timestamp: 1, value: '1.50', tags: {} }),
      pointKey({ metric: 'm', timestamp: 1, value: 1.5, tags: {} }),
    );
  });
});
