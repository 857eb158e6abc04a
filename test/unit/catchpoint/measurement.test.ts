import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  NOT_A_NUMBER,
  readMeasurement,
  readMeasurementOrInvalid,
} from '../../../src/catchpoint/measurement.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import type { CatchpointPush } from '../../../src/catchpoint/types.ts';

const FIXTURES = new URL('../../fixtures/catchpoint/', import.meta.url);
const load = (name: string): CatchpointPush =>
  parsePush(readFileSync(new URL(name, FIXTURES)), { type: 'json' });

function withSummary(summary: Record<string, unknown>, extra: Record<string, unknown> = {}): CatchpointPush {
  return parsePush(
    JSON.stringify({
      TestId: 1,
      NodeId: 2,
      Summary: { Timestamp: '20240301120455310', ...summary },
      ...extra,
    }),
    { type: 'json' },
  );
}

function traceroute(hops: unknown): CatchpointPush {
  return withSummary({ Timing: { Total: 15 } }, { Diagnostic: { TraceRoute: { Hops: hops } } });
}

describe('readMeasurement: default JSON', () => {
  const web = load('web-chrome-v4.json');

  it('reads the canonical keys of the web sample', () => {
    assert.equal(readMeasurement(web, 'timing.total'), 5754);
    assert.equal(readMeasurement(web, 'rtt'), 5754);
    assert.equal(readMeasurement(web, 'timing.dns'), 1);
    assert.equal(readMeasurement(web, 'timing.connect'), 8);
    assert.equal(readMeasurement(web, 'byte.response.totalcontent'), 8489873);
    assert.equal(readMeasurement(web, 'counter.requests'), 90);
    assert.equal(readMeasurement(web, 'score.speedindex'), 3830);
    assert.equal(readMeasurement(web, 'timing.send'), 0, 'a real 0 stays 0');
  });

  it('reads any Summary path, case-insensitively', () => {
    assert.equal(readMeasurement(web, 'Timing.FirstContentfulPaintTime'), 1821);
    assert.equal(readMeasurement(web, 'TIMING.TIMETOINTERACTIVE'), 4228);
    assert.equal(readMeasurement(web, 'byte.response.contenttype.image'), 7795966);
    assert.equal(readMeasurement(web, 'averageframespersecond'), 26.2);
    assert.equal(readMeasurement(web, 'counter.contenttype.font'), 5);
  });

  it('gives undefined for objects, arrays, strings that are not numbers, and missing keys', () => {
    assert.equal(readMeasurement(web, 'timing.contenttype'), undefined, 'Timing.ContentType is an object');
    assert.equal(readMeasurement(web, 'jsfailures'), undefined, 'an array');
    assert.equal(readMeasurement(web, 'address'), undefined, 'an IP string');
    assert.equal(readMeasurement(web, 'ping.roundtriptimeavg'), undefined);
    assert.equal(readMeasurement(web, 'timing.redirect'), undefined);
    assert.equal(readMeasurement(web, 'timing.total.more'), undefined);
    assert.equal(readMeasurement(web, ''), undefined);
    assert.equal(readMeasurement(web, 'timing..total'), undefined);
  });

  it('learns a casing that differs from the first one seen', () => {
    const lower = withSummary({ timing: { total: 1 } });
    const upper = withSummary({ TIMING: { TOTAL: 2 } });
    for (let i = 0; i < 3; i++) {
      assert.equal(readMeasurement(lower, 'timing.total'), 1);
      assert.equal(readMeasurement(upper, 'timing.total'), 2);
      assert.equal(readMeasurement(load('dns-direct-v3.json'), 'timing.total'), 158);
    }
  });

  it('reads ping results', () => {
    const ping = load('illustrative/ping-v4.json');
    assert.equal(readMeasurement(ping, 'ping.roundtriptimeavg'), 12);
    assert.equal(readMeasurement(ping, 'ping.packetlosspct'), 0);
    assert.equal(readMeasurement(ping, 'timing.total'), 12);
  });

  it('treats non-finite and non-numeric values as missing', () => {
    const push = parsePush(
      '{"TestId":1,"NodeId":2,"Summary":{"Timestamp":"20240101000000000","Timing":{"Total":1e400,"Dns":"NaN","Connect":"Infinity","Ssl":null,"Wait":"7"}}}',
      { type: 'json' },
    );
    assert.equal(readMeasurement(push, 'timing.total'), undefined);
    assert.equal(readMeasurement(push, 'timing.dns'), undefined);
    assert.equal(readMeasurement(push, 'timing.connect'), undefined);
    assert.equal(readMeasurement(push, 'timing.ssl'), undefined);
    assert.equal(readMeasurement(push, 'timing.wait'), 7);
  });

  it('gives undefined for every key when the push has no Summary', () => {
    const push = parsePush('{"TestId":1,"NodeId":2,"TestRuntime":"20240101000000000"}', { type: 'json' });
    assert.equal(readMeasurement(push, 'timing.total'), undefined);
  });

  it('gives undefined on a hand-built push (no parsed body)', () => {
    const push: CatchpointPush = { testId: '1', nodeId: '2', timestampMs: 0 };
    assert.equal(readMeasurement(push, 'timing.total'), undefined);
    assert.equal(readMeasurement(push, 'traceroute.hops'), undefined);
  });
});

