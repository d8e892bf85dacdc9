import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { refusedWith } from '../support/refusals.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';

const mills = (value: number): Mills => value as Mills;
/** Days from today in UTC, the default installation time zone. */
const utcDay = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

for (const fixture of dialectFixtures) {
  describe(`meter lifecycle on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    before(async () => {
      installation = await openMeterInstallation(fixture);
    });
    after(() => installation.dispose());

    it('refunds spoiled indicia up to 1% of AR, and no indicium twice', async () => {
      const { meters, store } = installation;
      const meter = await meters.create({
        customerNumber: 6001,
        licensingZip: '10001',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 200_000, 'test');
      const issued = await meters.issue(
        meter.meterId,
        Array.from({ length: 100 }, () => ({ postage: mills(1_000), rateCategory: 'FC' })),
      );
      const [first, second] = issued;
      assert.ok(first && second);
      const refund = await meters.refundSpoiled(first.id);
      assert.deepEqual(
        [
          refund.amount,
          refund.view.ascendingRegister,
          refund.view.descendingRegister,
          refund.view.refundRegister,
        ],
        [1_000, 100_000, 100_000, 1_000],
      );
      await assert.rejects(meters.refundSpoiled(first.id), refusedWith('meter.indicium_not_valid'));
      await assert.rejects(meters.refundSpoiled(second.id), refusedWith('meter.refund_limit'));
      await assert.rejects(meters.refundSpoiled('ind_nothing'), refusedWith('meter.indicium_not_found'));
      assert.equal(
        (await meters.verify(first.data, 'scanner')).outcome,
        'implausible',
        'a refunded indicium is not good for mailing',
      );
      const row = await store.db
        .selectFrom('indicia')
        .select('status')
        .where('id', '=', first.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'refunded');
    });

    it('issues correction indicia for underpaid postage and for a wrong date', async () => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber: 6002,
        licensingZip: '10002',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const [underpaid, misdated] = await meters.issue(meter.meterId, [
        { postage: mills(500), rateCategory: 'FC', mailingDate: utcDay(0) },
        { postage: mills(730), rateCategory: 'FC', mailingDate: utcDay(0) },
      ]);
      assert.ok(underpaid && misdated);
      const topUp = await meters.correct(underpaid.id, { postage: mills(730) });
      assert.equal(topUp.postage, 230);
      assert.equal(decodeIndicium(topUp.data).postage, 230);
      assert.equal(topUp.ascendingRegister, 1_460);
      const redated = await meters.correct(misdated.id, { mailingDate: utcDay(1) });
      assert.deepEqual(
        [redated.postage, redated.ascendingRegister, decodeIndicium(redated.data).date],
        [0, 1_460, utcDay(1)],
      );
      await assert.rejects(
        meters.correct(underpaid.id, { postage: mills(800) }),
        refusedWith('meter.indicium_not_valid'),
      );
      const [another] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      assert.ok(another);
      await assert.rejects(
        meters.correct(another.id, { postage: mills(700) }),
        refusedWith('meter.request_invalid'),
      );
      await assert.rejects(meters.correct(another.id, {}), refusedWith('meter.request_invalid'));
    });

    it('suspends and resumes; withdrawal refunds the DR and closes the meter for good', async () => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber: 6003,
        licensingZip: '10003',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      await meters.suspend(meter.meterId);
      await assert.rejects(
        meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]),
        refusedWith('meter.not_active'),
      );
      await assert.rejects(meters.suspend(meter.meterId), refusedWith('meter.not_active'));
      await meters.resume(meter.meterId);
      await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      const withdrawn = await meters.withdraw(meter.meterId);
      assert.deepEqual(
        [
          withdrawn.amount,
          withdrawn.view.descendingRegister,
          withdrawn.view.refundRegister,
          withdrawn.view.state,
        ],
        [8_540, 0, 8_540, 'withdrawn'],
      );
      await assert.rejects(
        meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]),
        refusedWith('meter.not_active'),
      );
      await assert.rejects(meters.fund(meter.meterId, 1, 'test'), refusedWith('meter.not_active'));
      await assert.rejects(meters.withdraw(meter.meterId), refusedWith('meter.not_active'));
      assert.equal((await meters.show(meter.meterId)).meter.status, 'withdrawn');
    });

    it('replaces a meter key: a new certificate signs from now on, the old one still verifies what it signed', async () => {
      const { meters, authority } = installation;
      const meter = await meters.create({
        customerNumber: 6004,
        licensingZip: '10004',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const [before] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      const replaced = await meters.replaceKey(meter.meterId);
      assert.notEqual(replaced.certificate.serial, meter.certificate.serial);
      assert.notEqual(replaced.view.signingKey.publicKey, meter.view.signingKey.publicKey);
      assert.equal(replaced.view.certificateSerial, replaced.certificate.serial);
      const [afterwards] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      assert.ok(before && afterwards);
      assert.equal(
        decodeIndicium(before.data).certificateSerial.toString(16).padStart(16, '0'),
        meter.certificate.serial,
      );
      assert.equal(
        decodeIndicium(afterwards.data).certificateSerial.toString(16).padStart(16, '0'),
        replaced.certificate.serial,
      );
      assert.equal((await meters.verify(before.data, 'scanner')).outcome, 'valid');
      assert.equal((await meters.verify(afterwards.data, 'scanner')).outcome, 'valid');
      assert.equal((await authority.certificatesOf(meter.meterId)).length, 2);
      assert.equal(afterwards.ascendingRegister, 1_460, 'registers carried over');
      await meters.withdraw(meter.meterId);
      await assert.rejects(meters.replaceKey(meter.meterId), refusedWith('meter.not_active'));
    });

    it('reconciles after refunds, corrections and withdrawals', async () => {
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(
        report.isBalanced,
        true,
        JSON.stringify(report.meters.filter((meter) => meter.differences.length > 0)),
      );
      assert.ok(report.meters.some((meter) => meter.withdrawnMills > 0));
      assert.ok(report.meters.some((meter) => meter.spoiledMills > 0));
    });
  });
}
