/**
 * The v1 and v2 REST clients against the fake Catchpoint (test/harness/fake-catchpoint.ts).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { CatchpointApiError } from '../../../src/catchpoint/errors.ts';
import { CatchpointV1Client, type RestV1Options } from '../../../src/catchpoint/rest-v1.ts';
import { CatchpointV2Client, type RestV2Options } from '../../../src/catchpoint/rest-v2.ts';
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

const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 5_000 };

/** Asserts that an error (message, cause chain, inspect output) holds none of the secrets. */
function assertNoSecrets(err: unknown, secrets: string[]): void {
  const text = inspect(err, { depth: 10 });
  for (const secret of secrets) assert.ok(!text.includes(secret), `error exposes a credential: ${text}`);
}

async function rejection(promise: Promise<unknown>): Promise<CatchpointApiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CatchpointApiError, `expected CatchpointApiError, got ${inspect(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('CatchpointV1Client', () => {
  let fake: FakeCatchpoint;
  const clients: CatchpointV1Client[] = [];
  const v1 = (options: Partial<RestV1Options> = {}): CatchpointV1Client => {
    const client = new CatchpointV1Client({
      baseURL: fake.url,
      clientId: FAKE_V1_CLIENT_ID,
      clientSecret: FAKE_V1_CLIENT_SECRET,
      rateLimit: FAST_RETRY,
      ...options,
    });
    clients.push(client);
    return client;
  };

  before(async () => {
    fake = await startFakeCatchpoint();
  });
  beforeEach(() => {
    fake.resetRequests();
    fake.clearFaults();
    fake.setV1({ bearerEncoding: 'raw', tokenLifetimeSec: 1800, pageSize: undefined });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await fake.close();
  });

  it('gets a token with client credentials (form-encoded) and lists the nodes', async () => {
    const nodes = await v1({ bearerEncoding: 'raw' }).fetchNodes();
    assert.equal(nodes.length, fake.nodes.length);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const node of fake.nodes) assert.deepEqual(byId.get(String(node.id)), expectedV1Info(node));
    assert.deepEqual(fake.requests, { token: 1, v1Nodes: 1, v2Nodes: 0, total: 2 });
    const call = fake.log.find((r) => r.endpoint === 'v1-nodes');
    assert.match(call?.authorization ?? '', /^Bearer [A-Za-z0-9_-]{32}$/);
  });

  it('reuses the token until it is due for renewal', async () => {
    const client = v1({ bearerEncoding: 'raw' });
    await client.fetchNodes();
    await client.fetchNodes();
    assert.equal(fake.requests.token, 1);
    assert.equal(fake.requests.v1Nodes, 2);
  });

  it('renews the token shortly before expires_in runs out, without a 401', async () => {
    fake.setV1({ tokenLifetimeSec: 1800 });
    let now = 1_000_000;
    const client = v1({ bearerEncoding: 'raw', now: () => now });
    await client.fetchNodes();
    now += (1800 - 100) * 1000; // still valid: renewed 60 s early
    await client.fetchNodes();
    assert.equal(fake.requests.token, 1);
    now += 50 * 1000; // inside the last minute
    await client.fetchNodes();
    assert.equal(fake.requests.token, 2);
    assert.ok(fake.log.every((r) => r.status === 200));
  });

  it('sends base64(token) when told to', async () => {
    fake.setV1({ bearerEncoding: 'base64' });
    const client = v1({ bearerEncoding: 'base64' });
    const nodes = await client.fetchNodes();
    assert.equal(nodes.length, fake.nodes.length);
    assert.equal(fake.requests.v1Nodes, 1);
    const bearer =
      fake.log.find((r) => r.endpoint === 'v1-nodes')?.authorization?.slice('Bearer '.length) ?? '';
    assert.match(Buffer.from(bearer, 'base64').toString('utf8'), /^[A-Za-z0-9_-]{32}$/);
  });

  it("'auto' tries raw, falls back to base64 on 401, and remembers base64", async () => {
    fake.setV1({ bearerEncoding: 'base64' });
    const client = v1({ bearerEncoding: 'auto' });
    await client.fetchNodes();
    assert.equal(client.bearerEncoding, 'base64');
    assert.deepEqual(
      fake.log.map((r) => [r.endpoint, r.status]),
      [
        ['token', 200],
        ['v1-nodes', 401],
        ['v1-nodes', 200],
      ],
    );
    fake.resetRequests();
    await client.fetchNodes();
    assert.deepEqual(
      fake.requests,
      { token: 0, v1Nodes: 1, v2Nodes: 0, total: 1 },
      'no raw attempt any more',
    );
  });

  it("'auto' stays with raw when raw works", async () => {
    const client = v1({ bearerEncoding: 'auto' });
    await client.fetchNodes();
    assert.equal(client.bearerEncoding, 'raw');
    assert.equal(fake.requests.v1Nodes, 1);
  });

  it("'auto' follows the server when it switches forms", async () => {
    const client = v1({ bearerEncoding: 'auto' });
    await client.fetchNodes();
    fake.setV1({ bearerEncoding: 'base64' });
    await client.fetchNodes();
    assert.equal(client.bearerEncoding, 'base64');
  });

  it('answers {"Message":"Expired token"} by re-authenticating once', async () => {
    const client = v1({ bearerEncoding: 'raw' });
    await client.fetchNodes();
    fake.expireTokens();
    fake.resetRequests();
    const nodes = await client.fetchNodes();
    assert.equal(nodes.length, fake.nodes.length);
    assert.deepEqual(
      fake.log.map((r) => [r.endpoint, r.status]),
      [
        ['v1-nodes', 401],
        ['token', 200],
        ['v1-nodes', 200],
      ],
    );
  });

  it('re-authenticates on expiry with a remembered base64 form', async () => {
    fake.setV1({ bearerEncoding: 'base64' });
    const client = v1({ bearerEncoding: 'auto' });
    await client.fetchNodes();
    fake.expireTokens();
    fake.resetRequests();
    await client.fetchNodes();
    assert.deepEqual(
      fake.log.map((r) => [r.endpoint, r.status]),
      [
        ['v1-nodes', 401],
        ['token', 200],
        ['v1-nodes', 200],
      ],
    );
  });

  it('fails with CPB_ERR_CATCHPOINT_AUTH on bad credentials, without echoing them', async () => {
    const secret = 'wrong-secret-that-must-not-leak';
    const err = await rejection(v1({ clientSecret: secret }).fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_AUTH');
    assert.equal(err.status, 401);
    assertNoSecrets(err, [secret, FAKE_V1_CLIENT_SECRET]);
    assert.equal(fake.requests.v1Nodes, 0);
  });

  it('gives up with AUTH when the token is refused in every form, after one renewal', async () => {
    fake.setV1({ bearerEncoding: 'base64' });
    const err = await rejection(v1({ bearerEncoding: 'raw' }).fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_AUTH');
    assert.deepEqual(fake.requests, { token: 2, v1Nodes: 2, v2Nodes: 0, total: 4 });
    const tokens = fake.log.filter((r) => r.endpoint === 'v1-nodes').map((r) => r.authorization ?? '');
    assertNoSecrets(
      err,
      tokens.map((t) => t.slice('Bearer '.length)),
    );
  });

  it('follows has_more pages', async () => {
    fake.setV1({ pageSize: 100 });
    const nodes = await v1({ bearerEncoding: 'raw' }).fetchNodes();
    assert.equal(nodes.length, fake.nodes.length);
    assert.equal(new Set(nodes.map((n) => n.id)).size, nodes.length);
    assert.deepEqual(
      fake.log.filter((r) => r.endpoint === 'v1-nodes').map((r) => r.query.pageNumber),
      [undefined, '2', '3'],
    );
  });

  it('retries a 429 on the token endpoint', async () => {
    fake.setFaults({ rateLimit: { count: 1, endpoint: 'token' } });
    const nodes = await v1({ bearerEncoding: 'raw' }).fetchNodes();
    assert.equal(nodes.length, fake.nodes.length);
    assert.equal(fake.requests.token, 2);
  });

  it('maps an outage to CPB_ERR_CATCHPOINT_UNAVAILABLE', async () => {
    fake.setFaults({ outage: { count: 1, mode: 'status', endpoint: 'token' } });
    const err = await rejection(v1().fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
    assert.equal(err.status, 503);
  });
});

describe('CatchpointV2Client', () => {
  let fake: FakeCatchpoint;
  const clients: CatchpointV2Client[] = [];
  const v2 = (options: Partial<RestV2Options> = {}): CatchpointV2Client => {
    const client = new CatchpointV2Client({
      baseURL: fake.url,
      apiKey: FAKE_V2_API_KEY,
      rateLimit: FAST_RETRY,
      ...options,
    });
    clients.push(client);
    return client;
  };

  before(async () => {
    fake = await startFakeCatchpoint({ nodes: generateNodes(250) });
  });
  beforeEach(() => {
    fake.resetRequests();
    fake.clearFaults();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await fake.close();
  });

  it('pages through 250 nodes in 3 pages of at most 100, with the key as Bearer', async () => {
    const nodes = await v2().fetchNodes();
    assert.equal(nodes.length, 250);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const node of fake.nodes) assert.deepEqual(byId.get(String(node.id)), expectedV2Info(node));
    const pages = fake.log.filter((r) => r.endpoint === 'v2-nodes');
    assert.deepEqual(
      pages.map((r) => [r.query.pageNumber, r.query.pageSize]),
      [
        ['1', '100'],
        ['2', '100'],
        ['3', '100'],
      ],
    );
    assert.ok(pages.every((r) => r.authorization === `Bearer ${FAKE_V2_API_KEY}`));
  });

  it('never asks for more than 100 per page', async () => {
    const nodes = await v2({ pageSize: 500 }).fetchNodes();
    assert.equal(nodes.length, 250);
    assert.equal(fake.requests.v2Nodes, 3);
  });

  it('honours 429 without Retry-After by backing off, then continues paging', async () => {
    fake.setFaults({ rateLimit: { count: 2, endpoint: 'v2-nodes' } });
    const nodes = await v2().fetchNodes();
    assert.equal(nodes.length, 250);
    assert.equal(fake.requests.v2Nodes, 5);
  });

  it('waits the Retry-After Catchpoint asks for', async () => {
    fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 1, endpoint: 'v2-nodes' } });
    const started = performance.now();
    const nodes = await v2().fetchNodes();
    const elapsed = performance.now() - started;
    assert.equal(nodes.length, 250);
    assert.ok(elapsed >= 950, `waited only ${elapsed.toFixed(0)} ms`);
  });

  it('gives up with CPB_ERR_CATCHPOINT_RATE_LIMITED after the attempts run out', async () => {
    fake.setFaults({ rateLimit: { count: 100, endpoint: 'v2-nodes' } });
    const err = await rejection(v2().fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_RATE_LIMITED');
    assert.equal(err.status, 429);
    assert.equal(fake.requests.v2Nodes, FAST_RETRY.maxAttempts);
  });

  it('passes a long Retry-After up instead of blocking on it', async () => {
    fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 3600 } });
    const err = await rejection(v2().fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_RATE_LIMITED');
    assert.equal(err.retryAfterMs, 3_600_000);
    assert.equal(fake.requests.v2Nodes, 1);
  });

  it('fails with CPB_ERR_CATCHPOINT_AUTH on a bad key, without echoing it', async () => {
    const key = 'eyJ.wrong-key-that-must-not-leak.sig';
    const err = await rejection(v2({ apiKey: key }).fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_AUTH');
    assert.equal(err.status, 401);
    assert.match(err.message, /Unauthorized/);
    assertNoSecrets(err, [key, FAKE_V2_API_KEY]);
  });

  it('maps 503 and dropped connections to CPB_ERR_CATCHPOINT_UNAVAILABLE', async () => {
    fake.setFaults({ outage: { count: 1, mode: 'status' } });
    const http = await rejection(v2().fetchNodes());
    assert.equal(http.code, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
    assert.equal(http.status, 503);
    fake.setFaults({ outage: { count: 1, mode: 'destroy' } });
    const socket = await rejection(v2().fetchNodes());
    assert.equal(socket.code, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
    assert.equal(socket.status, undefined);
    assertNoSecrets(socket, [FAKE_V2_API_KEY]);
  });

  it('maps a refused connection to CPB_ERR_CATCHPOINT_UNAVAILABLE', async () => {
    const closed = await startFakeCatchpoint();
    const url = closed.url;
    await closed.close();
    const err = await rejection(v2({ baseURL: url }).fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_UNAVAILABLE');
    assert.match(err.message, /ECONNREFUSED/);
  });

  it('keeps a base URL path prefix (a proxy mount)', async () => {
    const err = await rejection(v2({ baseURL: `${fake.url}/proxy/` }).fetchNodes());
    assert.equal(err.code, 'CPB_ERR_CATCHPOINT_BAD_RESPONSE');
    assert.equal(err.status, 404);
    assert.equal(fake.log.at(-1)?.path, '/proxy/api/v2/nodes/all');
  });

  it('stops when aborted', async () => {
    fake.setFaults({ rateLimit: { count: 1, retryAfterSec: 3 } });
    const controller = new AbortController();
    const pending = v2().fetchNodes(controller.signal);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });
  });
});
