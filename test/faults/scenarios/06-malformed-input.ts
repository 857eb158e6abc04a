/**
 * 6. Malformed input at volume: a fast-check property run over push bodies — truncated JSON,
 * wrong types, huge numbers, "NaN"/"Infinity" strings, deep nesting (10k nested arrays), 10 MB
 * bodies, invalid UTF-8, tag values from every Unicode class — each followed by a good push, sent
 * to a bridge writing to the strict OpenTSDB contract server (which refuses what real OpenTSDB
 * would refuse). Claims:
 *  - the process stays up and never answers 5xx;
 *  - a body that cannot be a push (bad JSON, not an object, a bad identity field, invalid UTF-8,
 *    over push.maxBodyBytes) gets a 4xx with a JSON {code, reason};
 *  - a hostile but usable body (odd Unicode in the node name, odd measurement values) gets 200
 *    or a 4xx with a reason, and whatever it writes, OpenTSDB accepts;
 *  - every interleaved good push is answered 200 and written;
 *  - the strict server refused nothing.
 * Time to recover: not applicable (nothing fails); "—".
 */
import fc from 'fast-check';
import { pushBody } from '../../harness/push-stream.ts';
import { startStrictOpenTsdb } from '../../harness/strict-opentsdb.ts';
import { type FaultContext, pushSecrets, pushSpec } from '../lib/context.ts';
import { isAlive, scrape, until } from '../lib/measure.ts';
import { Claims, makeRow, type Row } from '../lib/report.ts';

const GOOD_TEST_ID = 6000;
const HOSTILE_TEST_ID = 6001;
const NUM_RUNS = 1000;
const TEN_MB = 10 * 2 ** 20;

/** A generated body. `@@TS@@` in text stands for a fresh 17-digit timestamp. */
type Body =
  | { text: string }
  | { bytes: { before: string; insert: number[]; after: string } }
  | {
      big:
        | 'padded-valid-json'
        | 'garbage'
        | 'nested-arrays-body'
        | 'nested-arrays-in-id'
        | 'nested-in-measurement';
    };

interface Case {
  label: string;
  /** True: the body cannot be a push and must get a 4xx with a reason. */
  mustRefuse: boolean;
  body: Body;
}

const TS = '@@TS@@';
const base = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  Version: 3,
  TestId: HOSTILE_TEST_ID,
  NodeId: 900_001,
  NodeName: 'Paris, FR - Orange',
  Asn: 3215,
  Summary: { Timestamp: TS, Timing: { Total: 42 } },
  ...over,
});
/** JSON text of `obj` with the string values `@@RAW<i>@@` replaced by raw JSON text. */
function withRaw(obj: unknown, raw: string[] = []): string {
  let text = JSON.stringify(obj);
  raw.forEach((r, i) => {
    text = text.replace(JSON.stringify(`@@RAW${i}@@`), r);
  });
  return text;
}
const RAW0 = '@@RAW0@@';

// ---- bodies that cannot be a push ----------------------------------------------------------------

const truncated = fc
  .tuple(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  )
  .map(([name, at]): Case => {
    const text = withRaw(base({ NodeName: name }));
    return {
      label: 'truncated JSON',
      mustRefuse: true,
      body: { text: text.slice(0, Math.floor(at * text.length)) },
    };
  });

const notDigits = (s: string) => !/^\d+$/.test(s.trim());
const wrongIdValue = fc.oneof(
  fc.boolean(),
  fc.constant(null),
  fc.constant(''),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
  fc.integer({ min: -1_000_000, max: 0 }),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '-1', '1e3', '0x10', '12a', '0', '00', '+5', '1.0'),
  fc.string({ unit: 'binary', maxLength: 20 }).filter(notDigits),
);
const wrongId = fc.tuple(fc.constantFrom('TestId', 'NodeId'), wrongIdValue).map(
  ([field, value]): Case => ({
    label: `wrong type: ${field}`,
    mustRefuse: true,
    body: { text: withRaw(base({ [field]: value })) },
  }),
);
const hugeId = fc
  .tuple(
    fc.constantFrom('TestId', 'NodeId'),
    fc.constantFrom(
      '1e400',
      '-1e400',
      '18446744073709551616',
      '9007199254740993',
      '-0',
      '0.5',
      '1e-400',
      '123456789012345678901234567890',
    ),
  )
  .map(
    ([field, raw]): Case => ({
      label: `huge number: ${field}`,
      mustRefuse: true,
      body: { text: withRaw(base({ [field]: RAW0 }), [raw]) },
    }),
  );
