/**
 * NodeDirectory against the fake Catchpoint: loading through v1 (raw, base64, auto) and v2
 * (paged), token expiry, 429s, outages, live reconfiguration, and the rate limit on reloads
 * triggered by unknown nodes. Request counts come from the fake server.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { NodeDirectory, type NodeDirectoryOptions } from '../../../src/catchpoint/directory.ts';
import { CatchpointConfigError } from '../../../src/catchpoint/errors.ts';
import {
  expectedV1Info,
  expectedV2Info,
  FAKE_V1_CLIENT_ID,
  FAKE_V1_CLIENT_SECRET,
  FAKE_V2_API_KEY,
  type FakeCatchpoint,
  generateNodes,
  startFakeCatchpoint,
} from '../../harness/fake-catchpoint.ts';

const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

const V1_CREDENTIALS = { clientId: FAKE_V1_CLIENT_ID, clientSecret: FAKE_V1_CLIENT_SECRET };
const ROTATED_KEY = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.cm90YXRlZC1zaWduYXR1cmU';

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('NodeDirectory', () => {
  let fake: FakeCatchpoint;
  const directories: NodeDirectory[] = [];

  const options = (overrides: Partial<NodeDirectoryOptions> = {}): NodeDirectoryOptions => ({
    api: 'v2',
    baseURL: fake.url,
    credentials: { apiKey: FAKE_V2_API_KEY },
    refreshIntervalMs: 3_600_000,
    unknownNodeRefreshMinIntervalMs: 300_000,
    logger,
    retryBaseDelayMs: 20,
    rateLimit: { baseDelayMs: 5, maxDelayMs: 20 },
    ...overrides,
  });
  const directory = (overrides: Partial<NodeDirectoryOptions> = {}): NodeDirectory => {
    const dir = new NodeDirectory(options(overrides));
    directories.push(dir);
    return dir;
  };

  before(async () => {
    fake = await startFakeCatchpoint();
  });
  beforeEach(() => {
    fake.clearFaults();
    fake.setNodes(generateNodes());
    fake.setV1({ bearerEncoding: 'raw', clientSecret: FAKE_V1_CLIENT_SECRET });
    fake.setV2({ apiKey: FAKE_V2_API_KEY });
    fake.resetRequests();
  });
  afterEach(async () => {
    await Promise.all(directories.splice(0).map((d) => d.stop()));
  });
  after(async () => {
    await fake.close();
    // Nothing this suite logged may hold a credential or a token.
    const text = logLines.join('');
    for (const secret of [FAKE_V1_CLIENT_SECRET, FAKE_V2_API_KEY, ROTATED_KEY, 'cp-fake-wrong-secret']) {
      assert.ok(!text.includes(secret), 'a credential reached the log');
    }
    assert.ok(!/Bearer /.test(text), 'a bearer token reached the log');
  });

  describe('loading', () => {
    it('starts in the background: start() returns before anything is loaded', async () => {
      const dir = directory();
      dir.start();
      assert.equal(dir.size, 0);
      assert.equal(dir.lookup('312'), undefined);
      assert.equal(dir.lastSuccessAt, undefined);
      assert.equal(await dir.refresh(), true, 'refresh() joins the load under way');
      assert.equal(dir.size, 260);
      assert.equal(dir.refreshCount, 1);
      assert.equal(fake.requests.v2Nodes, 3, 'one load, not two');
      assert.ok(dir.lastSuccessAt !== undefined && dir.lastSuccessAt <= Date.now());
      assert.equal(dir.lastError, undefined);
    });

    it('v2: pages 250 nodes in 3 requests and derives continent and ISP', async () => {
      fake.setNodes(generateNodes(250));
      const dir = directory();
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.size, 250);
      assert.equal(fake.requests.v2Nodes, 3);
      for (const node of fake.nodes) assert.deepEqual(dir.lookup(String(node.id)), expectedV2Info(node));
      assert.deepEqual(dir.lookup('312'), {
        id: '312',
        name: 'Jinan, CN - Unicom',
        asn: '4837',
        city: 'Jinan',
        country: 'China',
        countryCode: 'CN',
        continent: 'Asia',
        isp: 'Unicom',
        networkType: 'Backbone',
      });
    });

    it('v1 raw: one token, one list, region and continent from Catchpoint', async () => {
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS, v1BearerEncoding: 'raw' });
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.size, 260);
      assert.deepEqual(fake.requests, { token: 1, v1Nodes: 1, v2Nodes: 0, total: 2 });
      for (const node of fake.nodes) assert.deepEqual(dir.lookup(String(node.id)), expectedV1Info(node));
      assert.equal(dir.lookup('1')?.region, 'Nevada');
    });

    it('v1 base64: sends base64(token)', async () => {
      fake.setV1({ bearerEncoding: 'base64' });
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS, v1BearerEncoding: 'base64' });
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.size, 260);
      assert.equal(fake.requests.v1Nodes, 1);
    });

    it('v1 auto: detects base64 on the first load and keeps using it', async () => {
      fake.setV1({ bearerEncoding: 'base64' });
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS, v1BearerEncoding: 'auto' });
      assert.equal(await dir.refresh(), true);
      assert.deepEqual(
        fake.log.map((r) => [r.endpoint, r.status]),
        [
          ['token', 200],
          ['v1-nodes', 401],
          ['v1-nodes', 200],
        ],
      );
      fake.resetRequests();
      assert.equal(await dir.refresh(), true);
      assert.deepEqual(fake.requests, { token: 0, v1Nodes: 1, v2Nodes: 0, total: 1 });
      assert.match(logLines.at(-1) ?? '', /"bearerEncoding":"base64"/);
    });

    it('v1: an expired token is renewed once and the load succeeds', async () => {
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS });
      assert.equal(await dir.refresh(), true);
      fake.expireTokens();
      fake.resetRequests();
      assert.equal(await dir.refresh(), true);
      assert.deepEqual(
        fake.log.map((r) => [r.endpoint, r.status]),
        [
          ['v1-nodes', 401],
          ['token', 200],
          ['v1-nodes', 200],
        ],
      );
      assert.equal(dir.refreshCount, 2);
    });

    it('refreshes periodically', async () => {
      const dir = directory({ refreshIntervalMs: 60 });
      dir.start();
      await waitFor('three loads', () => dir.refreshCount >= 3);
      assert.equal(dir.lastError, undefined);
    });
  });

  describe('failures', () => {
    it('429 then success: backs off inside the load and completes it', async () => {
      fake.setFaults({ rateLimit: { count: 2, endpoint: 'v2-nodes' } });
      const dir = directory();
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.size, 260);
      assert.equal(fake.requests.v2Nodes, 5);
      assert.equal(dir.lastError, undefined);
    });

    it('429 until the attempts run out: RATE_LIMITED, directory kept', async () => {
      const dir = directory({ rateLimit: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 } });
      assert.equal(await dir.refresh(), true);
      fake.setFaults({ rateLimit: { count: 1000 } });
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_RATE_LIMITED');
      assert.equal(dir.size, 260);
    });

    it('an outage keeps the last good directory (503, then dropped connections)', async () => {
      const dir = directory();
      assert.equal(await dir.refresh(), true);
      const loadedAt = dir.lastSuccessAt;
      const before = dir.lookup('540');

      fake.setFaults({ outage: { count: Number.POSITIVE_INFINITY, mode: 'status' } });
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
      assert.equal(dir.size, 260);
      assert.deepEqual(dir.lookup('540'), before);
      assert.equal(dir.lastSuccessAt, loadedAt);

      fake.setFaults({ outage: { count: Number.POSITIVE_INFINITY, mode: 'destroy' } });
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
      assert.equal(dir.size, 260);

      fake.clearFaults();
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.lastError, undefined);
      assert.equal(dir.refreshCount, 2);
    });

    it('retries a failed load on its own with backoff', async () => {
      fake.setFaults({ outage: { count: 3, mode: 'status' } });
      const dir = directory({ retryBaseDelayMs: 10, retryMaxDelayMs: 40 });
      dir.start();
      await waitFor('recovery', () => dir.refreshCount === 1);
      assert.equal(dir.size, 260);
      assert.equal(dir.lastError, undefined);
      assert.equal(fake.requests.v2Nodes, 3 + 3, 'three failed attempts, then one load of three pages');
    });

    it('waits out a long Retry-After instead of hammering Catchpoint', async () => {
      fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 3600 } });
      const dir = directory({ retryBaseDelayMs: 5 });
      dir.start();
      await waitFor('the failed attempt', () => dir.lastError !== undefined);
      await sleep(200);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_RATE_LIMITED');
      assert.equal(fake.requests.v2Nodes, 1, 'no retry within the hour Catchpoint asked for');
    });

    it('never replaces a directory with an empty node list', async () => {
      const dir = directory();
      assert.equal(await dir.refresh(), true);
      fake.setNodes([]);
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_EMPTY_LIST');
      assert.equal(dir.size, 260);
    });

    it('reports bad credentials as AUTH and keeps the directory', async () => {
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS });
      assert.equal(await dir.refresh(), true);
      fake.setV1({ clientSecret: 'cp-fake-wrong-secret' });
      fake.expireTokens();
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_AUTH');
      assert.equal(dir.size, 260);
    });
  });

  describe('reconfigure', () => {
    it('takes new credentials live and keeps the nodes meanwhile', async () => {
      const dir = directory();
      dir.start();
      await dir.refresh();
      fake.setV2({ apiKey: ROTATED_KEY });
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lastError, 'CPB_ERR_CATCHPOINT_AUTH');

      fake.resetRequests();
      dir.reconfigure(options({ credentials: { apiKey: ROTATED_KEY } }));
      assert.equal(dir.size, 260, 'current map kept while reloading');
      assert.equal(await dir.refresh(), true, 'the reload started by reconfigure');
      assert.equal(dir.lastError, undefined);
      assert.equal(fake.requests.v2Nodes, 3);
      assert.ok(fake.log.every((r) => r.authorization === `Bearer ${ROTATED_KEY}`));
    });

    it('switches API (v2 → v1) live', async () => {
      const dir = directory();
      dir.start();
      await dir.refresh();
      assert.equal(dir.lookup('1')?.region, undefined, 'v2 has no region');
      dir.reconfigure(options({ api: 'v1', credentials: V1_CREDENTIALS }));
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.lookup('1')?.region, 'Nevada');
    });

    it('abandons the load under way: a late answer from the old settings is dropped', async () => {
      const other = await startFakeCatchpoint({ nodes: generateNodes(40) });
      try {
        // The old load is stuck behind a 1 s Retry-After when the new settings arrive.
        fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 1 } });
        const dir = directory();
        dir.start();
        await waitFor('the first 429', () => fake.requests.v2Nodes === 1);
        dir.reconfigure(options({ baseURL: other.url }));
        assert.equal(await dir.refresh(), true);
        assert.equal(dir.size, 40);
        await sleep(1300);
        assert.equal(dir.size, 40, 'the old load did not overwrite the new directory');
        assert.equal(fake.requests.v2Nodes, 1, 'the old load was aborted, not finished');
        assert.equal(dir.refreshCount, 1);
      } finally {
        await other.close();
      }
    });

    it('keeps the REST client (and v1 token) when only intervals change', async () => {
      const dir = directory({ api: 'v1', credentials: V1_CREDENTIALS });
      dir.start();
      await dir.refresh();
      dir.reconfigure(options({ api: 'v1', credentials: V1_CREDENTIALS, refreshIntervalMs: 7_200_000 }));
      await dir.refresh();
      assert.equal(fake.requests.token, 1);
      assert.equal(fake.requests.v1Nodes, 2);
    });

    it('rejects invalid options with CPB_ERR_CATCHPOINT_CONFIG and keeps the old ones', async () => {
      const dir = directory();
      const invalid: Array<Partial<NodeDirectoryOptions>> = [
        { api: 'v1' },
        { api: 'v2', credentials: V1_CREDENTIALS },
        { credentials: { apiKey: '' } },
        { baseURL: 'ftp://example.com' },
        { baseURL: 'not a url' },
        { refreshIntervalMs: 0 },
        { unknownNodeRefreshMinIntervalMs: Number.NaN },
        { api: 'v1', credentials: V1_CREDENTIALS, v1BearerEncoding: 'hex' as 'raw' },
      ];
      for (const bad of invalid) {
        assert.throws(
          () => dir.reconfigure(options(bad)),
          (err: unknown) => err instanceof CatchpointConfigError && err.code === 'CPB_ERR_CATCHPOINT_CONFIG',
          JSON.stringify(bad),
        );
      }
      assert.throws(() => new NodeDirectory(options({ api: 'v1' })), CatchpointConfigError);
      assert.equal(await dir.refresh(), true, 'still works with the old options');
    });
  });

  describe('unknown nodes', () => {
    it('does nothing before start() or for known nodes', async () => {
      const dir = directory({ unknownNodeRefreshMinIntervalMs: 1 });
      dir.noteUnknown('424242');
      await sleep(30);
      assert.equal(fake.requests.total, 0);
      dir.start();
      await dir.refresh();
      fake.resetRequests();
      dir.noteUnknown('312');
      await sleep(30);
      assert.equal(fake.requests.total, 0);
    });

    it('reloads for a new node no sooner than the minimum interval, once for a burst', async () => {
      const minInterval = 250;
      const dir = directory({ unknownNodeRefreshMinIntervalMs: minInterval });
      dir.start();
      // Taken before the load: the interval runs from the directory's own record of the attempt,
      // which a loaded machine may resume this test well after (a reading taken after `await` was
      // up to tens of ms late, and the check below then failed although the directory was right).
      const loadStartedAt = Date.now();
      await dir.refresh();
      const added = {
        ...generateNodes(3)[0]!,
        id: 777_001,
        name: 'Reykjavik, IS - Vodafone',
        city: 'Reykjavik',
        country: 'Iceland',
        countryCode: 'IS',
      };
      fake.setNodes([...fake.nodes, added]);
      fake.resetRequests();

      for (let i = 0; i < 50; i++) dir.noteUnknown('777001');
      await sleep(minInterval / 2);
      assert.equal(fake.requests.v2Nodes, 0, 'not before the minimum interval');

      await waitFor('the triggered reload', () => dir.refreshCount === 2);
      // Less 2 ms: Node's timers round to the millisecond.
      assert.ok(Date.now() - loadStartedAt >= minInterval - 2, 'the reload came no sooner than the interval');
      assert.equal(fake.requests.v2Nodes, 3, 'one reload (3 pages) for 50 notes');
      assert.equal(dir.lookup('777001')?.city, 'Reykjavik');
      assert.equal(dir.lookup('777001')?.continent, 'Europe');
    });

    it('reloads at once when the last attempt is older than the minimum interval', async () => {
      const dir = directory({ unknownNodeRefreshMinIntervalMs: 20 });
      dir.start();
      await dir.refresh();
      await sleep(40);
      fake.resetRequests();
      dir.noteUnknown('999999');
      assert.equal(await dir.refresh(), true, 'joins the reload noteUnknown started');
      assert.equal(fake.requests.v2Nodes, 3);
      assert.equal(dir.refreshCount, 2);
    });

    it('an id still missing after a reload does not trigger again until the next reload', async () => {
      const dir = directory({ unknownNodeRefreshMinIntervalMs: 30 });
      dir.start();
      await dir.refresh();
      await sleep(40);
      fake.resetRequests();
      dir.noteUnknown('999999');
      await waitFor('the reload for 999999', () => dir.refreshCount === 2);
      assert.equal(fake.requests.v2Nodes, 3);

      // Pushes from that node keep coming: no more reloads.
      for (let i = 0; i < 5; i++) {
        await sleep(40);
        dir.noteUnknown('999999');
      }
      await sleep(60);
      assert.equal(fake.requests.v2Nodes, 3);

      // Another unknown node still gets its reload; after it, 999999 may trigger again.
      dir.noteUnknown('888888');
      await waitFor('the reload for 888888', () => dir.refreshCount === 3);
      assert.equal(fake.requests.v2Nodes, 6);
    });

    it('does not add reloads while the API is failing (the backoff retry covers it)', async () => {
      const dir = directory({
        unknownNodeRefreshMinIntervalMs: 1,
        retryBaseDelayMs: 2000,
        retryMaxDelayMs: 2000,
      });
      dir.start();
      await dir.refresh();
      fake.setFaults({ outage: { count: Number.POSITIVE_INFINITY, mode: 'status' } });
      await sleep(5);
      dir.noteUnknown('555');
      await waitFor('the failed reload', () => dir.lastError !== undefined);
      fake.resetRequests();
      for (let i = 0; i < 20; i++) dir.noteUnknown(String(1000 + i));
      await sleep(100);
      assert.equal(fake.requests.v2Nodes, 0);
    });
  });

  describe('stop', () => {
    it('stops the schedule and abandons a load under way', async () => {
      const dir = directory({ refreshIntervalMs: 30 });
      dir.start();
      await dir.refresh();
      fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 2 } });
      await waitFor('the next periodic load', () => fake.log.at(-1)?.status === 429);
      const started = Date.now();
      await dir.stop();
      assert.ok(Date.now() - started < 1000, 'stop() does not wait out the Retry-After');
      const count = fake.requests.total;
      await sleep(120);
      assert.equal(fake.requests.total, count);
      assert.equal(dir.size, 260, 'lookups keep working after stop');
    });
  });
});
