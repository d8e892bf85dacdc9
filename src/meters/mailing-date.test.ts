import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IndiciaError } from '../errors/index.ts';
import {
  type CertificateValidity,
  addDays,
  calendarDate,
  endOfDay,
  mailingWindow,
  refuseUnprintableDates,
} from './mailing-date.ts';

const utc = { mailingDateDaysAhead: 3, timeZone: 'UTC' };
const noon = new Date('2026-12-03T12:00:00Z');

function refusal(run: () => void): IndiciaError {
  let refused: IndiciaError | undefined;
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof IndiciaError);
    assert.equal(error.code, 'meter.mailing_date_invalid', error.message);
    refused = error as IndiciaError;
    return true;
  });
  assert.ok(refused !== undefined);
  return refused;
}

describe('mailing dates', () => {
  it('opens today to today + N days in the installation time zone', () => {
    const window = mailingWindow(noon, utc);
    assert.deepEqual(window, { today: '2026-12-03', last: '2026-12-06', daysAhead: 3, timeZone: 'UTC' });
    for (const date of ['2026-12-03', '2026-12-04', '2026-12-06'])
      assert.doesNotThrow(() => refuseUnprintableDates([date], window));
    const early = refusal(() => refuseUnprintableDates(['1970-01-01'], window));
    assert.equal(
      early.message,
      "Mailing date 1970-01-01 is before today. A meter prints only for 2026-12-03 (today in UTC, the installation's time zone) to 2026-12-06 (3 days ahead). Choose a date in that range, or leave it out for today. Nothing was charged.",
    );
    assert.deepEqual(early.details, {
      mailingDate: '1970-01-01',
      firstMailingDate: '2026-12-03',
      lastMailingDate: '2026-12-06',
      timeZone: 'UTC',
    });
    assert.match(refusal(() => refuseUnprintableDates(['9999-12-31'], window)).message, /is too far ahead/);
    refusal(() => refuseUnprintableDates(['2026-12-02'], window));
    refusal(() => refuseUnprintableDates(['2026-12-07'], window));
    // One bad piece refuses the batch.
    refusal(() => refuseUnprintableDates(['2026-12-03', '2026-12-07', '2026-12-04'], window));
    for (const malformed of ['2026-02-30', '2026-13-01', 'tomorrow', ''])
      assert.match(refusal(() => refuseUnprintableDates([malformed], window)).message, /not a calendar date/);
    const none = mailingWindow(noon, { mailingDateDaysAhead: 0, timeZone: 'UTC' });
    assert.doesNotThrow(() => refuseUnprintableDates(['2026-12-03'], none));
    assert.match(refusal(() => refuseUnprintableDates(['2026-12-04'], none)).message, /\(0 days ahead\)/);
  });

  it("takes today from the installation's time zone, not the server clock's UTC date", () => {
    // 22:00 in New York is already the next day in UTC.
    const evening = new Date('2026-12-04T03:00:00Z');
    const newYork = mailingWindow(evening, { mailingDateDaysAhead: 3, timeZone: 'America/New_York' });
    assert.equal(newYork.today, '2026-12-03');
    assert.doesNotThrow(() => refuseUnprintableDates(['2026-12-03'], newYork));
    refusal(() => refuseUnprintableDates(['2026-12-07'], newYork));
    refusal(() => refuseUnprintableDates(['2026-12-03'], mailingWindow(evening, utc)));
    assert.equal(
      mailingWindow(evening, { mailingDateDaysAhead: 0, timeZone: 'Asia/Tokyo' }).today,
      '2026-12-04',
    );
  });

  it('ends a mailing day at midnight of its time zone, across daylight-saving changes', () => {
    assert.equal(endOfDay('2026-12-03', 'UTC').toISOString(), '2026-12-03T23:59:59.999Z');
    assert.equal(endOfDay('2026-12-03', 'America/New_York').toISOString(), '2026-12-04T04:59:59.999Z');
    // New York springs forward at 02:00 on 2026-03-08: that day has 23 hours.
    assert.equal(endOfDay('2026-03-08', 'America/New_York').toISOString(), '2026-03-09T03:59:59.999Z');
    // Havana springs forward at midnight: 2026-03-08 begins at 01:00 local time.
    assert.equal(endOfDay('2026-03-07', 'America/Havana').toISOString(), '2026-03-08T04:59:59.999Z');
    assert.equal(endOfDay('9999-12-31', 'UTC').toISOString(), '9999-12-31T23:59:59.999Z');
    assert.equal(endOfDay('0050-06-01', 'UTC').toISOString(), '0050-06-01T23:59:59.999Z');
    assert.equal(calendarDate(new Date('2026-12-04T04:59:59.999Z'), 'America/New_York'), '2026-12-03');
    assert.equal(calendarDate(new Date('2026-12-04T05:00:00.000Z'), 'America/New_York'), '2026-12-04');
    assert.equal(addDays('2026-12-31', 1), '2027-01-01');
  });

  it('gives the same dates as formatting each moment, within a minute and across a transition', () => {
    const zones = ['UTC', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/Havana'];
    const format = (at: number, timeZone: string): string =>
      new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }).format(at);
    // Around New York's and Lord Howe's (half-hour) changes and midnights, second by second and at random.
    const starts = [
      '2026-03-08T06:58:00Z',
      '2026-04-04T14:58:00Z',
      '2026-12-04T04:58:30Z',
      '2026-12-03T18:14:00Z',
    ];
    for (const timeZone of zones)
      for (const start of starts) {
        const from = Date.parse(start);
        for (let at = from; at < from + 180_000; at += 997)
          assert.equal(
            calendarDate(at, timeZone),
            format(at, timeZone),
            `${timeZone} ${new Date(at).toISOString()}`,
          );
      }
  });

  it('prints only for days at whose end the certificate is still valid, as a verifier checks it', () => {
    const window = mailingWindow(noon, utc);
    const certificate = (notAfter: Date): CertificateValidity => ({
      meterId: '421D00000009',
      serial: '0123456789abcdef',
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: notAfter.toISOString(),
    });
    // Valid through the very end of 2026-12-04: that day prints, the next does not.
    const throughFourth = certificate(endOfDay('2026-12-04', 'UTC'));
    assert.doesNotThrow(() => refuseUnprintableDates(['2026-12-03', '2026-12-04'], window, throughFourth));
    const late = refusal(() => refuseUnprintableDates(['2026-12-05'], window, throughFourth));
    assert.match(
      late.message,
      /^Meter 421D00000009's certificate 0123456789abcdef expires 2026-12-04T23:59:59\.999Z, so its last mailing date is 2026-12-04; it cannot print for 2026-12-05\. .*indicia meters rekey 421D00000009/,
    );
    assert.equal(late.details?.['lastMailingDate'], '2026-12-04');
    // Expiring a millisecond earlier, at 23:59:59.998, leaves 2026-12-04 uncovered at its end.
    const shortOfFourth = certificate(new Date(endOfDay('2026-12-04', 'UTC').getTime() - 1));
    refusal(() => refuseUnprintableDates(['2026-12-04'], window, shortOfFourth));
    // Expiring later today: not even today prints (mail scanned after the expiry would fail).
    refusal(() =>
      refuseUnprintableDates(['2026-12-03'], window, certificate(new Date('2026-12-03T18:00:00Z'))),
    );
    // The day ends by the installation's clock: New York's 2026-12-04 ends at 04:59:59.999Z on the 5th.
    const newYork = mailingWindow(noon, { mailingDateDaysAhead: 3, timeZone: 'America/New_York' });
    const newYorkFourth = certificate(endOfDay('2026-12-04', 'America/New_York'));
    assert.doesNotThrow(() => refuseUnprintableDates(['2026-12-04'], newYork, newYorkFourth));
    refusal(() => refuseUnprintableDates(['2026-12-04'], newYork, throughFourth));
    // A certificate not valid yet by the end of the day refuses too.
    const future = { ...throughFourth, notBefore: '2026-12-04T00:00:00.000Z' };
    assert.match(
      refusal(() => refuseUnprintableDates(['2026-12-03'], window, future)).message,
      /is valid only from 2026-12-04T00:00:00\.000Z/,
    );
  });
});
