import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import {
  describeKubeError,
  isConflict,
  isForbidden,
  isGone,
  isNotFound,
  KubeApiError,
  KubeError,
  parseStatus,
  statusCode,
} from '../../../src/kube/errors.ts';
import { KUBE_ERRORS } from '../../../src/shared/errors.ts';

const SECRET_BODY = JSON.stringify({
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 'creds' },
  data: { password: 'aHVudGVyMg==' },
});

describe('kube error codes', () => {
  it('are pinned: a change here is a breaking change for callers and alerting', () => {
    assert.deepEqual(Object.keys(KUBE_ERRORS).sort(), [
      'CPB_ERR_KUBE_ABORTED',
      'CPB_ERR_KUBE_API',
      'CPB_ERR_KUBE_BAD_OBJECT',
      'CPB_ERR_KUBE_BAD_OPTIONS',
      'CPB_ERR_KUBE_BAD_RESPONSE',
      'CPB_ERR_KUBE_STOPPED',
      'CPB_ERR_KUBE_UNAVAILABLE',
      'CPB_ERR_KUBE_UNKNOWN_KIND',
    ]);
  });
});

describe('statusCode and the is* helpers', () => {
  const ours = (code: number) => new KubeApiError({ statusCode: code, request: 'GET /api/v1/x' });
  const theirs = (code: number) => new ApiException(code, 'm', '{}', {});
  const watchError = (code: number) => Object.assign(new Error('Gone'), { statusCode: code });

  for (const [make, source] of [
    [ours, 'KubeApiError'],
    [theirs, 'client-node ApiException'],
    [watchError, 'client-node Watch error'],
  ] as const) {
    it(`read the HTTP status of a ${source}`, () => {
      assert.equal(statusCode(make(418)), 418);
      assert.equal(isNotFound(make(404)), true);
      assert.equal(isConflict(make(409)), true);
      assert.equal(isGone(make(410)), true);
      assert.equal(isForbidden(make(403)), true);
      assert.equal(isNotFound(make(409)), false);
    });
  }

  it('see no status on network errors, whose code is a string', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(statusCode(refused), undefined);
    assert.equal(
      statusCode(new KubeError('CPB_ERR_KUBE_UNAVAILABLE', 'down', { cause: refused })),
      undefined,
    );
    assert.equal(statusCode(undefined), undefined);
    assert.equal(statusCode('404'), undefined);
  });
});

describe('describeKubeError', () => {
  it('describes a KubeApiError by status, reason and the server message', () => {
    const err = new KubeApiError({
      statusCode: 409,
      request: 'PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/op',
      status: { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' },
    });
    assert.equal(err.code, 'CPB_ERR_KUBE_API');
    assert.match(err.message, /^PUT \/apis\/.*: 409 Conflict: the object has been modified$/);
    assert.deepEqual(describeKubeError(err), {
      code: 409,
      reason: 'Conflict',
      message: 'the object has been modified',
    });
  });

  it('never copies the body or headers of a client-node ApiException', () => {
    // client-node's message embeds both; a body can be a Secret and headers can carry tokens.
    const err = new ApiException(500, 'Internal Server Error', SECRET_BODY, {
      authorization: 'Bearer abc.def',
    });
    assert.match(err.message, /aHVudGVyMg==/);
    const description = describeKubeError(err);
    assert.deepEqual(description, { code: 500, message: 'HTTP 500' });
    assert.doesNotMatch(JSON.stringify(description), /aHVudGVyMg|Bearer|abc\.def/);
  });

  it('uses the Status of a client-node ApiException, parsed or as a string', () => {
    const status = { kind: 'Status', code: 404, reason: 'NotFound', message: 'secrets "x" not found' };
    for (const body of [status, JSON.stringify(status)]) {
      assert.deepEqual(describeKubeError(new ApiException(404, 'x', body, {})), {
        code: 404,
        reason: 'NotFound',
        message: 'secrets "x" not found',
      });
    }
  });

  it('gives network errors their code as the reason', () => {
    const cause = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    assert.deepEqual(describeKubeError(cause), { reason: 'UND_ERR_SOCKET', message: 'other side closed' });
    const wrapped = new KubeError('CPB_ERR_KUBE_UNAVAILABLE', 'GET /api: UND_ERR_SOCKET', { cause });
    assert.deepEqual(describeKubeError(wrapped), {
      reason: 'CPB_ERR_KUBE_UNAVAILABLE',
      message: 'GET /api: UND_ERR_SOCKET',
    });
  });

  it('truncates huge server messages', () => {
    const err = new KubeApiError({
      statusCode: 422,
      request: 'PATCH /x',
      status: { message: 'x'.repeat(10_000) },
    });
    assert.ok(describeKubeError(err).message.length <= 1025);
  });

  it('handles non-errors', () => {
    assert.deepEqual(describeKubeError('boom'), { message: 'boom' });
    assert.deepEqual(describeKubeError(undefined), { message: 'undefined' });
  });
});

describe('parseStatus', () => {
  it('accepts a Status and rejects other objects and non-JSON', () => {
    assert.deepEqual(parseStatus('{"kind":"Status","code":410,"reason":"Expired","message":"too old"}'), {
      kind: 'Status',
      code: 410,
      reason: 'Expired',
      message: 'too old',
    });
    assert.equal(parseStatus(SECRET_BODY), undefined);
    assert.equal(parseStatus('<html>bad gateway</html>'), undefined);
    assert.equal(parseStatus(null), undefined);
  });
});
