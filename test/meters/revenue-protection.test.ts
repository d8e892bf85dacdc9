import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyAuditChain } from '../../src/audit/index.ts';
import { encodeSignedData, assembleIndicium, decodeIndicium } from '../../src/indicium/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  MeterError,
  type MetersService,
  createMetersService,
  createPoolService,
} from '../../src/meters/index.ts';
import { mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';

const refusedWith = (code: string) => (error: unknown) => error instanceof MeterError && error.code === code;

for (const fixture of dialectFixtures) {
  describe(`revenue protection on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    let customer = 8000;
    before(async () => {
      installation = await openMeterInstallation(fixture);
    });
    after(() => installation.dispose());

    /** A funded dedicated meter and `count` pieces from it. */
    const printed = async (meters: MetersService, count = 2, fundMills = 10_000) => {
      customer += 1;
      const meter = await meters.create({
        customerNumber: customer,
        licensingZip: '60601',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, fundMills, 'test');
      const pieces = await meters.issue(
        meter.meterId,
        Array.from({ length: count }, () => ({ postage: mills(730), rateCategory: 'FC' })),
      );
      return { meter, pieces: [...pieces] };
    };

    const reportsOf = async (meterId: string) =>
      (await installation.meters.revenueProtectionReports({ limit: 200 })).reports.filter(
        (report) => report.meterId === meterId,
      );

    it('disables the meter of a duplicate, revokes its certificate and files a report; its earlier pieces stay genuine', async () => {
      const { meters, store } = installation;
      const { meter, pieces } = await printed(meters);
      const [first, second] = pieces;
      assert.ok(first !== undefined && second !== undefined);
      assert.equal((await meters.verify(first.data, 'scanner-nyc')).outcome, 'valid');
      assert.equal((await meters.verify(second.data, 'scanner-nyc')).outcome, 'valid');
      const duplicate = await meters.verify(first.data, 'scanner-chicago');
      assert.equal(duplicate.outcome, 'duplicate');
      assert.equal(duplicate.revenueProtection?.action, 'meter_disabled');

      const [report] = await reportsOf(meter.meterId);
      assert.ok(report !== undefined);
      assert.equal(report.id, duplicate.revenueProtection.reportId);
      assert.deepEqual(
        {
          outcome: report.outcome,
          reason: report.reason,
          indiciumId: report.indiciumId,
          customerNumber: report.customerNumber,
          verifier: report.verifier,
          policy: report.policy,
          action: report.action,
        },
        {
          outcome: 'duplicate',
          reason: 'this indicium was scanned before',
          indiciumId: first.id,
          customerNumber: customer,
          verifier: 'scanner-chicago',
          policy: 'disable-meter',
          action: 'meter_disabled',
        },
      );
      assert.match(
        report.actionDetail ?? '',
        new RegExp(`certificates revoked: ${meter.certificate.serial}`),
      );
      const scan = await store.db
        .selectFrom('scans')
        .selectAll()
        .where('id', '=', report.scanId)
        .executeTakeFirstOrThrow();
      assert.equal(scan.outcome, 'duplicate');

      const shown = await meters.show(meter.meterId);
      assert.deepEqual([shown.meter.status, shown.psd.state], ['disabled', 'suspended']);
      await assert.rejects(
        meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]),
        refusedWith('meter.not_active'),
      );
      await assert.rejects(meters.resume(meter.meterId), refusedWith('meter.not_active'));
      const certificate = await installation.authority.certificate(meter.certificate.serial);
      assert.equal(certificate.revocationReason, 'privilege-withdrawn');
      assert.match(await installation.authority.revocationLists(), /BEGIN X509 CRL/);
      // Mail the meter printed before it was stopped is still good postage.
      const check = await meters.check(second.data);
      assert.deepEqual([check.isGenuine, check.isSeenBefore], [true, true]);
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
      const events = await store.db
        .selectFrom('audit_events')
        .select('kind')
        .where('meter_id', '=', meter.meterId)
        .execute();
      for (const kind of ['revenue_protection.reported', 'meter.disabled', 'authority.certificates_revoked'])
        assert.ok(
          events.some((event) => event.kind === kind),
          kind,
        );
    });

    it('under report-only files the report and leaves the meter printing', async () => {
      const meters = createMetersService({
        db: installation.store.db,
        custody: installation.custody,
        authority: installation.authority,
        scanFraudPolicy: 'report-only',
      });
      const { meter, pieces } = await printed(meters, 1);
      const [piece] = pieces;
      assert.ok(piece !== undefined);
      await meters.verify(piece.data, 'scanner');
      const duplicate = await meters.verify(piece.data, 'scanner');
      assert.equal(duplicate.revenueProtection?.action, 'reported_only');
      assert.equal((await meters.show(meter.meterId)).meter.status, 'active');
      assert.equal((await reportsOf(meter.meterId))[0]?.policy, 'report-only');
      await meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]);
    });

    it('treats a refunded piece in the mail and a piece the log never saw like a duplicate', async () => {
      const { meters, custody } = installation;
      // Spoilage refunds stay within 1% of AR: 100 pieces of $0.73 allow one.
      const refundable = await printed(meters, 100, 100_000);
      const [refundedPiece] = refundable.pieces;
      assert.ok(refundedPiece !== undefined);
      await meters.refundSpoiled(refundedPiece.id);
      const implausible = await meters.verify(refundedPiece.data, 'scanner');
      assert.equal(implausible.outcome, 'implausible');
      assert.equal(implausible.revenueProtection?.action, 'meter_disabled');
      assert.equal((await meters.show(refundable.meter.meterId)).meter.status, 'disabled');

      // The meter key signing something Indicia never logged: a forged piece with a valid signature.
      const { meter, pieces } = await printed(meters, 1);
      const genuine = decodeIndicium(pieces[0]?.data ?? Buffer.alloc(0));
      const forgedData = encodeSignedData({ ...genuine, postage: mills(99_999) });
      const signed = await custody.execute(meter.meterId, [
        { operation: { type: 'update' }, sign: () => forgedData },
      ]);
      const forged = assembleIndicium(forgedData, signed.signatures[0]?.signature ?? Buffer.alloc(0));
      // A damaged barcode is not fraud: no report.
      const damaged = Buffer.from(pieces[0]?.data ?? Buffer.alloc(0));
      damaged[24] = (damaged[24] ?? 0) ^ 0x01;
      const misread = await meters.verify(damaged, 'scanner');
      assert.equal(misread.outcome, 'bad_signature');
      assert.equal(misread.revenueProtection, null);
      const unknown = await meters.verify(forged, 'scanner');
      assert.equal(unknown.outcome, 'unknown_indicium');
      assert.equal(unknown.revenueProtection?.action, 'meter_disabled');
    });

    it('reports a pooled mini-PSD without stopping it, since it prints for every customer', async () => {
      const { store, custody, authority, meters } = installation;
      const pool = createPoolService({
        db: store.db,
        custody,
        authority,
        settings: DEFAULT_METER_SETTINGS,
        modules: 1,
        machineNumber: 4,
        holder: 'server-rp',
        increment: mills(10_000),
      });
      try {
        await pool.setUp('10001');
        await pool.purchase(50_000, 'PO-RP');
        await pool.deposit(9001, 5_000, 'card');
        const [piece] = await pool.issue(9001, [{ postage: mills(730), rateCategory: 'FC' }]);
        assert.ok(piece !== undefined);
        await meters.verify(piece.data, 'scanner');
        const duplicate = await meters.verify(piece.data, 'scanner');
        assert.equal(duplicate.revenueProtection?.action, 'pooled_reported_only');
        const [report] = await reportsOf(piece.meterId);
        assert.equal(report?.customerNumber, 9001);
        assert.equal((await meters.show(piece.meterId)).meter.status, 'active');
      } finally {
        await pool.close();
      }
    });

    it('revokes a certificate on request: the current one suspends the meter until it is rekeyed; withdrawal revokes as well', async () => {
      const { meters, authority } = installation;
      const { meter, pieces } = await printed(meters, 1);
      const revoked = await meters.revokeCertificate(meter.certificate.serial, 'superseded', 'test');
      assert.deepEqual(revoked, {
        serial: meter.certificate.serial,
        meterId: meter.meterId,
        isMeterSuspended: true,
      });
      await assert.rejects(
        meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]),
        refusedWith('meter.not_active'),
      );
      await assert.rejects(meters.revokeCertificate(meter.certificate.serial, 'superseded', null), {
        code: 'authority.certificate_revoked',
      });
      await assert.rejects(
        meters.revokeCertificate((await authority.caCertificate()).serial, 'key-compromise', null),
        { code: 'authority.certificate_not_revocable' },
      );
      const rekeyed = await meters.replaceKey(meter.meterId);
      await meters.resume(meter.meterId);
      const [fresh] = await meters.issue(meter.meterId, [{ postage: mills(1), rateCategory: 'FC' }]);
      assert.ok(fresh !== undefined);
      assert.equal((await meters.check(fresh.data)).isGenuine, true);
      // Superseded, not compromised: the piece printed before the revocation stays genuine.
      assert.equal((await meters.check(pieces[0]?.data ?? Buffer.alloc(0))).isGenuine, true);

      await meters.withdraw(meter.meterId);
      for (const serial of [meter.certificate.serial, rekeyed.certificate.serial]) {
        const record = await authority.certificate(serial);
        assert.ok(record.revokedAt !== null, serial);
      }
      assert.equal(
        (await authority.certificate(rekeyed.certificate.serial)).revocationReason,
        'cessation-of-operation',
      );
      assert.equal((await meters.check(fresh.data)).isGenuine, true);
    });

    it('pages the reports newest first', async () => {
      const { reports } = await installation.meters.revenueProtectionReports({ limit: 2 });
      const all = await installation.meters.revenueProtectionReports({ limit: 200 });
      assert.ok(all.reports.length >= 4);
      assert.deepEqual(
        reports.map((report) => report.id),
        all.reports.slice(0, 2).map((report) => report.id),
      );
      const next = await installation.meters.revenueProtectionReports({ limit: 2, before: reports[1]?.id });
      assert.equal(next.reports[0]?.id, all.reports[2]?.id);
      await assert.rejects(
        installation.meters.revenueProtectionReports({ limit: 2, before: 'rpr_nope' }),
        refusedWith('meter.request_invalid'),
      );
    });
  });
}
