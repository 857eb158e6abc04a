import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { validateSpec } from '../../../src/api/validate.ts';
import { buildApp } from '../../../src/bridge/app.ts';
import { Bridge } from '../../../src/bridge/bridge.ts';
import { resolveSecrets } from '../../../src/bridge/config.ts';
import { createLogger } from '../../../src/shared/logger.ts';

const sample = await readFile(join(import.meta.dirname, '../../fixtures/catchpoint/dns-direct-v3.json'));
const TOKEN = 'tok-0123456789abcdef0123456789abcdef';
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(
  patch: Record<string, unknown> = {},
  secrets: Record<string, string> = { 'cp/apiKey': 'k', 'push/token': TOKEN },
) {
  const dir = await mkdtemp(join(tmpdir(), 'cpb-app-'));
  dirs.push(dir);
  const spec = validateSpec({
    catchpoint: { credentialsSecretRef: { name: 'cp' }, baseURL: 'http://127.0.0.1:9' },
    push: { tokenSecretRef: { name: 'push' } },
    tsdb: { endpoints: [`file://${join(dir, 'points.put')}`] },
    ...patch,
  });
  const config = resolveSecrets('ns/b', 1, spec, (s, k) => secrets[`${s}/${k}`]);
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug' }, { write: (l: string) => void logLines.push(l) });
  const bridge = await Bridge.create(config, { spoolDir: join(dir, 'spool'), logger, processMetrics: false });
  const app = buildApp({ bridge, logger });
  after(async () => {
    await app.close();
    await bridge.close(100);
  });
  return { app, bridge, dir, logLines };
}

