import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PushFormatError, PushParseError, type PushParseErrorCode } from '../../../src/catchpoint/errors.ts';
import { readMeasurement } from '../../../src/catchpoint/measurement.ts';
import { parsePush, statusUnknown } from '../../../src/catchpoint/push.ts';
import type { CatchpointPush, PushFormat, TemplateFieldMap } from '../../../src/catchpoint/types.ts';

const FIXTURES = new URL('../../fixtures/catchpoint/', import.meta.url);
const fixture = (name: string): Buffer => readFileSync(new URL(name, FIXTURES));
const JSON_FORMAT: PushFormat = { type: 'json' };

/** Identity fields only (the parsed body rides along under symbol keys). */
function identity(push: CatchpointPush): Record<string, unknown> {
  return {
    testId: push.testId,
    nodeId: push.nodeId,
    nodeName: push.nodeName,
    asn: push.asn,
    timestampMs: push.timestampMs,
    errorCode: push.errorCode,
  };
}

function expectParseError(
  body: string | Buffer,
  code: PushParseErrorCode,
  path: string,
  format: PushFormat = JSON_FORMAT,
): PushParseError {
  let caught: unknown;
  try {
    parsePush(body, format);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PushParseError, `expected PushParseError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.path, path);
  assert.equal(caught.statusCode, 400);
  return caught;
}

/** The DNS v3 sample with its top-level or Summary fields replaced. */
function dns(top: Record<string, unknown> = {}, summary: Record<string, unknown> = {}): string {
  const base = JSON.parse(fixture('dns-direct-v3.json').toString('utf8')) as Record<string, unknown>;
  const merged = { ...base, ...top };
  if (top.Summary === undefined) merged.Summary = { ...(base.Summary as object), ...summary };
  return JSON.stringify(merged);
}

describe('parsePush: real default-JSON samples', () => {
  it('reads the DNS v3 sample (NS1 seed comment) with the UTC timestamp and its milliseconds', () => {
    const push = parsePush(fixture('dns-direct-v3.json'), JSON_FORMAT);
    assert.deepEqual(identity(push), {
      testId: '12345',
      nodeId: '312',
      nodeName: 'Jinan, CN - Unicom',
      asn: '4837',
      // 2016-02-26T01:04:49.609Z: read as UTC, never as the host's local time.
      timestampMs: 1456448689609,
      errorCode: undefined,
    });
    assert.equal(new Date(push.timestampMs).toISOString(), '2016-02-26T01:04:49.609Z');
    assert.equal(readMeasurement(push, 'timing.total'), 158);
  });

  it('reads the web Chrome v4/V5 sample: Error.Any without Code is not a failed run', () => {
    const push = parsePush(fixture('web-chrome-v4.json'), JSON_FORMAT);
    assert.deepEqual(identity(push), {
      testId: '464062',
      nodeId: '540',
      nodeName: 'Frankfurt, DE - AWS',
      asn: '16509',
      timestampMs: Date.UTC(2021, 1, 2, 13, 15, 57, 179),
      errorCode: undefined,
    });
    assert.equal(push.timestampMs, 1612271757179);
  });

  it('accepts a string body as well as a Buffer, and keeps the parsed body readable', () => {
    const push = parsePush(fixture('web-chrome-v4.json').toString('utf8'), JSON_FORMAT);
    assert.equal(push.testId, '464062');
    // The body stays readable for the fields the parser does not model, through the measurement reader.
    assert.equal(readMeasurement(push, 'timing.total'), 5754);
  });

  it('does not put the body into JSON.stringify(push)', () => {
    const push = parsePush(fixture('web-chrome-v4.json'), JSON_FORMAT);
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(push))).sort(), [
      'asn',
      'nodeId',
      'nodeName',
      'testId',
      'timestampMs',
    ]);
  });

  it('gives every parsed push the same own-property order', () => {
    const a = parsePush(fixture('dns-direct-v3.json'), JSON_FORMAT);
    const b = parsePush(fixture('web-chrome-v4.json'), JSON_FORMAT);
    assert.deepEqual(Reflect.ownKeys(a), Reflect.ownKeys(b));
  });
});

describe('parsePush: failures and Error.Code', () => {
  it('reads Error.Code as the errorCode (illustrative DNS failure)', () => {
    const push = parsePush(fixture('illustrative/dns-failure-v3.json'), JSON_FORMAT);
    assert.equal(push.errorCode, '50010');
    assert.equal(readMeasurement(push, 'timing.total'), 5000);
  });

  it('accepts the code as a string of digits and drops leading zeros', () => {
    assert.equal(parsePush(dns({}, { Error: { Code: '12007' } }), JSON_FORMAT).errorCode, '12007');
    assert.equal(parsePush(dns({}, { Error: { Code: '012007' } }), JSON_FORMAT).errorCode, '12007');
  });

  it('keeps a short textual code', () => {
    assert.equal(
      parsePush(dns({}, { Error: { Code: 'NameNotResolved' } }), JSON_FORMAT).errorCode,
      'NameNotResolved',
    );
  });

  it('treats Code 0 (WinHTTP None) and null as no failure', () => {
    assert.equal(parsePush(dns({}, { Error: { Code: 0 } }), JSON_FORMAT).errorCode, undefined);
    assert.equal(parsePush(dns({}, { Error: { Code: null } }), JSON_FORMAT).errorCode, undefined);
    assert.equal(parsePush(dns({}, { Error: null }), JSON_FORMAT).errorCode, undefined);
  });

  it("reports 'unknown' when a primary failure flag is set without a code", () => {
    assert.equal(parsePush(dns({}, { Error: { Any: 1, Timeout: 1 } }), JSON_FORMAT).errorCode, 'unknown');
    assert.equal(parsePush(dns({}, { Error: { Code: 0, Dns: 1 } }), JSON_FORMAT).errorCode, 'unknown');
    assert.equal(parsePush(dns({}, { Error: { ssl: true } }), JSON_FORMAT).errorCode, 'unknown');
  });

  it('does not count child-request flags (Any, LoadObjects) as a failed run', () => {
    assert.equal(parsePush(dns({}, { Error: { Any: 1, LoadObjects: 1 } }), JSON_FORMAT).errorCode, undefined);
    assert.equal(parsePush(dns({}, { Error: { Dns: 0, Timeout: 0 } }), JSON_FORMAT).errorCode, undefined);
  });

  it('accepts Error as a bare code, the way per-host records carry it', () => {
    assert.equal(parsePush(dns({}, { Error: 50200 }), JSON_FORMAT).errorCode, '50200');
  });

  it('keeps an error code given as text, as it is (mapping makes it a tag value)', () => {
    const push = parsePush(dns({}, { Error: { Code: ' DNS Failure ' } }), JSON_FORMAT);
    assert.equal(push.errorCode, 'DNS Failure');
    assert.equal(push.dropped, undefined);
    assert.equal(
      parsePush(dns({}, { Error: 'Échec: délai dépassé' }), JSON_FORMAT).errorCode,
      'Échec: délai dépassé',
    );
  });

  it('drops a code that is neither a code, a flag nor text, never refusing the push for it', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ Code: 1.5 }, 'Summary.Error.Code', 'number "1.5"'],
      [{ Code: { x: 1 } }, 'Summary.Error.Code', 'an object'],
      [{ Code: [12002] }, 'Summary.Error.Code', 'an array'],
      [[1], 'Summary.Error', 'an array'],
    ];
    for (const [error, path, value] of cases) {
      const push = parsePush(dns({}, { Error: error }), JSON_FORMAT);
      assert.equal(push.errorCode, undefined, path);
      assert.deepEqual(push.dropped, [{ field: 'errorCode', path, value }]);
      assert.equal(statusUnknown(push), true, 'neither ok nor failed: its status is not written');
      assert.equal(readMeasurement(push, 'timing.total'), 158, 'the rest of the run is still read');
    }
    // A failure flag still tells a failed run, without its code.
    const flagged = parsePush(dns({}, { Error: { Code: { x: 1 }, Timeout: 1 } }), JSON_FORMAT);
    assert.equal(flagged.errorCode, 'unknown');
    assert.equal(statusUnknown(flagged), false);
  });
});

describe('parsePush: fields', () => {
  it('accepts ids as digit strings and drops leading zeros', () => {
    const push = parsePush(dns({ TestId: '0012345', NodeId: ' 312 ' }), JSON_FORMAT);
    assert.equal(push.testId, '12345');
    assert.equal(push.nodeId, '312');
  });

  it('matches keys case-insensitively', () => {
    const body = JSON.stringify({
      testid: 7,
      NODEID: 8,
      summary: { timestamp: '20240101000000000', timing: { TOTAL: 3 } },
    });
    const push = parsePush(body, JSON_FORMAT);
    assert.equal(push.testId, '7');
    assert.equal(push.nodeId, '8');
    assert.equal(push.timestampMs, Date.UTC(2024, 0, 1));
    assert.equal(readMeasurement(push, 'timing.total'), 3);
  });

  it('ignores unknown keys and leaves missing optional fields undefined', () => {
    const push = parsePush(
      JSON.stringify({
        TestId: 1,
        NodeId: 2,
        Summary: { Timestamp: '20240101000000000' },
        Extra: { a: [1] },
      }),
      JSON_FORMAT,
    );
    assert.deepEqual(identity(push), {
      testId: '1',
      nodeId: '2',
      nodeName: undefined,
      asn: undefined,
      timestampMs: 1704067200000,
      errorCode: undefined,
    });
    assert.equal(readMeasurement(push, 'timing.total'), undefined);
  });

  it('drops a NodeName or Asn of the wrong type instead of rejecting the run', () => {
    const push = parsePush(dns({ NodeName: 42, Asn: 'not an asn' }), JSON_FORMAT);
    assert.equal(push.nodeName, undefined);
    assert.equal(push.asn, undefined);
    assert.deepEqual(push.dropped, [
      { field: 'nodeName', path: 'NodeName', value: 'number "42"' },
      { field: 'asn', path: 'Asn', value: 'string "not an asn"' },
    ]);
    assert.equal(statusUnknown(push), false);
    assert.equal(parsePush(dns({ NodeName: null, Asn: '' }), JSON_FORMAT).dropped, undefined, 'absent');
    assert.equal(parsePush(dns({ NodeName: '   ', Asn: 0 }), JSON_FORMAT).nodeName, undefined);
    assert.equal(parsePush(dns({ Asn: 0 }), JSON_FORMAT).asn, undefined);
  });

  it('accepts the ASN as a number, digits or "AS" digits', () => {
    assert.equal(parsePush(dns({ Asn: '16509' }), JSON_FORMAT).asn, '16509');
    assert.equal(parsePush(dns({ Asn: 'AS3356' }), JSON_FORMAT).asn, '3356');
    assert.equal(parsePush(dns({ Asn: 4294967296 }), JSON_FORMAT).asn, undefined);
  });

  it('requires TestId and NodeId', () => {
    const { TestId: _t, ...noTest } = JSON.parse(dns()) as Record<string, unknown>;
    expectParseError(JSON.stringify(noTest), 'CPB_ERR_PUSH_FIELD_MISSING', 'TestId');
    expectParseError(dns({ NodeId: null }), 'CPB_ERR_PUSH_FIELD_MISSING', 'NodeId');
    expectParseError(dns({ NodeId: '' }), 'CPB_ERR_PUSH_FIELD_MISSING', 'NodeId');
  });

  it('rejects ids of the wrong type', () => {
    expectParseError(dns({ TestId: 'abc' }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ TestId: '-5' }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ TestId: '1e3' }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ TestId: 12.5 }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ TestId: true }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ NodeId: [312] }), 'CPB_ERR_PUSH_FIELD_TYPE', 'NodeId');
    expectParseError(dns({ NodeId: { id: 312 } }), 'CPB_ERR_PUSH_FIELD_TYPE', 'NodeId');
  });

  it('rejects ids out of range: 0, negative, beyond 2^53-1 (as numbers and as strings)', () => {
    expectParseError(dns({ TestId: 0 }), 'CPB_ERR_PUSH_FIELD_RANGE', 'TestId');
    expectParseError(dns({ TestId: '000' }), 'CPB_ERR_PUSH_FIELD_RANGE', 'TestId');
    expectParseError(dns({ TestId: -1 }), 'CPB_ERR_PUSH_FIELD_RANGE', 'TestId');
    expectParseError(dns({ TestId: 9007199254740992 }), 'CPB_ERR_PUSH_FIELD_RANGE', 'TestId');
    expectParseError('{"TestId":1e400,"NodeId":1}', 'CPB_ERR_PUSH_FIELD_TYPE', 'TestId');
    expectParseError(dns({ NodeId: '9007199254740992' }), 'CPB_ERR_PUSH_FIELD_RANGE', 'NodeId');
    const err = expectParseError(dns({ NodeId: '9'.repeat(5000) }), 'CPB_ERR_PUSH_FIELD_RANGE', 'NodeId');
    assert.ok(err.message.length < 200, 'a huge value is not echoed back');
    // The largest safe integer itself is fine.
    assert.equal(parsePush(dns({ TestId: 9007199254740991 }), JSON_FORMAT).testId, '9007199254740991');
  });

  it('requires Summary to be an object when present', () => {
    expectParseError(dns({ Summary: 'x' }), 'CPB_ERR_PUSH_FIELD_TYPE', 'Summary');
    expectParseError(dns({ Summary: [] }), 'CPB_ERR_PUSH_FIELD_TYPE', 'Summary');
  });
});

describe('parsePush: timestamps', () => {
  it('falls back to TestRuntime only when Summary.Timestamp is absent', () => {
    const noTs = dns({ TestRuntime: '20210202131557179' }, { Timestamp: undefined });
    assert.equal(parsePush(noTs, JSON_FORMAT).timestampMs, 1612271757179);
    const noSummary = JSON.stringify({ TestId: 1, NodeId: 2, TestRuntime: '20210202131557179' });
    assert.equal(parsePush(noSummary, JSON_FORMAT).timestampMs, 1612271757179);
    // A broken Summary.Timestamp is an error even when TestRuntime is fine.
    expectParseError(
      dns({ TestRuntime: '20210202131557179' }, { Timestamp: '2021' }),
      'CPB_ERR_PUSH_TIMESTAMP',
      'Summary.Timestamp',
    );
    expectParseError(
      dns({ TestRuntime: 'x' }, { Timestamp: undefined }),
      'CPB_ERR_PUSH_TIMESTAMP',
      'TestRuntime',
    );
  });

  it('requires a timestamp', () => {
    const err = expectParseError(
      dns({}, { Timestamp: undefined }),
      'CPB_ERR_PUSH_FIELD_MISSING',
      'Summary.Timestamp',
    );
    assert.match(err.message, /TestRuntime/);
  });

  it('rejects wrong lengths, non-digits, impossible dates and non-strings', () => {
    for (const bad of [
      '2016022601044960',
      '201602260104496090',
      '',
      '2016-02-26T01:04:49',
      '2016022601044960x',
    ]) {
      expectParseError(dns({}, { Timestamp: bad }), 'CPB_ERR_PUSH_TIMESTAMP', 'Summary.Timestamp');
    }
    for (const impossible of [
      '20160230010449609',
      '20161301010449609',
      '20160226250449609',
      '20160226016049609',
    ]) {
      const err = expectParseError(
        dns({}, { Timestamp: impossible }),
        'CPB_ERR_PUSH_TIMESTAMP',
        'Summary.Timestamp',
      );
      assert.match(err.message, /not a valid date/);
    }
    // Epoch ms is a template thing; the default JSON always sends 17 digits.
    expectParseError(dns({}, { Timestamp: 1456448689609 }), 'CPB_ERR_PUSH_TIMESTAMP', 'Summary.Timestamp');
    expectParseError(dns({}, { Timestamp: '1456448689609' }), 'CPB_ERR_PUSH_TIMESTAMP', 'Summary.Timestamp');
    expectParseError(
      dns({}, { Timestamp: '19691231235959999' }),
      'CPB_ERR_PUSH_TIMESTAMP',
      'Summary.Timestamp',
    );
  });

  it('truncates a long bad value in the message', () => {
    const err = expectParseError(
      dns({}, { Timestamp: 'x'.repeat(10_000) }),
      'CPB_ERR_PUSH_TIMESTAMP',
      'Summary.Timestamp',
    );
    assert.ok(err.message.length < 150, err.message);
    assert.match(err.message, /x…"/);
  });

  it('keeps leap days and the last millisecond of a year', () => {
    assert.equal(
      parsePush(dns({}, { Timestamp: '20240229235959999' }), JSON_FORMAT).timestampMs,
      1709251199999,
    );
    assert.equal(
      parsePush(dns({}, { Timestamp: '20231231235959999' }), JSON_FORMAT).timestampMs,
      Date.UTC(2023, 11, 31, 23, 59, 59, 999),
    );
  });
});

describe('parsePush: malformed bodies', () => {
  it('rejects an empty or blank body', () => {
    expectParseError('', 'CPB_ERR_PUSH_EMPTY', '');
    expectParseError(Buffer.alloc(0), 'CPB_ERR_PUSH_EMPTY', '');
    expectParseError(' \r\n\t', 'CPB_ERR_PUSH_EMPTY', '');
  });

  it('rejects text that is not JSON, and truncated JSON', () => {
    expectParseError('TestId=1&NodeId=2', 'CPB_ERR_PUSH_NOT_JSON', '');
    const full = fixture('web-chrome-v4.json').toString('utf8');
    const err = expectParseError(full.slice(0, full.length - 40), 'CPB_ERR_PUSH_NOT_JSON', '');
    assert.match(err.message, /^body is not valid JSON: /);
    assert.ok(err.message.length < 160, err.message);
    expectParseError('<Alert version="1"/>', 'CPB_ERR_PUSH_NOT_JSON', '');
  });

  it('rejects JSON that is not one object (arrays, scalars)', () => {
    expectParseError(`[${dns()}]`, 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError('[]', 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError('"text"', 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError('42', 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError('null', 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError('true', 'CPB_ERR_PUSH_NOT_OBJECT', '');
  });

  it('accepts a UTF-8 byte order mark, as .NET serialisers write one', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('dns-direct-v3.json')]);
    assert.equal(parsePush(body, JSON_FORMAT).testId, '12345');
  });

  it('survives invalid UTF-8 (decoded as U+FFFD)', () => {
    const text = dns({ NodeName: 'Jinan, CN - XX' });
    const bytes = Buffer.from(text, 'utf8');
    const at = bytes.indexOf('XX');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    const push = parsePush(bytes, JSON_FORMAT);
    assert.equal(push.nodeName, 'Jinan, CN - \ufffd\ufffd');
    expectParseError(Buffer.from([0xff, 0xfe, 0xfd]), 'CPB_ERR_PUSH_NOT_JSON', '');
  });

  it('handles hostile nesting without recursion trouble', () => {
    const depth = 200_000;
    const deepSummary = `{"TestId":1,"NodeId":2,"Summary":{"Timestamp":"20240101000000000","Timing":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}`;
    const push = parsePush(deepSummary, JSON_FORMAT);
    assert.equal(readMeasurement(push, 'timing.a'), undefined);
    assert.equal(readMeasurement(push, 'timing.a.a.a'), undefined);
    expectParseError(`${'['.repeat(depth)}${']'.repeat(depth)}`, 'CPB_ERR_PUSH_NOT_OBJECT', '');
    expectParseError(`${'['.repeat(depth)}`, 'CPB_ERR_PUSH_NOT_JSON', '');
  });

  it('does not reach Object.prototype through keys like constructor or __proto__', () => {
    const push = parsePush(
      '{"TestId":1,"NodeId":2,"__proto__":{"x":1},"Summary":{"Timestamp":"20240101000000000"}}',
      JSON_FORMAT,
    );
    assert.equal(readMeasurement(push, 'constructor'), undefined);
    assert.equal(readMeasurement(push, 'timing.constructor.name'), undefined);
    assert.equal(readMeasurement(push, '__proto__.x'), undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined, 'prototype untouched');
  });
});

const GRAFANA_FIELDS: TemplateFieldMap = {
  testId: 'TestDetails.TestId',
  nodeId: 'TestDetails.NodeId',
  timestamp: 'Summary.Timestamp',
  nodeName: 'TestDetails.NodeName',
  asn: 'TestDetails.Asn',
  errorCode: 'Summary.AnyError',
  measurements: {
    rtt: 'Summary.TotalTime',
    'timing.connect': 'Summary.Connect',
    'timing.dns': 'Summary.Dns',
    'timing.wait': 'Summary.Wait',
    'counter.requests': 'Summary.RequestsCount',
    'counter.failedrequests': 'Summary.FailedRequestsCount',
    'timing.timeouterror': 'Summary.TimeoutError',
  },
};
const GRAFANA: PushFormat = { type: 'template', fields: GRAFANA_FIELDS };

function grafana(summary: Record<string, unknown> = {}, details: Record<string, unknown> = {}): string {
  const base = JSON.parse(fixture('illustrative/template-grafana.json').toString('utf8')) as {
    TestDetails: object;
    Summary: object;
  };
  return JSON.stringify({
    TestDetails: { ...base.TestDetails, ...details },
    Summary: { ...base.Summary, ...summary },
  });
}

describe('parsePush: templates', () => {
  it('reads the GRAFANA template body: strings, "" as missing, "False" flags', () => {
    const push = parsePush(fixture('illustrative/template-grafana.json'), GRAFANA);
    assert.deepEqual(identity(push), {
      testId: '123456',
      nodeId: '12345',
      nodeName: 'Bangalore, IN - Tata Teleservices',
      asn: '12345',
      timestampMs: Date.UTC(2024, 4, 2, 21, 20, 44, 798),
      errorCode: undefined,
    });
    assert.equal(readMeasurement(push, 'timing.total'), 6591);
    assert.equal(readMeasurement(push, 'rtt'), 6591);
    assert.equal(readMeasurement(push, 'timing.connect'), 11);
    assert.equal(readMeasurement(push, 'timing.dns'), undefined, '"" is missing, not 0');
    assert.equal(readMeasurement(push, 'counter.requests'), 59);
    assert.equal(readMeasurement(push, 'counter.failedrequests'), 0);
    assert.equal(readMeasurement(push, 'timing.timeouterror'), 0, '"False" → 0');
    assert.equal(readMeasurement(push, 'timing.ssl'), undefined, 'unmapped key');
  });

  it('maps True/False in any case to 1/0 and treats NaN/Infinity strings as missing', () => {
    const cases: Array<[unknown, number | undefined]> = [
      ['True', 1],
      ['TRUE', 1],
      ['true', 1],
      ['False', 0],
      ['fAlSe', 0],
      ['NaN', undefined],
      ['Infinity', undefined],
      ['-Infinity', undefined],
      ['1e400', undefined],
      ['0x1F', undefined],
      ['12abc', undefined],
      ['  ', undefined],
      ['', undefined],
      [' 42 ', 42],
      ['-3.5', -3.5],
      ['1e3', 1000],
      [17, 17],
      [true, 1],
      [null, undefined],
      [{ v: 1 }, undefined],
      [[1], undefined],
    ];
    for (const [value, expected] of cases) {
      const push = parsePush(grafana({ Wait: value }), GRAFANA);
      assert.equal(readMeasurement(push, 'timing.wait'), expected, `Wait = ${JSON.stringify(value)}`);
    }
  });

  it('reads the template errorCode field as a code or a flag', () => {
    assert.equal(parsePush(grafana({ AnyError: 'True' }), GRAFANA).errorCode, 'unknown');
    assert.equal(parsePush(grafana({ AnyError: 'false' }), GRAFANA).errorCode, undefined);
    assert.equal(parsePush(grafana({ AnyError: '' }), GRAFANA).errorCode, undefined);
    assert.equal(parsePush(grafana({ AnyError: '0' }), GRAFANA).errorCode, undefined);
    assert.equal(parsePush(grafana({ AnyError: '12002' }), GRAFANA).errorCode, '12002');
    assert.equal(parsePush(grafana({ AnyError: 'DNS Failure' }), GRAFANA).errorCode, 'DNS Failure');
    assert.equal(
      parsePush(grafana({ AnyError: 'Timed out after 30s' }), GRAFANA).errorCode,
      'Timed out after 30s',
    );
    const unreadable = parsePush(grafana({ AnyError: { Code: 7 } }), GRAFANA);
    assert.equal(unreadable.errorCode, undefined);
    assert.deepEqual(unreadable.dropped, [
      { field: 'errorCode', path: 'Summary.AnyError', value: 'an object' },
    ]);
    assert.equal(statusUnknown(unreadable), true);
  });

  it('accepts ISO 8601 timestamps with Z or an offset, and refuses one without a zone', () => {
    const ms = Date.UTC(2024, 4, 2, 21, 20, 44, 798);
    assert.equal(parsePush(grafana({ Timestamp: '2024-05-02T21:20:44.798Z' }), GRAFANA).timestampMs, ms);
    assert.equal(parsePush(grafana({ Timestamp: '2024-05-02T23:20:44.798+02:00' }), GRAFANA).timestampMs, ms);
    assert.equal(parsePush(grafana({ Timestamp: '2024-05-02T16:50:44.798-0430' }), GRAFANA).timestampMs, ms);
    for (const bad of ['2024-05-02T21:20:44.798', '2024-05-02T21:20:44', '2024-05-02 21:20:44Z']) {
      const err = expectParseError(
        grafana({ Timestamp: bad }),
        'CPB_ERR_PUSH_TIMESTAMP',
        'Summary.Timestamp',
        GRAFANA,
      );
      assert.match(err.message, /^Summary\.Timestamp /, 'the reason names the field');
    }
    const zoneless = expectParseError(
      grafana({ Timestamp: '2024-05-02T21:20:44' }),
      'CPB_ERR_PUSH_TIMESTAMP',
      'Summary.Timestamp',
      GRAFANA,
    );
    assert.match(zoneless.message, /no time zone/);
  });

  it('never refuses a push for an optional field: NodeName, Asn, error code of any shape', () => {
    for (const value of [{}, [], 1.5, true, 'x'.repeat(5000), -3]) {
      const push = parsePush(grafana({ AnyError: value }, { NodeName: value, Asn: value }), GRAFANA);
      assert.equal(push.testId, '123456', JSON.stringify(value));
    }
  });

  it('accepts 17-digit, epoch-second and epoch-millisecond timestamps, quoted or not', () => {
    const ms = Date.UTC(2024, 4, 2, 21, 20, 44, 798);
    assert.equal(parsePush(grafana({ Timestamp: '20240502212044798' }), GRAFANA).timestampMs, ms);
    assert.equal(parsePush(grafana({ Timestamp: String(ms) }), GRAFANA).timestampMs, ms);
    assert.equal(parsePush(grafana({ Timestamp: ms }), GRAFANA).timestampMs, ms);
    assert.equal(parsePush(grafana({ Timestamp: '1714684844' }), GRAFANA).timestampMs, 1714684844000);
    assert.equal(parsePush(grafana({ Timestamp: 1714684844 }), GRAFANA).timestampMs, 1714684844000);
    for (const bad of ['171468484', '17146848440', 'yesterday', '2024-05-02', 1.5, -1714684844, true]) {
      expectParseError(grafana({ Timestamp: bad }), 'CPB_ERR_PUSH_TIMESTAMP', 'Summary.Timestamp', GRAFANA);
    }
    expectParseError(grafana({ Timestamp: '' }), 'CPB_ERR_PUSH_FIELD_MISSING', 'Summary.Timestamp', GRAFANA);
  });

  it('reports template paths in errors', () => {
    expectParseError(
      grafana({}, { TestId: '' }),
      'CPB_ERR_PUSH_FIELD_MISSING',
      'TestDetails.TestId',
      GRAFANA,
    );
    expectParseError(grafana({}, { NodeId: 'x' }), 'CPB_ERR_PUSH_FIELD_TYPE', 'TestDetails.NodeId', GRAFANA);
    expectParseError('{"Summary":{}}', 'CPB_ERR_PUSH_FIELD_MISSING', 'TestDetails.TestId', GRAFANA);
    expectParseError('{"TestDetails":"flat"}', 'CPB_ERR_PUSH_FIELD_MISSING', 'TestDetails.TestId', GRAFANA);
  });

  it('indexes arrays with numeric segments (OTel-like templates)', () => {
    const format: PushFormat = {
      type: 'template',
      fields: {
        testId: 'resourceMetrics.0.resource.testId',
        nodeId: 'resourceMetrics.0.resource.nodeId',
        timestamp: 'resourceMetrics.0.time',
        measurements: { 'timing.total': 'resourceMetrics.0.metrics.1.value' },
      },
    };
    const body = JSON.stringify({
      resourceMetrics: [
        {
          resource: { testId: '9', nodeId: '10' },
          time: '1714684844798',
          metrics: [{ value: '1' }, { value: '250' }],
        },
      ],
    });
    const push = parsePush(body, format);
    assert.equal(push.testId, '9');
    assert.equal(push.timestampMs, 1714684844798);
    assert.equal(readMeasurement(push, 'timing.total'), 250);
  });

  it('compiles a field map once and rejects invalid ones as PushFormatError', () => {
    assert.throws(
      () =>
        parsePush(grafana(), {
          type: 'template',
          fields: { ...GRAFANA_FIELDS, testId: 'TestDetails..TestId' },
        }),
      (err: unknown) =>
        err instanceof PushFormatError && err.code === 'CPB_ERR_PUSH_FORMAT' && err.path === 'testId',
    );
    assert.throws(
      () =>
        parsePush(grafana(), {
          type: 'template',
          fields: { ...GRAFANA_FIELDS, measurements: { 'timing.total': '' } },
        }),
      (err: unknown) => err instanceof PushFormatError && err.path === 'measurements.timing.total',
    );
    assert.throws(
      () => parsePush('{}', { type: 'xml' } as unknown as PushFormat),
      (err: unknown) => err instanceof PushFormatError,
    );
  });
});