const missingField = fc.constantFrom('TestId', 'NodeId', 'Summary').map((field): Case => {
  const obj = base();
  delete obj[field];
  return { label: `missing ${field}`, mustRefuse: true, body: { text: withRaw(obj) } };
});
const wrongSummary = fc
  .oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.boolean())
  .map(
    (s): Case => ({
      label: 'wrong type: Summary',
      mustRefuse: true,
      body: { text: withRaw(base({ Summary: s })) },
    }),
  );
const wrongTimestamp = fc
  .oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(
      'NaN',
      'Infinity',
      '',
      '2024-01-01T00:00:00Z',
      '20241340000000000',
      '20240230000000000',
      '20240101240000000',
      '29990101000000000',
      '1704067200000',
    ),
    fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !/^\d{17}$/.test(s)),
  )
  .map(
    (t): Case => ({
      label: 'wrong Summary.Timestamp',
      mustRefuse: true,
      body: { text: withRaw(base({ Summary: { Timestamp: t, Timing: { Total: 1 } } })) },
    }),
  );
const wrongErrorCode = fc
  .oneof(
    fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
    fc.constant({}),
    fc.constant([1]),
    fc.constantFrom('has space', 'semi;colon', 'x'.repeat(65), 'NaN!'),
  )
  .map(
    (code): Case => ({
      // An optional field: text becomes the error tag, anything else is left out; the push is
      // written either way (issue 18), never refused for it.
      label: 'odd Summary.Error.Code',
      mustRefuse: false,
      body: { text: withRaw(base({ Summary: { Timestamp: TS, Error: { Code: code } } })) },
    }),
  );
const notAnObject = fc
  .oneof(
    fc.json().filter((j) => !j.trimStart().startsWith('{')),
    fc.constantFrom(
      'NaN',
      'Infinity',
      '-Infinity',
      'undefined',
      '{',
      '}',
      '{"TestId":1,}',
      "{'TestId':1}",
      '   ',
    ),
  )
  .map((text): Case => ({ label: 'not a JSON object', mustRefuse: true, body: { text } }));
const invalidUtf8 = fc
  .tuple(
    fc.constantFrom<number[]>(
      [0xff],
      [0xfe, 0xff],
      [0xc3],
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ),
    fc.constantFrom('NodeName', 'Timestamp'),
  )
  .map(([insert, where]): Case => {
    const text = withRaw(base());
    const marker = where === 'NodeName' ? 'Paris' : TS;
    const at = text.indexOf(marker);
    return {
      label: 'invalid UTF-8',
      mustRefuse: true,
      body: { bytes: { before: text.slice(0, at), insert, after: text.slice(at) } },
    };
  });
const bigOnes = fc.constantFrom<Case>(
  { label: '10 MB body (valid JSON)', mustRefuse: true, body: { big: 'padded-valid-json' } },
  { label: '10 MB body (garbage)', mustRefuse: true, body: { big: 'garbage' } },
  { label: '10k nested arrays (whole body)', mustRefuse: true, body: { big: 'nested-arrays-body' } },
  { label: '10k nested arrays as TestId', mustRefuse: true, body: { big: 'nested-arrays-in-id' } },
);

// ---- hostile but usable bodies ---------------------------------------------------------------------

