import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateSpec } from '../../../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../../../src/bridge/mapping.ts';
import type { NodeInfo } from '../../../src/catchpoint/node.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import { decodeDatapoint } from '../../../src/opentsdb/datapoint.ts';
import { validatePointForOpenTsdb } from '../../../src/opentsdb/validate.ts';
import { JINAN_NODE } from '../../fixtures/catchpoint/nodes.ts';

const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, '../../fixtures/catchpoint', name), 'utf8');
const baseSpec = {
  catchpoint: { credentialsSecretRef: { name: 'c' } },
  tsdb: { endpoints: ['http://t:4242'] },
};
const jinan = JINAN_NODE;
const T = Date.UTC(2016, 1, 26, 1, 4, 49, 609);

function map(specPatch: Record<string, unknown>, body: string, node: NodeInfo = jinan) {
  const spec = validateSpec({ ...baseSpec, ...specPatch });
  const stats = newMappingStats();
  const points = mapPush(parsePush(body, { type: 'json' }), node, buildMappingPlan(spec), stats).map(
    decodeDatapoint,
  );
  return { points, stats };
}

describe('mapping', () => {
  it("the seed's sample push maps to the seed's 14 series, names, tags, values and UTC ms timestamp", () => {
    const { points } = map({}, fixture('dns-direct-v3.json'));
    const expectedTags: Record<string, Record<string, string>> = {
      node: {},
      asn: { asn: '4837' },
      continent: { continent: 'Asia' },
      city: { city: 'Jinan' },
      country: { country: 'China' },
      region: { region: 'Shandong' },
      isp: { isp: 'China_Unicom' },
    };
    const expected = Object.entries(expectedTags).flatMap(([dim, tags]) => [
      {
        metric: `catchpoint.rtt.by_${dim}.12345`,
        timestamp: T,
        value: 158,
        tags: { nodeid: '312', ...tags },
      },
      {
        metric: `catchpoint.status.by_${dim}.12345`,
        timestamp: T,
        value: 1,
        tags: { nodeid: '312', ...tags, status: 'ok' },
      },
    ]);
    const byName = (a: { metric: string }, b: { metric: string }) => a.metric.localeCompare(b.metric);
    assert.deepEqual([...points].sort(byName), expected.sort(byName));
    for (const p of points) assert.equal(validatePointForOpenTsdb(p, 8), undefined);
  });

  it("a failed run writes status=error and the seed's error.by_node series, and no rtt when Total is absent", () => {
    const body = JSON.stringify({
      TestId: 77,
      NodeId: 312,
      Summary: { Timestamp: '20240101000000000', Error: { Code: 12029 } },
    });
    const { points, stats } = map({}, body);
    assert.equal(points.filter((p) => p.metric.startsWith('catchpoint.rtt.')).length, 0);
    assert.equal(stats.missingMeasurement.get('rtt'), 1);
    const statuses = points.filter((p) => p.metric.startsWith('catchpoint.status.'));
    assert.equal(statuses.length, 7);
    assert.ok(statuses.every((p) => p.tags.status === 'error'));
    const errors = points.filter((p) => p.metric === 'catchpoint.error.by_node.77');
    assert.deepEqual(
      errors.map((p) => p.tags),
      [{ nodeid: '312', error: '12029' }],
    );
  });

  it('an unknown dimension value leaves that series out and is counted, never an empty tag', () => {
    const { points, stats } = map({}, fixture('dns-direct-v3.json'), {
      id: '312',
      city: '  ',
      country: 'China',
    });
    assert.ok(points.every((p) => Object.values(p.tags).every((v) => v !== '')));
    assert.equal(points.filter((p) => p.metric.includes('.by_city.')).length, 0);
    assert.equal(stats.missingDimension.get('city'), 1);
    assert.equal(stats.missingDimension.get('region'), 1);
  });

  it('the tags layout writes one series per measurement with every dimension as a tag', () => {
    const { points } = map(
      {
        naming: { layout: 'tags', prefix: 'cp' },
        dimensions: ['node', 'country', 'isp', 'test'],
        measurements: ['rtt', 'status', 'error'],
      },
      fixture('dns-direct-v3.json'),
    );
    assert.deepEqual(points, [
      {
        metric: 'cp.rtt',
        timestamp: T,
        value: 158,
        tags: { testid: '12345', nodeid: '312', country: 'China', isp: 'China_Unicom' },
      },
      {
        metric: 'cp.status',
        timestamp: T,
        value: 1,
        tags: { testid: '12345', nodeid: '312', country: 'China', isp: 'China_Unicom' },
      },
    ]);
  });

  it('other measurements: any Summary value by path, and the test dimension in the seed layout', () => {
    const { points } = map(
      { dimensions: ['country', 'test'], measurements: ['timing.dns', 'byte.response.totalcontent'] },
      fixture('web-chrome-v4.json'),
      { id: '540', country: 'Germany' },
    );
    const got = Object.fromEntries(points.map((p) => [p.metric, p.value]));
    assert.deepEqual(got, {
      'catchpoint.timing.dns.by_country.464062': 1,
      'catchpoint.timing.dns.by_test': 1,
      'catchpoint.byte.response.totalcontent.by_country.464062': 8489873,
      'catchpoint.byte.response.totalcontent.by_test': 8489873,
    });
    assert.deepEqual(points.find((p) => p.metric.endsWith('by_test'))?.tags, {
      nodeid: '540',
      testid: '464062',
    });
  });

  const TEMPLATE = {
    format: 'template',
    template: {
      testId: 'TestDetails.TestId',
      nodeId: 'TestDetails.NodeId',
      timestamp: 'Summary.Timestamp',
      errorCode: 'Summary.Error',
      measurements: {
        rtt: 'Summary.TotalTime',
        'timing.dns': 'Summary.Dns',
        'timing.connect': 'Summary.Connect',
      },
    },
  };

  function mapTemplate(specPatch: Record<string, unknown>, summary: Record<string, unknown>) {
    const spec = validateSpec({ ...baseSpec, push: TEMPLATE, dimensions: ['node'], ...specPatch });
    const body = JSON.stringify({
      TestDetails: { TestId: '77', NodeId: '312' },
      Summary: { Timestamp: '2024-05-02T21:20:44Z', TotalTime: '250', Dns: '12', Connect: '30', ...summary },
    });
    const stats = newMappingStats();
    const push = parsePush(body, { type: 'template', fields: spec.push.template! });
    const points = mapPush(push, { id: '312' }, buildMappingPlan(spec), stats).map(decodeDatapoint);
    return { points, stats, values: Object.fromEntries(points.map((p) => [p.metric, p.value])) };
  }

  it('a measurement push.template maps is written even when spec.measurements does not list it', () => {
    const { values } = mapTemplate({ measurements: ['rtt', 'status'] }, {});
    assert.deepEqual(values, {
      'catchpoint.rtt.by_node.77': 250,
      'catchpoint.status.by_node.77': 1,
      'catchpoint.timing.dns.by_node.77': 12,
      'catchpoint.timing.connect.by_node.77': 30,
    });
    // rtt and timing.total are one measurement: listed under either name, it is written once.
    const listed = mapTemplate({ measurements: ['timing.total'] }, {});
    assert.deepEqual(Object.keys(listed.values).sort(), [
      'catchpoint.timing.connect.by_node.77',
      'catchpoint.timing.dns.by_node.77',
      'catchpoint.timing.total.by_node.77',
    ]);
    // With the default JSON format a field map is not in use, and neither are its measurements.
    const spec = validateSpec({ ...baseSpec, push: { ...TEMPLATE, format: 'json' }, dimensions: ['node'] });
    assert.deepEqual(
      buildMappingPlan(spec).measurements.map((m) => m.name),
      ['rtt', 'status'],
    );
  });

  it('an error code given as text is a failed run, its text sanitised into the error tag', () => {
    const { points } = mapTemplate(
      { measurements: ['rtt', 'status', 'error'] },
      { Error: 'DNS Failure: NXDOMAIN (Ω)' },
    );
    const status = points.find((p) => p.metric === 'catchpoint.status.by_node.77');
    assert.equal(status?.tags.status, 'error');
    const error = points.find((p) => p.metric === 'catchpoint.error.by_node.77');
    assert.deepEqual(error?.tags, { nodeid: '312', error: 'DNS_Failure__NXDOMAIN__Ω_' });
    for (const p of points) assert.equal(validatePointForOpenTsdb(p, 8), undefined);
    const tags = mapTemplate(
      { naming: { layout: 'tags' }, measurements: ['status', 'error'] },
      { Error: ' timed out ' },
    );
    assert.equal(tags.points.find((p) => p.metric === 'catchpoint.error')?.tags.error, 'timed_out');
  });

  it('a measurement that is not a number is left out and counted; the other points are written', () => {
    const { values, stats } = mapTemplate({ measurements: ['rtt', 'status'] }, { Dns: 'n/a', Connect: '' });
    assert.deepEqual(values, { 'catchpoint.rtt.by_node.77': 250, 'catchpoint.status.by_node.77': 1 });
    assert.deepEqual([...stats.invalidMeasurement], [['timing.dns', 1]]);
    assert.deepEqual([...stats.missingMeasurement], [['timing.connect', 1]], '"" is missing, not invalid');
  });

  it('an unreadable error code leaves the status and error points out (neither ok nor failed)', () => {
    const { values, stats } = mapTemplate({ measurements: ['rtt', 'status', 'error'] }, { Error: { x: 1 } });
    assert.deepEqual(values, {
      'catchpoint.rtt.by_node.77': 250,
      'catchpoint.timing.dns.by_node.77': 12,
      'catchpoint.timing.connect.by_node.77': 30,
    });
    assert.equal(stats.missingMeasurement.get('status'), 1);
  });
});
