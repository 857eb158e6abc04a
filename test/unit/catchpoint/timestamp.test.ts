import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Settings } from 'luxon';
import { PushParseError } from '../../../src/catchpoint/errors.ts';
import { parseCatchpointTimestamp, parseTemplateTimestamp } from '../../../src/catchpoint/timestamp.ts';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('parseCatchpointTimestamp', () => {
  it('reads yyyyMMddHHmmssSSS as UTC and keeps the milliseconds', () => {
    assert.equal(parseCatchpointTimestamp('20160226010449609', 'p'), 1456448689609);
    assert.equal(parseCatchpointTimestamp('19700101000000000', 'p'), 0);
    assert.equal(parseCatchpointTimestamp('20210202131557179', 'p'), 1612271757179);
  });

  it('is independent of the process time zone', () => {
    const before = Settings.defaultZone;
    try {
      Settings.defaultZone = 'Asia/Kolkata';
      assert.equal(parseCatchpointTimestamp('20160226010449609', 'p'), 1456448689609);
      Settings.defaultZone = 'America/Los_Angeles';
      assert.equal(parseCatchpointTimestamp('20160226010449609', 'p'), 1456448689609);
    } finally {
      Settings.defaultZone = before;
    }
  });

  it('still reports a PushParseError when luxon is set to throw on invalid dates', () => {
    const before = Settings.throwOnInvalid;
    try {
      Settings.throwOnInvalid = true;
      assert.throws(() => parseCatchpointTimestamp('20160230010449609', 'p'), PushParseError);
    } finally {
      Settings.throwOnInvalid = before;
    }
  });

  it('agrees with Date.UTC on every valid date (property)', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date(0),
          max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
          noInvalidDate: true,
        }),
        (d) => {
          const text =
            pad(d.getUTCFullYear(), 4) +
            pad(d.getUTCMonth() + 1, 2) +
            pad(d.getUTCDate(), 2) +
            pad(d.getUTCHours(), 2) +
            pad(d.getUTCMinutes(), 2) +
            pad(d.getUTCSeconds(), 2) +
            pad(d.getUTCMilliseconds(), 3);
          assert.equal(parseCatchpointTimestamp(text, 'p'), d.getTime());
        },
      ),
    );
  });

  it('rejects out-of-range units with the path in the error', () => {
    for (const bad of [
      '20230229000000000',
      '20240431000000000',
      '20240101240000000',
      '20240101006000000',
      '20240101000060000',
      '20240001000000000',
    ]) {
      assert.throws(
        () => parseCatchpointTimestamp(bad, 'Summary.Timestamp'),
        (err: unknown) =>
          err instanceof PushParseError &&
          err.code === 'CPB_ERR_PUSH_TIMESTAMP' &&
          err.path === 'Summary.Timestamp',
        bad,
      );
    }
  });
});

describe('parseTemplateTimestamp', () => {
  it('takes 17 digits, epoch seconds (10) and epoch ms (13), as strings or numbers', () => {
    assert.equal(parseTemplateTimestamp('20160226010449609', 'p'), 1456448689609);
    assert.equal(parseTemplateTimestamp('1456448689', 'p'), 1456448689000);
    assert.equal(parseTemplateTimestamp('1456448689609', 'p'), 1456448689609);
    assert.equal(parseTemplateTimestamp(1456448689, 'p'), 1456448689000);
    assert.equal(parseTemplateTimestamp(1456448689609, 'p'), 1456448689609);
    assert.equal(parseTemplateTimestamp(' 1456448689 ', 'p'), 1456448689000);
  });

  it('rejects other lengths rather than guessing the unit', () => {
    for (const bad of [
      '145644868',
      '14564486896',
      '145644868960',
      '14564486896090',
      12345,
      '1456448689.5',
      1456448689.5,
    ]) {
      assert.throws(() => parseTemplateTimestamp(bad, 'p'), PushParseError, String(bad));
    }
  });
});

describe('parseTemplateTimestamp: ISO 8601', () => {
  const ms = Date.UTC(2024, 4, 2, 21, 20, 44, 798);

  it('takes ISO 8601 with Z or an offset, whatever the process time zone', () => {
    const before = Settings.defaultZone;
    try {
      Settings.defaultZone = 'Asia/Kolkata';
      for (const text of [
        '2024-05-02T21:20:44.798Z',
        '2024-05-02T21:20:44.798z',
        ' 2024-05-02T23:20:44.798+02:00 ',
        '2024-05-02T16:50:44.798-04:30',
        '2024-05-03T02:50:44.798+0530',
        '2024-05-02T21:20:44.798+00',
      ]) {
        assert.equal(parseTemplateTimestamp(text, 'p'), ms, text);
      }
      assert.equal(parseTemplateTimestamp('2024-05-02T21:20:44Z', 'p'), ms - 798);
    } finally {
      Settings.defaultZone = before;
    }
  });

  it('refuses an ISO time without a zone (local to whom?), naming the field', () => {
    for (const text of ['2024-05-02T21:20:44.798', '2024-05-02T21:20', '2024-05-02T21:20:44.798-']) {
      assert.throws(
        () => parseTemplateTimestamp(text, 'Summary.Timestamp'),
        (err: unknown) =>
          err instanceof PushParseError &&
          err.code === 'CPB_ERR_PUSH_TIMESTAMP' &&
          err.path === 'Summary.Timestamp' &&
          /^Summary\.Timestamp ".*" has no time zone/.test(err.message),
        text,
      );
    }
  });

  it('refuses dates alone, impossible dates and times before 1970', () => {
    for (const text of [
      '2024-05-02',
      '2024-05-02 21:20:44Z',
      '2024-02-30T21:20:44Z',
      '2024-05-02T25:20:44Z',
      '1969-12-31T23:59:59Z',
    ]) {
      assert.throws(() => parseTemplateTimestamp(text, 'p'), PushParseError, text);
    }
    const before = Settings.throwOnInvalid;
    try {
      Settings.throwOnInvalid = true;
      assert.throws(() => parseTemplateTimestamp('2024-02-30T21:20:44Z', 'p'), PushParseError);
    } finally {
      Settings.throwOnInvalid = before;
    }
  });
});
