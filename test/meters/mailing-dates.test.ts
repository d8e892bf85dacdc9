import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeIndicium } from '../../src/indicium/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  MeterError,
  type MetersService,
  createMetersService,
  createPoolService,
} from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';
import { refusedWith } from '../support/refusals.ts';

const mills = (value: number): Mills => value as Mills;
/** Days from today in UTC, the default installation time zone. */
const utcDay = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const N = DEFAULT_METER_SETTINGS.mailingDateDaysAhead;
const piece = (mailingDate?: string) => ({
  postage: mills(730),
  rateCategory: 'FC',
  ...(mailingDate === undefined ? {} : { mailingDate }),
});

for (const fixture of dialectFixtures) {
  describe(`mailing dates on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    before(async () => {
      installation = await openMeterInstallation(fixture);
    });
    after(() => installation.dispose());

    /** Registers, package sequence and logged indicia of a meter: what a refusal must not move. */
    const stateOf = async (meterId: string) => {
      const psd = await installation.custody.readMeter(meterId);
      const logged = await installation.store.db
        .selectFrom('indicia')
        .select('id')
        .where('meter_id', '=', meterId)
        .execute();
      return [psd.ascendingRegister, psd.descendingRegister, psd.sequence, logged.length];
    };

    const fundedMeter = async (meters: MetersService, customerNumber: number): Promise<string> => {
      const { meterId } = await meters.create({
        customerNumber,
        licensingZip: '10001',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meterId, 100_000, 'test');
      return meterId;
    };

    it(`refuses 1970-01-01, 9999-12-31, yesterday and today + ${N + 1} before the module; prints today to today + ${N}`, async () => {
      const { meters } = installation;
      const meterId = await fundedMeter(meters, 8001);
      const before = await stateOf(meterId);
      for (const date of ['1970-01-01', '9999-12-31', utcDay(-1), utcDay(N + 1)])
        await assert.rejects(meters.issue(meterId, [piece(date)]), refusedWith('meter.mailing_date_invalid'));
      // One bad piece refuses the whole batch.
      await assert.rejects(
        meters.issue(meterId, [piece(), piece(utcDay(1)), piece('9999-12-31')]),
        refusedWith('meter.mailing_date_invalid'),
      );
      assert.deepEqual(await stateOf(meterId), before, 'registers unchanged, no indicium row');

      const printed = await meters.issue(meterId, [piece(), piece(utcDay(0)), piece(utcDay(N))]);
      assert.deepEqual(
        printed.map((issued) => [issued.mailingDate, decodeIndicium(issued.data).date]),
        [
          [utcDay(0), utcDay(0)],
          [utcDay(0), utcDay(0)],
          [utcDay(N), utcDay(N)],
        ],
      );
      assert.equal((await meters.verify(printed[2]?.data ?? Buffer.alloc(0), 'scanner')).outcome, 'valid');
    });

    it('takes the window from the settings: N days ahead and the time zone', async () => {
      const strict = createMetersService({
        db: installation.store.db,
        custody: installation.custody,
        authority: installation.authority,
        settings: { ...DEFAULT_METER_SETTINGS, mailingDateDaysAhead: 0, timeZone: 'Pacific/Kiritimati' },
      });
      const meterId = await fundedMeter(strict, 8002);
      const kiritimati = new Intl.DateTimeFormat('en-CA', { timeZone: 'Pacific/Kiritimati' }).format(
        new Date(),
      );
      const [issued] = await strict.issue(meterId, [piece()]);
      assert.equal(issued?.mailingDate, kiritimati);
      const dayAfter = new Date(Date.parse(`${kiritimati}T00:00:00Z`) + 86_400_000)
        .toISOString()
        .slice(0, 10);
      await assert.rejects(
        strict.issue(meterId, [piece(dayAfter)]),
        (error: unknown) =>
          refusedWith('meter.mailing_date_invalid')(error) &&
          error instanceof MeterError &&
          error.message.includes(`(today in Pacific/Kiritimati, the installation's time zone)`) &&
          error.message.includes('(0 days ahead)'),
      );
    });

    it("stays within the meter certificate's validity: a certificate for one day prints today, not tomorrow", async () => {
      const shortLived = createMetersService({
        db: installation.store.db,
        custody: installation.custody,
        authority: installation.authority,
        settings: { ...DEFAULT_METER_SETTINGS, keyValidityDays: 1 },
      });
      const meterId = await fundedMeter(shortLived, 8003);
      const before = await stateOf(meterId);
      await assert.rejects(
        shortLived.issue(meterId, [piece(utcDay(1))]),
        (error: unknown) =>
          refusedWith('meter.mailing_date_invalid')(error) &&
          error instanceof MeterError &&
          new RegExp(
            `^Meter ${meterId}'s certificate [0-9a-f]{16} expires .*, so its last mailing date is ${utcDay(0)}; it cannot print for ${utcDay(1)}\\. .*indicia meters rekey ${meterId}\\)\\. Nothing was charged\\.$`,
          ).test(error.message),
      );
      assert.deepEqual(await stateOf(meterId), before);
      const [today] = await shortLived.issue(meterId, [piece(utcDay(0))]);
      assert.ok(today !== undefined);
      assert.equal((await shortLived.verify(today.data, 'scanner')).outcome, 'valid');
    });

    it('refuses a correction that keeps a date now past, saying to give the mailing date; accepts one that gives it', async () => {
      const { meters, store } = installation;
      const meterId = await fundedMeter(meters, 8004);
      const [underpaid] = await meters.issue(meterId, [piece()]);
      assert.ok(underpaid !== undefined);
      // As if it had been printed yesterday.
      await store.db
        .updateTable('indicia')
        .set({ mailing_date: utcDay(-1) })
        .where('id', '=', underpaid.id)
        .execute();
      const before = await stateOf(meterId);
      await assert.rejects(
        meters.correct(underpaid.id, { postage: mills(800) }),
        (error: unknown) =>
          refusedWith('meter.mailing_date_invalid')(error) &&
          error instanceof MeterError &&
          error.message.includes(
            `A correction keeps the original indicium's date (${utcDay(-1)}) unless it is given another: give the date the piece will be mailed.`,
          ),
      );
      assert.deepEqual(await stateOf(meterId), before);
      const corrected = await meters.correct(underpaid.id, { postage: mills(800), mailingDate: utcDay(0) });
      assert.deepEqual([corrected.postage, corrected.mailingDate], [70, utcDay(0)]);
    });

    it('refuses pooled printing outside the window before a mini-PSD is checked out or topped up', async () => {
      const pool = createPoolService({
        db: installation.store.db,
        custody: installation.custody,
        authority: installation.authority,
        settings: DEFAULT_METER_SETTINGS,
        modules: 1,
        machineNumber: 4,
        holder: 'mailing-dates-test',
        increment: mills(10_000),
      });
      try {
        await pool.setUp('10001');
        await pool.purchase(50_000, 'PO-dates');
        await pool.deposit(8101, 5_000, 'card');
        const before = await pool.status();
        for (const date of ['1970-01-01', '9999-12-31', utcDay(N + 1)])
          await assert.rejects(pool.issue(8101, [piece(date)]), refusedWith('meter.mailing_date_invalid'));
        assert.deepEqual(await pool.status(), before, 'no mini-PSD made, checked out or topped up');
        assert.equal(await pool.balance(8101), 5_000);
        const [printed] = await pool.issue(8101, [piece(utcDay(N))]);
        assert.equal(printed?.mailingDate, utcDay(N));
        assert.equal(await pool.balance(8101), 5_000 - 730);
      } finally {
        await pool.close();
      }
    });
  });
}
