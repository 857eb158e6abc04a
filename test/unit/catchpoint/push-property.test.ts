import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PushParseError } from '../../../src/catchpoint/errors.ts';
import { readMeasurement } from '../../../src/catchpoint/measurement.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';
import type { CatchpointPush, PushFormat } from '../../../src/catchpoint/types.ts';

const FORMATS: PushFormat[] = [
  { type: 'json' },
  {
    type: 'template',
    fields: {
      testId: 'TestDetails.TestId',
      nodeId: 'TestDetails.NodeId',
      timestamp: 'Summary.Timestamp',
      nodeName: 'TestDetails.NodeName',
      asn: 'TestDetails.Asn',
      errorCode: 'Summary.AnyError',
      measurements: { rtt: 'Summary.TotalTime', 'timing.dns': 'Summary.Dns' },
    },
  },
];

const KEYS = [
  'timing.total',
  'rtt',
  'timing.dns',
  'byte.response.totalcontent',
  'ping.packetlosspct',
  'traceroute.hops',
  'traceroute.rtt',
  'traceroute.loss',
];

const DIGITS = /^[1-9][0-9]*$/;

/** A successful parse must be a well-formed push. */
function checkPush(push: CatchpointPush): void {
  assert.match(push.testId, DIGITS);
  assert.match(push.nodeId, DIGITS);
  assert.ok(Number.isSafeInteger(Number(push.testId)));
  assert.ok(Number.isSafeInteger(Number(push.nodeId)));
  assert.ok(
    Number.isSafeInteger(push.timestampMs) && push.timestampMs >= 0,
    `timestampMs ${push.timestampMs}`,
  );
  if (push.asn !== undefined) assert.match(push.asn, DIGITS);
  if (push.nodeName !== undefined)
    assert.ok(push.nodeName.length > 0 && push.nodeName.trim() === push.nodeName);
  // Any text, as sent (mapping sanitises it into a tag value); never empty or padded.
  if (push.errorCode !== undefined)
    assert.ok(push.errorCode.length > 0 && push.errorCode.trim() === push.errorCode);
  for (const d of push.dropped ?? []) assert.ok(d.path.length > 0 && d.value.length > 0);
  for (const key of KEYS) {
    const value = readMeasurement(push, key);
    assert.ok(value === undefined || Number.isFinite(value), `${key} → ${value}`);
  }
}

/** Runs parsePush and fails on anything but a valid push or a PushParseError. */
function parseOrCodedError(body: string | Buffer, format: PushFormat): void {
  let push: CatchpointPush;
  try {
    push = parsePush(body, format);
  } catch (err) {
    assert.ok(err instanceof PushParseError, `threw ${String(err)}`);
    assert.match(err.code, /^CPB_ERR_PUSH_/);
    assert.ok(err.message.length > 0 && err.message.length < 300, err.message);
    return;
  }
  checkPush(push);
}

// Values shaped like the fields a push carries, valid and not.
const idLike = fc.oneof(
  fc.integer(),
  fc.nat().map(String),
  fc.double(),
  fc.string(),
  fc.constantFrom('', ' 12 ', '0', '007', '9007199254740992', 'NaN', '1e3'),
  fc.constant(null),
  fc.boolean(),
);
const timestampLike = fc.oneof(
  fc
    .date({ min: new Date(0), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true })
    .map((d) => d.toISOString().replace(/[-:TZ.]/g, '')),
  fc.stringMatching(/^[0-9]{10,17}$/),
  fc.string(),
  fc.integer(),
  fc.constant(null),
);
const valueLike = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('True', 'False', 'NaN', 'Infinity', ''),
);

const shapedDefault = fc.record(
  {
    TestId: idLike,
    NodeId: idLike,
    NodeName: fc.oneof(fc.string(), valueLike),
    Asn: fc.oneof(
      idLike,
      fc.string().map((s) => `AS${s}`),
    ),
    TestRuntime: timestampLike,
    Summary: fc.oneof(
      fc.record(
        {
          Timestamp: timestampLike,
          Timing: fc.dictionary(fc.constantFrom('Total', 'Dns', 'total', 'ContentType'), valueLike),
          Error: fc.oneof(
            fc.record({ Code: valueLike, Any: valueLike, Dns: valueLike }, { requiredKeys: [] }),
            valueLike,
          ),
        },
        { requiredKeys: [] },
      ),
      valueLike,
    ),
    Diagnostic: fc.record({
      TraceRoute: fc.record({
        Hops: fc.oneof(
          fc.array(
            fc.record({ RoundTripTimes: fc.array(fc.oneof(fc.integer(), fc.constant(null), fc.double())) }),
          ),
          valueLike,
        ),
      }),
    }),
  },
  { requiredKeys: [] },
);

const shapedTemplate = fc.record(
  {
    TestDetails: fc.oneof(
      fc.record({ TestId: idLike, NodeId: idLike, NodeName: valueLike, Asn: idLike }, { requiredKeys: [] }),
      valueLike,
    ),
    Summary: fc.record(
      { Timestamp: timestampLike, TotalTime: valueLike, Dns: valueLike, AnyError: valueLike },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('parsePush never throws anything but PushParseError (property)', () => {
  it('for arbitrary strings', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom(...FORMATS),
        (body, format) => {
          parseOrCodedError(body, format);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('for arbitrary bytes (invalid UTF-8 included)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...FORMATS), (bytes, format) => {
        parseOrCodedError(Buffer.from(bytes), format);
      }),
      { numRuns: 1000 },
    );
  });

  it('for arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(...FORMATS), (value, format) => {
        parseOrCodedError(JSON.stringify(value), format);
      }),
      { numRuns: 2000 },
    );
  });

  it('for objects shaped like default-JSON pushes', () => {
    fc.assert(
      fc.property(shapedDefault, (value) => {
        parseOrCodedError(JSON.stringify(value), FORMATS[0]!);
      }),
      { numRuns: 3000 },
    );
  });

  it('for objects shaped like template pushes', () => {
    fc.assert(
      fc.property(shapedTemplate, (value) => {
        parseOrCodedError(JSON.stringify(value), FORMATS[1]!);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts every well-formed default-JSON push and reads its fields back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
        fc.option(fc.integer({ min: 1, max: 2 ** 31 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
        (testId, nodeId, date, code, total) => {
          const iso = date.toISOString();
          const stamp =
            iso.slice(0, 4) +
            iso.slice(5, 7) +
            iso.slice(8, 10) +
            iso.slice(11, 13) +
            iso.slice(14, 16) +
            iso.slice(17, 19) +
            iso.slice(20, 23);
          const summary: Record<string, unknown> = { Timestamp: stamp };
          if (total !== undefined) summary.Timing = { Total: total };
          if (code !== undefined) summary.Error = { Any: 1, Code: code };
          const push = parsePush(
            JSON.stringify({ TestId: testId, NodeId: String(nodeId), Summary: summary }),
            {
              type: 'json',
            },
          );
          assert.equal(push.testId, String(testId));
          assert.equal(push.nodeId, String(nodeId));
          assert.equal(push.timestampMs, date.getTime());
          assert.equal(push.errorCode, code === undefined ? undefined : String(code));
          assert.equal(readMeasurement(push, 'timing.total'), total);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