/** One of every Unicode class that trips tag handling: controls, marks, format, separators, surrogates... */
const SPECIALS = [
  '\u0000',
  '\u0009',
  '\u000a',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u00ad',
  '\u0301',
  '\u034f',
  '\u05d0',
  '\u0627',
  '\u0660',
  '\u0e01',
  '\u1680',
  '\u200b',
  '\u200d',
  '\u200e',
  '\u202e',
  '\u2028',
  '\u2029',
  '\u2060',
  '\u3000',
  '\u4e2d',
  '\ud800',
  '\udc00',
  '\ue000',
  '\ufeff',
  '\ufffd',
  '\ufffe',
  '\uffff',
  '\ud83d\ude00',
  '\ud83c\udff3\ufe0f\u200d\ud83c\udf08',
  '\udb40\udc01',
  '\u{10ffff}',
  '=',
  ',',
  ' ',
  '"',
  '\\',
  '/',
  '.',
  '-',
  '_',
  ':',
  'é',
  'e\u0301',
  'İ',
  'ß',
  'Ω',
];
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', ' ', '=', 'x'.repeat(1000), '\u0000'.repeat(10)),
);
const hostileNodeName = fc
  .tuple(
    hostileText,
    fc.constantFrom('FR', 'US', 'CN', 'ZZ', 'fr', ''),
    hostileText,
    fc.integer({ min: 900_100, max: 999_999 }),
  )
  .map(
    ([city, cc, isp, nodeId]): Case => ({
      label: 'tag values from every Unicode class',
      mustRefuse: false,
      body: { text: withRaw(base({ NodeId: nodeId, NodeName: `${city}, ${cc} - ${isp}` })) },
    }),
  );
const hostileMeasurement = fc
  .constantFrom(
    '1e400',
    '-1e400',
    '1e308',
    '-1e308',
    '18446744073709551616',
    '9007199254740993',
    '-5',
    '0',
    '5e-324',
    '"NaN"',
    '"Infinity"',
    '"-Infinity"',
    '"12"',
    '"1e400"',
    'null',
    '[]',
    '{}',
    'true',
    '"\\u0000"',
  )
  .map(
    (raw): Case => ({
      label: 'odd measurement value',
      mustRefuse: false,
      body: {
        text: withRaw(
          base({ Summary: { Timestamp: TS, Timing: { Total: RAW0 }, Byte: { Response: RAW0 } } }),
          [raw, raw],
        ),
      },
    }),
  );
const hostileAsn = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.double(),
    fc.constantFrom('AS0', 'AS99999999999', '"x"', {}, []),
  )
  .map(
    (asn): Case => ({
      label: 'odd Asn',
      mustRefuse: false,
      body: { text: withRaw(base({ Asn: asn, NodeId: 900_002 })) },
    }),
  );
const deepElsewhere = fc.constantFrom<Case>({
  label: '10k nested arrays as a measurement',
  mustRefuse: false,
  body: { big: 'nested-in-measurement' },
});

const anyCase = fc.oneof(
  { arbitrary: truncated, weight: 3 },
  { arbitrary: wrongId, weight: 3 },
  { arbitrary: hugeId, weight: 2 },
  { arbitrary: missingField, weight: 1 },
  { arbitrary: wrongSummary, weight: 1 },
  { arbitrary: wrongTimestamp, weight: 2 },
  { arbitrary: wrongErrorCode, weight: 1 },
  { arbitrary: notAnObject, weight: 2 },
  { arbitrary: invalidUtf8, weight: 2 },
  { arbitrary: bigOnes, weight: 1 },
  { arbitrary: hostileNodeName, weight: 4 },
  { arbitrary: hostileMeasurement, weight: 2 },
  { arbitrary: hostileAsn, weight: 1 },
  { arbitrary: deepElsewhere, weight: 1 },
);

