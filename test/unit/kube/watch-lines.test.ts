import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../../src/kube/watch-lines.ts';

describe('LineSplitter', () => {
  it('returns each line once it is complete, however the chunks fall', () => {
    const lines = new LineSplitter();
    assert.deepEqual(lines.push('{"type":"ADD'), []);
    assert.deepEqual(lines.push('ED"}\n{"type":"MODIFIED"}\n{"ty'), [
      '{"type":"ADDED"}',
      '{"type":"MODIFIED"}',
    ]);
    assert.deepEqual(lines.push('pe":"DELETED"}'), []);
    assert.deepEqual(lines.push('\n'), ['{"type":"DELETED"}']);
    assert.deepEqual(lines.push(''), []);
  });

  it('drops blank lines, keeps the rest as sent', () => {
    const lines = new LineSplitter();
    assert.deepEqual(lines.push('\n  \n{"a":1}\r\n\n'), ['{"a":1}\r']);
    assert.deepEqual(lines.push(' x \n'), [' x ']);
  });

  it('splits any concatenation of chunks into the same lines', () => {
    const text = '{"n":1}\n\n{"n":2}\n{"n":3}\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const lines = new LineSplitter();
      assert.deepEqual(
        [...lines.push(text.slice(0, cut)), ...lines.push(text.slice(cut))],
        ['{"n":1}', '{"n":2}', '{"n":3}'],
      );
    }
  });
});
