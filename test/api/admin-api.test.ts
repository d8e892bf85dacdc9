import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

for (const fixture of dialectFixtures) {
  describe(`admin API on ${fixture.name}`, () => {
    let server: TestServer;
    let admin: IndiciaClient;

    before(async () => {
      server = await startTestServer(fixture);
      const operator = server.indicia.demoCredentials.find((credential) => credential.role === 'admin');
      assert.ok(operator !== undefined);
      admin = new IndiciaClient({ baseUrl: server.indicia.url });
      await admin.signIn(operator.email, operator.password);
    });
    after(() => server.stop());

    it('shows modules, meters, pools and a balanced reconciliation; suspends, resumes and disables a meter', async () => {
      const modules = await admin.adminModules();
      assert.equal(modules.stopped, null);
      assert.ok(modules.modules.length >= 1 && modules.modules.every((module) => module.state === 'user'));
      assert.deepEqual(
        modules.fleet.servers.map((server) => [server.state, server.port]),
        [['live', server.indicia.port]],
      );
      assert.deepEqual(
        modules.fleet.modules.map((module) => module.serial),
        modules.modules.map((module) => module.serial),
      );
      const [demoMeter] = await admin.adminMeters(100_000);
      assert.ok(demoMeter !== undefined);
      assert.equal(demoMeter.mode, 'dedicated');
      const suspended = await admin.changeMeter(demoMeter.meterId, 'suspend');
      assert.equal(suspended.meter.status, 'suspended');
      assert.equal(suspended.psd.state, 'suspended');
      assert.equal((await refusal(admin.changeMeter(demoMeter.meterId, 'suspend'))).code, 'meter.not_active');
      assert.equal((await admin.changeMeter(demoMeter.meterId, 'resume')).meter.status, 'active');
      const report = await admin.reconcile();
      assert.equal(report.isBalanced, true);
      assert.equal(report.meters.length, 1);
      assert.deepEqual(await admin.adminPools(), []);

      const shown = await admin.adminMeter(demoMeter.meterId);
      assert.equal(shown.meter.meterId, demoMeter.meterId);
      assert.equal(shown.psd.descendingRegisterMills, 0);
      assert.equal(shown.psd.deviceEnrolled, false);
      // A verifier needs nothing but the CA and the meter certificate, without signing in.
      const anyone = new IndiciaClient({ baseUrl: server.indicia.url });
      assert.match(await anyone.caCertificate(), /^-----BEGIN CERTIFICATE-----/);
      assert.match(await anyone.certificate(shown.meter.certificateSerial), /^-----BEGIN CERTIFICATE-----/);
      const disabled = await admin.changeMeter(
        demoMeter.meterId,
        'disable',
        'duplicate indicia scanned in two cities',
      );
      assert.equal(disabled.meter.status, 'disabled');
      assert.equal(disabled.psd.state, 'suspended');
    });

    it('creates staff accounts, which then sign in with their role', async () => {
      const created = await admin.createStaffAccount({
        email: 'support@staff.example.com',
        name: 'Sam Support',
        role: 'support',
        password: PASSWORD,
      });
      assert.equal(created.role, 'support');
      assert.equal(created.customerNumber, null);
      const support = new IndiciaClient({ baseUrl: server.indicia.url });
      await support.signIn('support@staff.example.com', PASSWORD);
      assert.equal((await support.account()).role, 'support');
      assert.equal((await support.adminMeters()).length, 1, 'support reads meters');
      const forbidden = await refusal(
        support.createStaffAccount({
          email: 'x@staff.example.com',
          name: 'X',
          role: 'admin',
          password: PASSWORD,
        }),
      );
      assert.equal(forbidden.code, 'account.forbidden');
      const customerRole = await refusal(
        admin.request('POST', '/v1/admin/accounts', {
          email: 'c@staff.example.com',
          name: 'C',
          role: 'customer',
          password: PASSWORD,
        }),
      );
      assert.equal(customerRole.code, 'request.invalid');
    });
  });
}
