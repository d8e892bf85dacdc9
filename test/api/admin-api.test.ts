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

    it('shows modules, meters and a balanced reconciliation; suspends and resumes a meter', async () => {
      const modules = await admin.request<{ modules: { state: string }[]; stopped: unknown }>(
        'GET',
        '/v1/admin/modules',
      );
      assert.equal(modules.stopped, null);
      assert.ok(modules.modules.length >= 1);
      const { meters } = await admin.request<{ meters: { meter_id: string; customer_number: number }[] }>(
        'GET',
        '/v1/admin/meters?customerNumber=100000',
      );
      const [demoMeter] = meters;
      assert.ok(demoMeter !== undefined);
      const suspended = await admin.request<{ meter: { status: string }; psd: { state: string } }>(
        'POST',
        `/v1/admin/meters/${demoMeter.meter_id}/suspend`,
        {},
      );
      assert.equal(suspended.meter.status, 'suspended');
      assert.equal(suspended.psd.state, 'suspended');
      const twice = await refusal(
        admin.request('POST', `/v1/admin/meters/${demoMeter.meter_id}/suspend`, {}),
      );
      assert.equal(twice.code, 'meter.not_active');
      const resumed = await admin.request<{ meter: { status: string } }>(
        'POST',
        `/v1/admin/meters/${demoMeter.meter_id}/resume`,
        {},
      );
      assert.equal(resumed.meter.status, 'active');
      const report = await admin.request<{ isBalanced: boolean; meters: unknown[] }>(
        'POST',
        '/v1/admin/reconciliations',
      );
      assert.equal(report.isBalanced, true);
      assert.equal(report.meters.length, 1);
      assert.deepEqual(await admin.request('GET', '/v1/admin/pools'), { pools: [] });

      const shown = await admin.request<{ meter: { meter_id: string; certificate_serial: string } }>(
        'GET',
        `/v1/admin/meters/${demoMeter.meter_id}`,
      );
      assert.equal(shown.meter.meter_id, demoMeter.meter_id);
      // A verifier needs nothing but the CA and the meter certificate, without signing in.
      const anyone = new IndiciaClient({ baseUrl: server.indicia.url });
      assert.match(await anyone.caCertificate(), /^-----BEGIN CERTIFICATE-----/);
      assert.match(await anyone.certificate(shown.meter.certificate_serial), /^-----BEGIN CERTIFICATE-----/);
      const disabled = await admin.request<{ meter: { status: string }; psd: { state: string } }>(
        'POST',
        `/v1/admin/meters/${demoMeter.meter_id}/disable`,
        { reason: 'duplicate indicia scanned in two cities' },
      );
      assert.equal(disabled.meter.status, 'disabled');
      assert.equal(disabled.psd.state, 'suspended');
    });

    it('creates staff accounts, which then sign in with their role', async () => {
      const created = await admin.request<{ account: { role: string; customerNumber: null } }>(
        'POST',
        '/v1/admin/accounts',
        { email: 'support@staff.example.com', name: 'Sam Support', role: 'support', password: PASSWORD },
      );
      assert.equal(created.account.role, 'support');
      assert.equal(created.account.customerNumber, null);
      const support = new IndiciaClient({ baseUrl: server.indicia.url });
      await support.signIn('support@staff.example.com', PASSWORD);
      assert.equal((await support.account()).role, 'support');
      const forbidden = await refusal(
        support.request('POST', '/v1/admin/accounts', {
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