function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`;
}

function render(body: Body, ts: string): Buffer {
  if ('text' in body) return Buffer.from(body.text.replaceAll(TS, ts), 'utf8');
  if ('bytes' in body) {
    const { before, insert, after } = body.bytes;
    return Buffer.concat([
      Buffer.from(before.replaceAll(TS, ts)),
      Buffer.from(insert),
      Buffer.from(after.replaceAll(TS, ts)),
    ]);
  }
  const deep = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;
  switch (body.big) {
    case 'padded-valid-json':
      return Buffer.from(withRaw(base({ Padding: 'x'.repeat(TEN_MB) })).replaceAll(TS, ts));
    case 'garbage':
      return Buffer.alloc(TEN_MB, 0x7b);
    case 'nested-arrays-body':
      return Buffer.from(deep);
    case 'nested-arrays-in-id':
      return Buffer.from(withRaw(base({ TestId: RAW0 }), [deep]).replaceAll(TS, ts));
    case 'nested-in-measurement':
      return Buffer.from(
        withRaw(base({ Summary: { Timestamp: TS, Timing: { Total: RAW0 } }, Extra: RAW0 }), [
          deep,
        ]).replaceAll(TS, ts),
      );
  }
}

interface Outcome {
  status: number | 'network';
  json: { ok?: unknown; code?: unknown; reason?: unknown } | undefined;
}

async function post(url: string, body: Buffer): Promise<Outcome> {
  try {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    let json: Outcome['json'];
    try {
      json = JSON.parse(text) as Outcome['json'];
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  } catch {
    return { status: 'network', json: undefined };
  }
}

const hasReason = (o: Outcome) =>
  typeof o.json?.code === 'string' &&
  o.json.code.length > 0 &&
  typeof o.json.reason === 'string' &&
  o.json.reason.length > 0;

export async function malformedInput(ctx: FaultContext, options: { seed: number }): Promise<Row> {
  const startedAt = Date.now();
  const claims = new Claims();
  const tsdb = await startStrictOpenTsdb();
  try {
    const token = ctx.secret('push token 6');
    const bridge = await ctx.startBridge('6', {
      spec: pushSpec(ctx, {
        prefix: 'f6',
        endpoint: tsdb.httpUrl,
        extra: {
          dimensions: ['node', 'city', 'country', 'isp', 'continent', 'asn'],
          measurements: ['rtt', 'status', 'error', 'byte.response'],
        },
      }),
      secrets: pushSecrets(token, ctx.tsdbPassword('6')),
    });
    const url = `${bridge.url}/push/${token}`;
    const nodes = ctx.catchpoint.nodes.slice(0, 20);
    let seq = 0;
    const nextTs = () => Date.UTC(2024, 0, 1) + seq++ * 1000;

    const byLabel = new Map<string, { sent: number; refused4xx: number; accepted: number }>();
    const bad: string[] = [];
    let sent = 0;
    let acked = 0;
    let refused = 0;
    let datapointsExpected = 0;
    const good: Array<{ nodeId: number; ts: number }> = [];
    const note = (c: Case, o: Outcome) => {
      const s = byLabel.get(c.label) ?? { sent: 0, refused4xx: 0, accepted: 0 };
      s.sent++;
      if (o.status === 200) s.accepted++;
      else if (typeof o.status === 'number' && o.status >= 400 && o.status < 500) s.refused4xx++;
      byLabel.set(c.label, s);
    };
    const account = (o: Outcome) => {
      sent++;
      if (o.status === 200) {
        acked++;
        datapointsExpected += Number((o.json as { datapoints?: number } | undefined)?.datapoints ?? 0);
      } else refused++;
    };

    ctx.progress(
      `6: ${NUM_RUNS} property runs (bad push, then a good one) against the strict OpenTSDB server`,
    );
    const property = fc.asyncProperty(anyCase, async (c) => {
      const o = await post(url, render(c.body, stamp(nextTs())));
      account(o);
      note(c, o);
      const fourXX = typeof o.status === 'number' && o.status >= 400 && o.status < 500;
      if (c.mustRefuse && !(fourXX && hasReason(o))) {
        throw new Error(
          `${c.label}: answered ${o.status} ${JSON.stringify(o.json)?.slice(0, 200)}, want 4xx {code, reason}`,
        );
      }
      if (!c.mustRefuse && !(o.status === 200 || (fourXX && hasReason(o)))) {
        throw new Error(
          `${c.label}: answered ${o.status} ${JSON.stringify(o.json)?.slice(0, 200)}, want 200 or 4xx with a reason`,
        );
      }
      const node = nodes[seq % nodes.length]!;
      const ts = nextTs();
      const g = await post(
        url,
        Buffer.from(
          pushBody({
            testId: GOOD_TEST_ID,
            nodeId: node.id,
            nodeName: node.name,
            asn: node.asn,
            timestampMs: ts,
            totalMs: 50,
          }),
        ),
      );
      account(g);
      if (g.status !== 200)
        throw new Error(`the good push after "${c.label}" got ${g.status} ${JSON.stringify(g.json)}`);
      good.push({ nodeId: node.id, ts });
    });
    let propertyError: string | undefined;
    try {
      await fc.assert(property, { numRuns: NUM_RUNS, seed: options.seed, endOnFailure: true });
    } catch (err) {
      propertyError = (err as Error).message.slice(0, 1500);
    }
    // Every kind at least once, whatever the sampling drew.
    for (const c of fc.sample(bigOnes, { numRuns: 8, seed: options.seed })) {
      const o = await post(url, render(c.body, stamp(nextTs())));
      account(o);
      note(c, o);
      if (!(typeof o.status === 'number' && o.status >= 400 && o.status < 500 && hasReason(o))) {
        bad.push(`${c.label}: ${o.status}`);
      }
    }

    const alive = isAlive(bridge.pid);
    const health = await fetch(`${bridge.url}/healthz`).then(
      (r) => r.status,
      () => 'down',
    );
    const writtenAt = await until(async () => {
      const m = await scrape(bridge.url);
      return m.value('catchpoint_bridge_spool_bytes') === 0 && tsdb.accepted.length >= datapointsExpected;
    }, 20_000);
    const metrics = await scrape(bridge.url);

    claims.check(
      'the process stays up and healthy',
      alive &&
        health === 200 &&
        !bridge.logs.some((l) => /"level":"(error|fatal)"/.test(l) && /request failed/.test(l)),
      `pid ${bridge.pid} alive: ${alive}; /healthz ${health}`,
    );
    claims.check(
      'each bad push gets a 4xx with {code, reason}; hostile but usable pushes get 200 or a 4xx with a reason; never 5xx',
      propertyError === undefined && bad.length === 0,
      propertyError ?? (bad.join('; ') || `${NUM_RUNS} runs, seed ${options.seed}`),
    );
    const goodKeys = new Set(good.map((g) => `${g.nodeId}@${g.ts}`));
    const goodFound = new Set(
      tsdb.accepted
        .filter((p) => p.metric === `f6.rtt.by_node.${GOOD_TEST_ID}`)
        .map((p) => `${p.tags.nodeid}@${p.timestamp}`)
        .filter((k) => goodKeys.has(k)),
    );
    claims.check(
      'every interleaved good push is written',
      good.length > 0 && goodFound.size === goodKeys.size,
      `${goodFound.size}/${goodKeys.size} good pushes in the TSDB`,
    );
    claims.check(
      'the strict OpenTSDB server refused nothing (no point real OpenTSDB would refuse was sent)',
      tsdb.refused.length === 0 && tsdb.requests.every((r) => r.status !== 400 && r.status !== 'closed'),
      tsdb.refused.length === 0
        ? `${tsdb.accepted.length} points in ${tsdb.requests.length} requests accepted`
        : `${tsdb.refused.length} refused, e.g. ${JSON.stringify(tsdb.refused[0]).slice(0, 300)}`,
    );
    claims.check(
      'every acknowledged datapoint was written',
      writtenAt !== undefined && tsdb.accepted.length === datapointsExpected,
      `${tsdb.accepted.length} accepted of ${datapointsExpected} the 200s announced; rejected_total ${metrics.value('catchpoint_bridge_datapoints_rejected_total')}`,
    );
    const keys = new Map<string, number>();
    for (const p of tsdb.accepted) {
      const k = `${p.metric}|${p.timestamp}|${JSON.stringify(Object.entries(p.tags).sort())}`;
      keys.set(k, (keys.get(k) ?? 0) + 1);
    }
    let duplicated = 0;
    for (const n of keys.values()) duplicated += n - 1;
    const found = Math.min(tsdb.accepted.length - duplicated, datapointsExpected);
    return makeRow(
      {
        id: '6',
        scenario: `malformed input: ${NUM_RUNS} fast-check runs, strict OpenTSDB`,
        sent,
        acknowledged: acked,
        refused,
        expected: datapointsExpected,
        found,
        lost: datapointsExpected - found,
        duplicated,
        recoverMs: null,
        recoverWhat: '',
        notes: [
          `fast-check seed ${options.seed}; by kind (sent / 4xx / 200): ${[...byLabel]
            .map(([l, s]) => `${l} ${s.sent}/${s.refused4xx}/${s.accepted}`)
            .join('; ')}`,
          `pushes_total: ${['accepted', 'invalid', 'too_large', 'duplicate']
            .map((o) => `${o} ${metrics.value('catchpoint_bridge_pushes_total', { outcome: o })}`)
            .join(', ')}`,
        ],
      },
      claims,
      startedAt,
    );
  } finally {
    await tsdb.close();
  }
}
