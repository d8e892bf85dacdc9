import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { IndiciaClient } from '../../src/client/index.ts';
import { mills } from '../../src/money/index.ts';
import { PASSWORD, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

for (const fixture of dialectFixtures) {
  describe(`public check and verifier scans on ${fixture.name}`, () => {
    let server: TestServer;
    let url: string;
    const staff = new Map<string, IndiciaClient>();
    const as = (role: string): IndiciaClient => {
      const client = staff.get(role);
      assert.ok(client !== undefined, role);
      return client;
    };

    /** A funded dedicated meter (made by the operator) and one piece from it, base64. */
    const piece = async (customerNumber: number) => {
      const { meters } = server.indicia;
      const meter = await meters.create({
        customerNumber,
        licensingZip: '10118',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const [issued] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      assert.ok(issued !== undefined);
      return { meter, id: issued.id, data: issued.data.toString('base64') };
    };

    const scans = async (): Promise<number> =>
      (await server.indicia.store.db.selectFrom('scans').select('id').execute()).length;

    before(async () => {
      // The real per-address limits, so the public check's own limit shows.
      server = await startTestServer(fixture, { INDICIA_RATE_LIMIT_SCALE: '1' });
      url = server.indicia.url;
      for (const role of ['support', 'admin', 'auditor', 'verifier'] as const) {
        const email = `${role}@post.example.com`;
        await server.indicia.accounts.createStaffAccount({
          email,
          name: `A ${role}`,
          role,
          password: PASSWORD,
        });
        const client = new IndiciaClient({ baseUrl: url });
        await client.signIn(email, PASSWORD);
        staff.set(role, client);
      }
    });
    after(() => server.stop());

    it('tells anyone whether a piece is genuine, what it says and whether a verifier saw it, and records nothing', async () => {
      const { meter, data } = await piece(6001);
      const anyone = new IndiciaClient({ baseUrl: url });
      const before = await scans();
      const check = await anyone.verification.check(data);
      assert.deepEqual(
        [check.genuine, check.outcome, check.reason, check.seenBefore],
        [true, 'valid', null, false],
      );
      assert.deepEqual(
        {
          meterNumber: check.indicium?.meterNumber,
          postageMills: check.indicium?.postageMills,
          customerNumber: check.indicium?.customerNumber,
          rateCategory: check.indicium?.rateCategory,
          certificateSerial: check.indicium?.certificateSerial,
        },
        {
          meterNumber: meter.meterId,
          postageMills: 730,
          customerNumber: 6001,
          rateCategory: 'FC',
          certificateSerial: meter.certificate.serial,
        },
      );
      const tampered = Buffer.from(data, 'base64');
      tampered[24] = (tampered[24] ?? 0) ^ 0x01;
      const changed = await anyone.verification.check(tampered.toString('base64'));
      assert.deepEqual([changed.genuine, changed.outcome], [false, 'bad_signature']);
      const garbage = await anyone.verification.check(Buffer.from('hello').toString('base64'));
      assert.deepEqual([garbage.genuine, garbage.outcome, garbage.indicium], [false, 'malformed', null]);
      const keys = async () =>
        (await server.indicia.store.db.selectFrom('idempotency_keys').select('key').execute()).length;
      const keysBefore = await keys();
      const withKey = await fetch(`${url}/v1/public/verify?indicium=${encodeURIComponent(data)}`, {
        headers: { 'idempotency-key': 'check-1' },
      });
      assert.equal(withKey.status, 200);
      assert.equal(await keys(), keysBefore, 'not even an idempotency record');
      assert.equal(await scans(), before, 'the public check records nothing');
    });

    it("lets only a verifier record scans, so a read-only account's look never makes the customer's next genuine scan a duplicate", async () => {
      const { data } = await piece(6002);
      for (const role of ['support', 'admin', 'auditor'])
        assert.equal((await refusal(as(role).verify(data))).code, 'account.forbidden', role);
      assert.equal((await as('auditor').verification.check(data)).seenBefore, false);
      assert.equal((await as('support').verification.check(data)).genuine, true);
      const scanned = await as('verifier').verify(data);
      assert.deepEqual([scanned.outcome, scanned.report], ['valid', null]);
      const afterwards = await new IndiciaClient({ baseUrl: url }).verification.check(data);
      assert.deepEqual([afterwards.genuine, afterwards.seenBefore], [true, true]);

      // A scanner machine records with an API key of the verifier's, scope scans:record.
      const key = await as('verifier').request<{ key: string }>('POST', '/v1/api-keys', {
        name: 'sorting machine 4',
        scopes: ['scans:record'],
      });
      const machine = new IndiciaClient({ baseUrl: url, apiKey: key.key });
      const other = await piece(6003);
      assert.equal((await machine.verify(other.data)).outcome, 'valid');
    });

    it("files a report on a verifier's duplicate, disables the meter and publishes its revocation", async () => {
      const { meter, data } = await piece(6004);
      await as('verifier').verify(data);
      const duplicate = await as('verifier').verify(data);
      assert.equal(duplicate.outcome, 'duplicate');
      assert.equal(duplicate.report?.action, 'meter_disabled');
      for (const role of ['auditor', 'support', 'admin']) {
        const { reports } = await as(role).verification.reports({ limit: 10 });
        const report = reports.find((entry) => entry.id === duplicate.report?.id);
        assert.ok(report !== undefined, role);
        assert.deepEqual(
          [report.meterId, report.outcome, report.verifier, report.action],
          [meter.meterId, 'duplicate', 'verifier@post.example.com', 'meter_disabled'],
        );
      }
      assert.equal((await refusal(as('verifier').verification.reports())).code, 'account.forbidden');
      assert.equal((await as('admin').adminMeter(meter.meterId)).meter.status, 'disabled');

      const anyone = new IndiciaClient({ baseUrl: url });
      const crl = await anyone.verification.revocationLists();
      const entries = [...crl.matchAll(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g)].flatMap(
        (match) => new x509.X509Crl(match[0].replace(/X509 CRL/g, 'CRL')).entries,
      );
      const entry = entries.find((candidate) => candidate.serialNumber === meter.certificate.serial);
      assert.equal(entry?.reason, x509.X509CrlReason.privilegeWithdrawn);
      assert.match(await anyone.verification.caCertificates(), /^-----BEGIN CERTIFICATE-----/);
      assert.equal(await anyone.verification.crossCertificates(), '', 'no roll-over yet');
    });

    it('revokes a certificate for an admin only; the meter it certifies is suspended', async () => {
      const { meter } = await piece(6005);
      assert.equal(
        (
          await refusal(
            as('support').verification.revokeCertificate(meter.certificate.serial, 'key-compromise'),
          )
        ).code,
        'account.forbidden',
      );
      const bad = await refusal(
        as('admin').request('POST', `/v1/admin/certificates/${meter.certificate.serial}/revoke`, {
          reason: 'because',
        }),
      );
      assert.equal(bad.status, 400);
      const revoked = await as('admin').verification.revokeCertificate(
        meter.certificate.serial,
        'key-compromise',
        'key material found on a laptop',
      );
      assert.deepEqual(revoked, {
        serial: meter.certificate.serial,
        meterId: meter.meterId,
        meterSuspended: true,
      });
      assert.equal((await as('admin').adminMeter(meter.meterId)).meter.status, 'suspended');
      const again = await refusal(
        as('admin').verification.revokeCertificate(meter.certificate.serial, 'key-compromise'),
      );
      assert.deepEqual([again.status, again.code], [409, 'authority.certificate_revoked']);
    });

    it('limits the public check to 30 a minute from one address', async () => {
      let answer: Response | undefined;
      for (let attempt = 0; attempt < 40; attempt += 1) {
        answer = await fetch(`${url}/v1/public/verify?indicium=aGVsbG8`);
        if (answer.status === 429) break;
      }
      assert.ok(answer !== undefined);
      assert.equal(answer.status, 429);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'request.rate_limited');
      assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/);
    });
  });
}