describe('app', () => {
  it('a valid push with the right token is accepted, whatever its Content-Type', async () => {
    const { app } = await setup();
    for (const ct of ['application/json', 'text/plain', 'application/octet-stream']) {
      const body = JSON.stringify({ ...JSON.parse(sample.toString()), TestId: ct.length });
      const res = await app.inject({
        method: 'POST',
        url: `/push/${TOKEN}`,
        payload: body,
        headers: { 'content-type': ct },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().ok, true);
    }
  });

  it('a wrong, empty or missing token is 401 and nothing is spooled', async () => {
    const { app, bridge } = await setup();
    for (const url of ['/push/nope', `/push/${TOKEN}x`, '/']) {
      const res = await app.inject({ method: 'POST', url, payload: sample });
      assert.equal(res.statusCode, 401, url);
    }
    assert.equal((await app.inject({ method: 'POST', url: '/push/', payload: sample })).statusCode, 401);
    assert.equal(bridge.spoolBytes, 0);
  });

  it('POST /push takes the token in Authorization: Bearer or the header push.tokenHeader names', async () => {
    const { app, bridge, logLines } = await setup({
      push: { tokenSecretRef: { name: 'push' }, tokenHeader: 'X-Push-Token' },
    });
    const push = (testId: number, headers: Record<string, string | undefined>) =>
      app.inject({
        method: 'POST',
        url: '/push',
        payload: JSON.stringify({ ...JSON.parse(sample.toString()), TestId: testId }),
        headers: headers as Record<string, string>,
      });
    assert.equal((await push(1, { authorization: `Bearer ${TOKEN}` })).statusCode, 200);
    assert.equal(
      (await push(2, { authorization: `bearer ${TOKEN}` })).statusCode,
      200,
      'scheme is case-insensitive',
    );
    assert.equal((await push(3, { 'x-push-token': TOKEN })).statusCode, 200);
    assert.equal(
      (await push(4, { 'X-PUSH-TOKEN': ` ${TOKEN} ` })).statusCode,
      200,
      'header name any case, value trimmed',
    );
    for (const headers of [
      {},
      { authorization: `Basic ${TOKEN}` },
      { authorization: 'Bearer ' },
      { authorization: `Bearer ${TOKEN}x` },
      { 'x-push-token': 'nope' },
      { 'x-other-token': TOKEN },
    ]) {
      const res = await push(5, headers);
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json().code, 'CPB_ERR_PUSH_UNAUTHORIZED');
    }
    assert.match((await push(5, {})).json().reason, /Authorization: Bearer <token> or X-Push-Token/);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /catchpoint_bridge_pushes_total\{outcome="accepted"\} 4/);
    assert.match(metrics, /catchpoint_bridge_pushes_total\{outcome="unauthorized"\} 7/);
    assert.ok(logLines.every((l) => !l.includes(TOKEN)));

    // The rotation overlap holds for header tokens too: the old one works until it ends.
    const next = 'tok-fedcba9876543210fedcba9876543210';
    bridge.apply(
      resolveSecrets(
        'ns/b',
        2,
        bridge.config.spec,
        (s, k) => (({ 'cp/apiKey': 'k', 'push/token': next }) as Record<string, string>)[`${s}/${k}`],
      ),
    );
    assert.equal((await push(6, { authorization: `Bearer ${next}` })).statusCode, 200);
    assert.equal((await push(7, { 'x-push-token': TOKEN })).statusCode, 200, 'old token within the overlap');
  });

  it('POST / works without a token (seed compatibility)', async () => {
    const { app } = await setup({ push: {} });
    assert.equal((await app.inject({ method: 'POST', url: '/', payload: sample })).statusCode, 200);
  });

  it('malformed pushes get a 400 with a reason', async () => {
    const { app } = await setup();
    const cases: Array<[string | Buffer, RegExp]> = [
      ['{"TestId": 1', /JSON/],
      ['[1,2]', /object/i],
      [JSON.stringify({ TestId: 1, NodeId: 2, Summary: { Timestamp: '2016' } }), /Timestamp/],
      [JSON.stringify({ NodeId: 2, Summary: { Timestamp: '20160226010449609' } }), /TestId/],
      [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
      [JSON.stringify({ TestId: 1, NodeId: 2, Summary: { Timestamp: '29990226010449609' } }), /future/],
    ];
    for (const [payload, reason] of cases) {
      const res = await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload });
      assert.equal(res.statusCode, 400, String(payload));
      assert.match(res.json().reason, reason);
      assert.match(res.json().code, /^CPB_ERR_/);
    }
  });

  it('a body over push.maxBodyBytes is 413', async () => {
    const { app } = await setup({ push: { tokenSecretRef: { name: 'push' }, maxBodyBytes: 1024 } });
    const big = JSON.stringify({ ...JSON.parse(sample.toString()), Pad: 'x'.repeat(2000) });
    assert.equal((await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: big })).statusCode, 413);
  });

  it('a re-delivered push is acknowledged and written once', async () => {
    const { app } = await setup();
    const first = await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: sample });
    const again = await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: sample });
    // No directory reachable here: tags come from the push itself (NodeName, Asn), so there is
    // no region and 6 of the seed's 7 dimensions are written.
    assert.equal(first.json().datapoints, 12);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().datapoints, 0);
  });

  it('a full spool answers 503 with Retry-After, never a silent drop', async () => {
    const { app } = await setup({ spool: { maxBytes: '1Ki' } });
    const res = await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: sample });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '30');
  });

  it('/metrics counts pushes by outcome; /healthz and /readyz answer; no token in any log line', async () => {
    const { app, logLines } = await setup();
    await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: sample });
    await app.inject({ method: 'POST', url: '/push/wrong', payload: sample });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /catchpoint_bridge_pushes_total\{outcome="accepted"\} 1/);
    assert.match(metrics, /catchpoint_bridge_pushes_total\{outcome="unauthorized"\} 1/);
    assert.match(metrics, /catchpoint_bridge_datapoints_spooled_total 12/);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    assert.ok(logLines.every((l) => !l.includes(TOKEN)));
  });

  it('POST /internal/handoff: a peer with the token hands over valid points; anything else is refused', async () => {
    const { app, bridge } = await setup();
    const point = JSON.stringify({
      metric: 'catchpoint.rtt.by_node.1',
      timestamp: 1700000000000,
      value: 5,
      tags: { nodeid: '1' },
    });
    const post = (auth: string | undefined, payload: string) =>
      app.inject({
        method: 'POST',
        url: '/internal/handoff',
        payload,
        headers: auth ? { authorization: auth } : {},
      });
    assert.equal((await post(undefined, point)).statusCode, 401);
    assert.equal((await post('Bearer nope', point)).statusCode, 401);
    const bad = await post(`Bearer ${TOKEN}`, `${point}\n{"metric":"a b","timestamp":1,"value":1,"tags":{}}`);
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'CPB_ERR_HANDOFF_INVALID');
    assert.equal(bridge.spoolBytes, 0, 'a bad batch is refused whole');
    // Hostile peers: a record no spool record may be (its size is checked before any parsing), not an object.
    const huge = await post(`Bearer ${TOKEN}`, `${point}\n{"metric":"${'m'.repeat(200_000)}"}\n`);
    assert.equal(huge.statusCode, 413);
    assert.match(huge.json().reason, /record 1 is \d+ bytes, over the limit of 65536/);
    for (const record of ['null', '[1]', '"x"', '7']) {
      const res = await post(`Bearer ${TOKEN}`, `${point}\n${record}`);
      assert.equal(res.statusCode, 400, record);
      assert.match(res.json().reason, /record 1 is not a JSON object/);
    }
    assert.equal(bridge.spoolBytes, 0, 'nothing of a refused batch is spooled');
    const ok = await post(
      `Bearer ${TOKEN}`,
      `${point}\n${point.replace('1700000000000', '1700000001000')}\n`,
    );
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().datapoints, 2);
    assert.ok(bridge.spoolBytes > 0);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /catchpoint_bridge_handoffs_received_total\{outcome="unauthorized"\} 2/);
    assert.match(metrics, /catchpoint_bridge_handoffs_received_total\{outcome="invalid"\} 6/);
    assert.match(metrics, /catchpoint_bridge_handoffs_received_total\{outcome="accepted"\} 1/);
    assert.doesNotMatch(metrics, /catchpoint_bridge_pushes_total\{/, 'hand-offs are not pushes');
  });

  it('shutdown: out of the Service while pushes are still taken, then 503 with Retry-After', async () => {
    const { bridge, logLines } = await setup();
    const logger = createLogger({ level: 'silent' }, { write: (l: string) => void logLines.push(l) });
    const ref: { current: Bridge; terminating?: boolean; closing?: boolean } = { current: bridge };
    const app = buildApp({ bridge: ref, logger });
    after(() => app.close());
    const push = (testId: number) =>
      app.inject({
        method: 'POST',
        url: `/push/${TOKEN}`,
        payload: JSON.stringify({ ...JSON.parse(sample.toString()), TestId: testId }),
      });

    ref.terminating = true;
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    assert.equal((await push(1)).statusCode, 200, 'still taken while the endpoints catch up');

    ref.closing = true;
    const refused = await push(2);
    assert.equal(refused.statusCode, 503);
    assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After');
    assert.equal(refused.json().ok, false);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive meanwhile');
  });

  /** The put lines the file writer has written, once there are at least `count`. */
  async function putLines(dir: string, count: number): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = await readFile(join(dir, 'points.put'), 'utf8').catch(() => '');
      const lines = text.split('\n').filter(Boolean);
      if (lines.length >= count || Date.now() > deadline) return lines;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const warnings = (logLines: string[]) => logLines.filter((l) => JSON.parse(l).level === 'warn');

  it('an absent or empty Catchpoint key: no node directory, one warning, tags from the push itself', async () => {
    const cases: Array<Record<string, string>> = [
      { 'push/token': TOKEN },
      { 'cp/apiKey': ' \n', 'push/token': TOKEN },
    ];
    for (const secrets of cases) {
      const { app, bridge, dir, logLines } = await setup({}, secrets);
      assert.equal(bridge.directory, undefined, 'no node directory');
      bridge.start();
      const res = await app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload: sample });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(
        res.json().datapoints,
        12,
        'six of the seven seed dimensions: no region without a directory',
      );
      const lines = await putLines(dir, 12);
      assert.equal(lines.length, 12);
      const byCity = lines.find((l) => l.startsWith('put catchpoint.rtt.by_city.12345 '));
      assert.equal(byCity, 'put catchpoint.rtt.by_city.12345 1456448689 158 nodeid=312 city=Jinan');
      const tags = new Set(lines.flatMap((l) => l.split(' ').slice(4)));
      for (const tag of ['asn=4837', 'continent=Asia', 'country=China', 'isp=Unicom', 'status=ok']) {
        assert.ok(tags.has(tag), `${tag} from the push's NodeName and Asn`);
      }
      // The same config again (a reload that changed nothing else) does not warn again.
      bridge.apply(bridge.config);
      await app.inject({
        method: 'POST',
        url: `/push/${TOKEN}`,
        payload: JSON.stringify({ ...JSON.parse(sample.toString()), TestId: 2 }),
      });
      const warned = warnings(logLines);
      assert.equal(warned.length, 1, warned.join('\n'));
      assert.match(JSON.parse(warned[0]!).msg, /no Catchpoint API credentials.*no node directory/);
      assert.deepEqual(
        { secret: JSON.parse(warned[0]!).secret, keys: JSON.parse(warned[0]!).keys },
        { secret: 'cp', keys: ['apiKey'] },
      );
      assert.match(
        (await app.inject({ method: 'GET', url: '/metrics' })).body,
        /^catchpoint_bridge_directory_nodes 0$/m,
      );
    }
  });

  it('a key added later starts the node directory live; removed, it stops it', async () => {
    const { bridge } = await setup({}, { 'push/token': TOKEN });
    bridge.start();
    const spec = bridge.config.spec;
    const withKey = (key: string | undefined, generation: number) =>
      resolveSecrets('ns/b', generation, spec, (s, k) =>
        s === 'push' ? TOKEN : s === 'cp' && k === 'apiKey' ? key : undefined,
      );
    bridge.apply(withKey('k', 2));
    assert.ok(bridge.directory !== undefined);
    bridge.apply(withKey('', 3));
    assert.equal(bridge.directory, undefined);
  });

  const TEMPLATE_PUSH = {
    tokenSecretRef: { name: 'push' },
    format: 'template',
    template: {
      testId: 'Test.Id',
      nodeId: 'Node.Id',
      timestamp: 'Run.Time',
      nodeName: 'Node.Name',
      errorCode: 'Run.Error',
      measurements: { rtt: 'Run.Total', 'timing.dns': 'Run.Dns', 'timing.connect': 'Run.Connect' },
    },
  };

  function templateBody(run: Record<string, unknown>, test: Record<string, unknown> = { Id: '77' }) {
    return JSON.stringify({
      Test: test,
      Node: { Id: '312', Name: 'Jinan, CN - Unicom' },
      Run: { Time: '2024-05-02T23:20:44.798+02:00', Total: '250', Dns: '12', Connect: '30', ...run },
    });
  }

  it('a template push with an error code as text and a measurement that is not a number: 200, the valid points written, the rest counted and logged', async () => {
    const { app, bridge, dir, logLines } = await setup({
      push: TEMPLATE_PUSH,
      dimensions: ['node'],
      measurements: ['rtt', 'status', 'error'],
    });
    bridge.start();
    const res = await app.inject({
      method: 'POST',
      url: `/push/${TOKEN}`,
      payload: templateBody({ Error: 'DNS Failure', Dns: 'n/a' }),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().datapoints, 4, 'rtt, timing.connect (mapped, not listed), status, error');
    const ts = Math.floor(Date.UTC(2024, 4, 2, 21, 20, 44, 798) / 1000);
    assert.deepEqual((await putLines(dir, 4)).sort(), [
      `put catchpoint.error.by_node.77 ${ts} 1 nodeid=312 error=DNS_Failure`,
      `put catchpoint.rtt.by_node.77 ${ts} 250 nodeid=312`,
      `put catchpoint.status.by_node.77 ${ts} 1 nodeid=312 status=error`,
      `put catchpoint.timing.connect.by_node.77 ${ts} 30 nodeid=312`,
    ]);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /catchpoint_bridge_measurement_invalid_total\{measurement="timing.dns"\} 1/);
    assert.match(metrics, /catchpoint_bridge_pushes_total\{outcome="accepted"\} 1/);
    const logged = logLines.map((l) => JSON.parse(l)).find((l) => l.measurement === 'timing.dns');
    assert.equal(logged?.level, 'warn');
    assert.deepEqual([logged.testId, logged.nodeId], ['77', '312']);

    // An error field that is no code at all: the status is unknown, so neither status nor error
    // is written; the field is counted and logged.
    const odd = await app.inject({
      method: 'POST',
      url: `/push/${TOKEN}`,
      payload: templateBody({ Error: { Code: 7 }, Time: '2024-05-02T21:25:44Z' }),
    });
    assert.equal(odd.statusCode, 200, odd.body);
    assert.equal(odd.json().datapoints, 3, 'rtt, timing.dns, timing.connect');
    const after = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(after, /catchpoint_bridge_field_invalid_total\{field="errorCode"\} 1/);
    assert.match(after, /catchpoint_bridge_measurement_missing_total\{measurement="status"\} 1/);
    const field = logLines.map((l) => JSON.parse(l)).find((l) => l.field === 'errorCode');
    assert.deepEqual(
      { level: field?.level, path: field?.path, value: field?.value, status: field?.status },
      { level: 'warn', path: 'Run.Error', value: 'an object', status: 'unknown, not written' },
    );
  });

  it('only a missing or invalid test id, node id or timestamp is a 400, and its reason names the field', async () => {
    const json = await setup();
    const base = JSON.parse(sample.toString()) as Record<string, unknown>;
    const jsonCases: Array<[Record<string, unknown>, string]> = [
      [{ TestId: undefined }, 'TestId'],
      [{ TestId: 'abc' }, 'TestId'],
      [{ NodeId: null }, 'NodeId'],
      [{ NodeId: 0 }, 'NodeId'],
      [{ Summary: { Timing: { Total: 5 } } }, 'Summary.Timestamp'],
      [{ Summary: { Timestamp: '2016-02-26T01:04:49Z' } }, 'Summary.Timestamp'],
    ];
    for (const [patch, field] of jsonCases) {
      const res = await json.app.inject({
        method: 'POST',
        url: `/push/${TOKEN}`,
        payload: JSON.stringify({ ...base, ...patch }),
      });
      assert.equal(res.statusCode, 400, JSON.stringify(patch));
      assert.ok(res.json().reason.includes(field), `${res.json().reason} names ${field}`);
    }
    const optional = await json.app.inject({
      method: 'POST',
      url: `/push/${TOKEN}`,
      payload: JSON.stringify({
        ...base,
        NodeName: ['x'],
        Asn: { n: 1 },
        Summary: {
          Timestamp: '20160226010449609',
          Timing: { Total: 'fast' },
          Error: { Code: 'Name not resolved' },
        },
      }),
    });
    assert.equal(optional.statusCode, 200, 'optional fields of any shape never cost a 400');

    const template = await setup({ push: TEMPLATE_PUSH, dimensions: ['node'] });
    const templateCases: Array<[string, string]> = [
      [templateBody({}, {}), 'Test.Id'],
      [templateBody({}, { Id: 'seventy-seven' }), 'Test.Id'],
      [templateBody({ Time: '' }), 'Run.Time'],
      [templateBody({ Time: '2024-05-02T21:20:44' }), 'Run.Time'],
      [JSON.stringify({ Test: { Id: '77' }, Run: { Time: '1714684844' } }), 'Node.Id'],
    ];
    for (const [payload, field] of templateCases) {
      const res = await template.app.inject({ method: 'POST', url: `/push/${TOKEN}`, payload });
      assert.equal(res.statusCode, 400, payload);
      assert.ok(res.json().reason.startsWith(`${field} `), `${res.json().reason} names ${field}`);
    }
  });
});