describe('readMeasurementOrInvalid: a value that is there but is not a number', () => {
  it('tells it (dropped and counted) from a missing one', () => {
    const push = withSummary({
      Timing: { Total: 15, Dns: 'n/a', Connect: '', Wait: ' ', Ssl: null, ContentType: { a: 1 } },
      Counter: { Requests: [3], Failed: 'NaN', Ok: '2' },
    });
    const cases: Array<[string, number | undefined | typeof NOT_A_NUMBER]> = [
      ['timing.total', 15],
      ['counter.ok', 2],
      ['timing.dns', NOT_A_NUMBER],
      ['timing.contenttype', NOT_A_NUMBER],
      ['counter.requests', NOT_A_NUMBER],
      ['counter.failed', NOT_A_NUMBER],
      ['timing.connect', undefined],
      ['timing.wait', undefined],
      ['timing.ssl', undefined],
      ['timing.send', undefined],
      ['traceroute.hops', undefined],
    ];
    for (const [key, expected] of cases) {
      assert.equal(readMeasurementOrInvalid(push, key), expected, key);
      assert.equal(readMeasurement(push, key), expected === NOT_A_NUMBER ? undefined : expected, key);
    }
  });
});

describe('readMeasurement: traceroute keys (notes §2.4)', () => {
  it('derives hops, last-hop RTT and loss from the illustrative traceroute', () => {
    const push = load('illustrative/traceroute-v4.json');
    assert.equal(readMeasurement(push, 'traceroute.hops'), 3);
    assert.equal(readMeasurement(push, 'traceroute.rtt'), 15);
    assert.equal(readMeasurement(push, 'traceroute.loss'), 0);
    assert.equal(readMeasurement(push, 'TraceRoute.Hops'), 3, 'case-insensitive');
  });

  it('averages only answered probes and counts nulls as lost', () => {
    const one = traceroute([{ RoundTripTimes: [1, 1, 2] }, { RoundTripTimes: [10, null, 20] }]);
    assert.equal(readMeasurement(one, 'traceroute.hops'), 2);
    assert.equal(readMeasurement(one, 'traceroute.rtt'), 15);
    assert.equal(readMeasurement(one, 'traceroute.loss'), 33.333);
    const two = traceroute([{ RoundTripTimes: [null, 9, null] }]);
    assert.equal(readMeasurement(two, 'traceroute.rtt'), 9);
    assert.equal(readMeasurement(two, 'traceroute.loss'), 66.667);
  });

  it('reports total loss as 100 and no RTT', () => {
    const lost = traceroute([{ RoundTripTimes: [3, 4, 5] }, { RoundTripTimes: [null, null, null] }]);
    assert.equal(readMeasurement(lost, 'traceroute.loss'), 100);
    assert.equal(readMeasurement(lost, 'traceroute.rtt'), undefined);
    assert.equal(readMeasurement(lost, 'traceroute.hops'), 2);
  });

  it('gives undefined when there is nothing to derive from', () => {
    const empty = traceroute([]);
    assert.equal(readMeasurement(empty, 'traceroute.hops'), 0);
    assert.equal(readMeasurement(empty, 'traceroute.rtt'), undefined);
    assert.equal(readMeasurement(empty, 'traceroute.loss'), undefined);
    const noProbes = traceroute([{ Address: '1.2.3.4' }]);
    assert.equal(readMeasurement(noProbes, 'traceroute.rtt'), undefined);
    assert.equal(readMeasurement(noProbes, 'traceroute.loss'), undefined);
    const notArray = traceroute({ 0: { RoundTripTimes: [1] } });
    assert.equal(readMeasurement(notArray, 'traceroute.hops'), undefined);
    assert.equal(readMeasurement(load('dns-direct-v3.json'), 'traceroute.hops'), undefined);
    assert.equal(readMeasurement(load('dns-direct-v3.json'), 'traceroute.other'), undefined);
  });
});

describe('readMeasurement: cost', () => {
  it('reads 1e6 values in well under a second (no per-call compilation)', () => {
    const web = load('web-chrome-v4.json');
    const keys = [
      'timing.total',
      'timing.dns',
      'byte.response.totalcontent',
      'counter.requests',
      'score.speedindex',
    ];
    const started = performance.now();
    let sum = 0;
    for (let i = 0; i < 200_000; i++) {
      for (const key of keys) sum += readMeasurement(web, key) ?? 0;
    }
    const elapsed = performance.now() - started;
    assert.equal(sum, 200_000 * (5754 + 1 + 8489873 + 90 + 3830));
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
  });
});
