/**
 * Whatever a node directory or a push carries (any Unicode in names, any number), mapping never
 * produces a point real OpenTSDB would refuse: checked with the same rules the strict
 * OpenTSDB-contract server enforces.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DIMENSIONS } from '../../../src/api/schema.ts';
import { validateSpec } from '../../../src/api/validate.ts';
import { buildMappingPlan, mapPush, newMappingStats } from '../../../src/bridge/mapping.ts';
import type { NodeInfo } from '../../../src/catchpoint/node.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import { decodeDatapoint } from '../../../src/opentsdb/datapoint.ts';
import { validatePointForOpenTsdb } from '../../../src/opentsdb/validate.ts';

const anyText = fc.option(fc.string({ unit: 'binary', maxLength: 300 }), { nil: undefined });
const node = fc.record({
  id: fc.constant('1'),
  name: anyText,
  asn: anyText,
  city: anyText,
  country: anyText,
  region: anyText,
  continent: anyText,
  isp: anyText,
  networkType: anyText,
}) as fc.Arbitrary<NodeInfo>;

const push = fc.record({
  TestId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  NodeId: fc.integer({ min: 1, max: 2 ** 31 }),
  NodeName: fc.string({ unit: 'binary', maxLength: 200 }),
  Asn: fc.oneof(fc.integer(), fc.string({ maxLength: 20 })),
  Summary: fc.record({
    Timestamp: fc.constant('20240229235959999'),
    Timing: fc.record({
      Total: fc.oneof(fc.double(), fc.integer(), fc.constant(1e300), fc.constant(2 ** 63)),
    }),
    Error: fc.option(
      fc.record({ Code: fc.oneof(fc.integer(), fc.string({ unit: 'binary', maxLength: 50 })) }),
      { nil: undefined },
    ),
  }),
});

for (const layout of ['seed', 'tags'] as const) {
  test(`every mapped point passes OpenTSDB's write rules (${layout} layout)`, () => {
    const dims =
      layout === 'seed' ? [...DIMENSIONS] : ['node', 'asn', 'continent', 'city', 'country', 'region'];
    const spec = validateSpec({
      catchpoint: { credentialsSecretRef: { name: 'c' } },
      tsdb: { endpoints: ['http://t:1'] },
      naming: { layout },
      dimensions: dims,
      measurements: ['rtt', 'status', 'error'],
    });
    const plan = buildMappingPlan(spec);
    fc.assert(
      fc.property(push, node, (body, info) => {
        let parsed: ReturnType<typeof parsePush>;
        try {
          parsed = parsePush(JSON.stringify(body), { type: 'json' });
        } catch {
          return; // refused at parse time with a 400: nothing is mapped
        }
        for (const line of mapPush(parsed, { ...info, id: parsed.nodeId }, plan, newMappingStats())) {
          const p = decodeDatapoint(line);
          assert.equal(validatePointForOpenTsdb(p, spec.tsdb.maxTags), undefined, line);
          for (const v of Object.values(p.tags)) assert.notEqual(v, '');
        }
      }),
      { numRuns: 2000 },
    );
  });
}
