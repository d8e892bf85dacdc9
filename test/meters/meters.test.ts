import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyAuditChain } from '../../src/audit/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { refusedWith } from '../support/refusals.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';

const mills = (value: number): Mills => value as Mills;
/** Tomorrow in UTC, the default installation time zone: inside the mailing-date window. */
const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'indicium-format.md'), 'utf8');

/** Verifies an indicium with the meter's certificate and the documented openssl commands only. */
function opensslVerifies(indicium: Buffer, certificatePem: string): boolean {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-verify-'));
  writeFileSync(join(folder, 'indicium.bin'), indicium);
  writeFileSync(join(folder, 'meter.pem'), certificatePem);
  const script = `openssl x509 -in meter.pem -pubkey -noout > meter.pub\n${/```sh verify-ecdsa\n([\s\S]*?)```/.exec(doc)?.[1] ?? 'false'}`;
  const result = spawnSync('bash', ['-e', '-c', script], { cwd: folder, encoding: 'utf8' });
  return result.status === 0 && /Verified OK/.test(result.stdout);
}

for (const fixture of dialectFixtures) {
  describe(`meters on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    before(async () => {
      installation = await openMeterInstallation(fixture);
    });
    after(() => installation.dispose());

    it('MeterGen: package and key in a module, certificate issued from a module-signed request and sealed in', async () => {
      const { meters, authority } = installation;
      const meter = await meters.create({
        customerNumber: 1001,
        licensingZip: '10001',
        maxDescendingRegister: mills(500_000),
      });
      assert.match(meter.meterId, /^421D\d{8}$/);
      assert.equal(meter.view.certificateSerial, meter.certificate.serial);
      assert.deepEqual(await authority.verifyMeterCertificate(meter.certificate.pem), {
        isValid: true,
        reason: null,
      });
      const second = await meters.create({
        customerNumber: 1002,
        licensingZip: '10002',
        maxDescendingRegister: mills(500_000),
      });
      assert.notEqual(second.meterId, meter.meterId);
      const shown = await meters.show(meter.meterId);
      assert.equal(shown.meter.status, 'active');
      assert.deepEqual([shown.psd.ascendingRegister, shown.psd.descendingRegister], [0, 0]);
    });

    it('funds, issues single and batch indicia that openssl verifies with the meter certificate, and logs them before release', async () => {
      const { meters, store } = installation;
      const meter = await meters.create({
        customerNumber: 2001,
        licensingZip: '94107',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 100_000, 'test');
      const [single] = await meters.issue(meter.meterId, [
        { postage: mills(730), rateCategory: 'FC', mailingDate: tomorrow, originZip: '94107-1234' },
      ]);
      assert.ok(single);
      const decoded = decodeIndicium(single.data);
      assert.deepEqual(
        [
          decoded.postage,
          decoded.ascendingRegister,
          decoded.descendingRegister,
          decoded.userId,
          decoded.originZip,
          decoded.date,
        ],
        [730, 730, 99_270, 2001, '94107-1234', tomorrow],
      );
      assert.equal(decoded.certificateSerial.toString(16).padStart(16, '0'), meter.certificate.serial);
      assert.ok(opensslVerifies(single.data, meter.certificate.pem));

      const batch = await meters.issue(
        meter.meterId,
        Array.from({ length: 10 }, (_, index) => ({ postage: mills(500 + index), rateCategory: 'FC' })),
      );
      assert.equal(batch.length, 10);
      let ascending = 730;
      for (const [index, issued] of batch.entries()) {
        ascending += 500 + index;
        assert.equal(issued.ascendingRegister, ascending, 'registers move once per piece');
        assert.equal(issued.ascendingRegister + issued.descendingRegister, 100_000);
        assert.ok(opensslVerifies(issued.data, meter.certificate.pem));
      }
      const logged = await store.db
        .selectFrom('indicia')
        .select(['postage_mills'])
        .where('meter_id', '=', meter.meterId)
        .execute();
      assert.equal(logged.length, 11);
      const psd = (await meters.show(meter.meterId)).psd;
      assert.equal(
        psd.ascendingRegister,
        logged.reduce((sum, row) => sum + row.postage_mills, 0),
      );
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
    });

    it('verifies scans: valid once, then duplicate; tampered, forged and unknown indicia are caught', async () => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber: 3001,
        licensingZip: '60601',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const [issued] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      assert.ok(issued);
      assert.equal((await meters.verify(issued.data, 'scanner-1')).outcome, 'valid');
      const tampered = Buffer.from(issued.data);
      tampered[24] = (tampered[24] ?? 0) ^ 0x01;
      assert.equal((await meters.verify(tampered, 'scanner-1')).outcome, 'bad_signature');
      assert.equal((await meters.verify(Buffer.from('hello'), 'scanner-1')).outcome, 'malformed');
      const foreignSerial = Buffer.from(issued.data);
      foreignSerial[9] = (foreignSerial[9] ?? 0) ^ 0x01;
      assert.equal((await meters.verify(foreignSerial, 'scanner-1')).outcome, 'bad_certificate');

      // The same piece again: a duplicate, which by the default policy disables the meter.
      const again = await meters.verify(issued.data, 'scanner-2');
      assert.equal(again.outcome, 'duplicate');
      assert.equal(again.revenueProtection?.action, 'meter_disabled');
      await assert.rejects(meters.disable(meter.meterId, 'again'), refusedWith('meter.not_active'));
      await assert.rejects(
        meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]),
        refusedWith('meter.not_active'),
      );
      assert.equal((await meters.show(meter.meterId)).psd.state, 'suspended');
    });

    it('issues a mailing list of 1,000 pieces in one request and one commit', async () => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber: 4002,
        licensingZip: '73301',
        maxDescendingRegister: mills(50_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const issued = await meters.issue(
        meter.meterId,
        Array.from({ length: 1_000 }, () => ({ postage: mills(7), rateCategory: 'FC' })),
      );
      assert.equal(issued.length, 1_000);
      assert.equal(issued.at(-1)?.ascendingRegister, 7_000);
      const { psd } = await meters.show(meter.meterId);
      assert.deepEqual([psd.ascendingRegister, psd.descendingRegister], [7_000, 3_000]);
    });

    it('refuses bad input with a clear error and moves no register', async () => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber: 4001,
        licensingZip: '73301',
        maxDescendingRegister: mills(50_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const before = (await meters.show(meter.meterId)).psd;
      const attempts: [() => Promise<unknown>, string][] = [
        [
          () => meters.issue(meter.meterId, [{ postage: mills(0), rateCategory: 'FC' }]),
          'meter.request_invalid',
        ],
        [() => meters.issue(meter.meterId, [{ postage: mills(-730), rateCategory: 'FC' }]), 'money.negative'],
        [
          () => meters.issue(meter.meterId, [{ postage: 7.3 as Mills, rateCategory: 'FC' }]),
          'money.not_integer',
        ],
        [
          () => meters.issue(meter.meterId, [{ postage: mills(2 ** 32), rateCategory: 'FC' }]),
          'indicium.field_invalid',
        ],
        [
          () => meters.issue(meter.meterId, [{ postage: mills(2 ** 53), rateCategory: 'FC' }]),
          'money.overflow',
        ],
        [
          () => meters.issue(meter.meterId, [{ postage: mills(10_001), rateCategory: 'FC' }]),
          'psd.insufficient_funds',
        ],
        [
          () =>
            meters.issue(
              meter.meterId,
              Array.from({ length: 1_001 }, () => ({ postage: mills(1), rateCategory: 'FC' })),
            ),
          'meter.request_invalid',
        ],
        [
          () => meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'first class' }]),
          'indicium.field_invalid',
        ],
        [
          () =>
            meters.issue(meter.meterId, [
              { postage: mills(730), rateCategory: 'FC', mailingDate: '2026-02-30' },
            ]),
          'indicium.field_invalid',
        ],
        [() => meters.issue(meter.meterId, []), 'meter.request_invalid'],
        [
          () => meters.issue('421D99999999', [{ postage: mills(730), rateCategory: 'FC' }]),
          'meter.not_found',
        ],
        [() => meters.fund(meter.meterId, 40_001, 'test'), 'psd.max_dr_exceeded'],
        [() => meters.fund(meter.meterId, 0, 'test'), 'meter.request_invalid'],
        [() => meters.fund(meter.meterId, 1.5, 'test'), 'money.not_integer'],
        [
          () => meters.create({ customerNumber: 1, licensingZip: '1234', maxDescendingRegister: mills(1) }),
          'meter.request_invalid',
        ],
        // A batch whose last piece cannot be paid leaves the first ones unpaid too.
        [
          () =>
            meters.issue(meter.meterId, [
              { postage: mills(9_000), rateCategory: 'FC' },
              { postage: mills(2_000), rateCategory: 'FC' },
            ]),
          'psd.insufficient_funds',
        ],
      ];
      for (const [attempt, code] of attempts) await assert.rejects(attempt(), refusedWith(code));
      const after = (await meters.show(meter.meterId)).psd;
      assert.deepEqual(
        [after.ascendingRegister, after.descendingRegister, after.sequence],
        [before.ascendingRegister, before.descendingRegister, before.sequence],
      );
    });

    it('reconciles every meter from stored data, and reports planted differences', async () => {
      const { meters, custody, store } = installation;
      const first = await openReconciled();
      assert.equal(
        first.isBalanced,
        true,
        JSON.stringify(first.meters.filter((meter) => meter.differences.length > 0)),
      );
      assert.ok(first.meters.length >= 4);

      const meter = await meters.create({
        customerNumber: 5001,
        licensingZip: '02108',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 20_000, 'test');
      await meters.issue(meter.meterId, [
        { postage: mills(730), rateCategory: 'FC' },
        { postage: mills(1_200), rateCategory: 'FC' },
      ]);
      const balanced = (await openReconciled()).meters.find((entry) => entry.meterId === meter.meterId);
      assert.deepEqual(
        [
          balanced?.fundedMills,
          balanced?.printedMills,
          balanced?.ascendingRegisterMills,
          balanced?.descendingRegisterMills,
          balanced?.differences,
        ],
        [20_000, 1_930, 1_930, 18_070, []],
      );

      // A funding record nobody moved into the PSD, and an indicium the PSD never printed.
      await store.db
        .insertInto('meter_fundings')
        .values({
          id: 'fund_planted',
          meter_id: meter.meterId,
          amount_mills: 5_000,
          source: 'planted',
          package_sequence: 0,
          created_at: new Date().toISOString(),
        })
        .execute();
      const planted = (await openReconciled()).meters.find((entry) => entry.meterId === meter.meterId);
      assert.match(planted?.differences.join() ?? '', /fundings add up to 25000/);
      await store.db.deleteFrom('meter_fundings').where('id', '=', 'fund_planted').execute();
      const [row] = await store.db
        .selectFrom('indicia')
        .selectAll()
        .where('meter_id', '=', meter.meterId)
        .limit(1)
        .execute();
      assert.ok(row);
      await store.db
        .insertInto('indicia')
        .values({ ...row, id: 'ind_planted', data: Buffer.from('planted').toString('base64') })
        .execute();
      const report = await openReconciled();
      assert.equal(report.isBalanced, false);
      assert.match(
        report.meters.find((entry) => entry.meterId === meter.meterId)?.differences.join() ?? '',
        /indicia add up to 2660/,
      );
      await store.db.deleteFrom('indicia').where('id', '=', 'ind_planted').execute();
      assert.equal((await openReconciled()).isBalanced, true);

      function openReconciled() {
        return reconcileMeters({ db: store.db, custody });
      }
    });
  });
}
