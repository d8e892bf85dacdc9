import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { startTestServer } from '../support/start-server.ts';

interface InstallationView {
  stopped: { reason: string } | null;
  modules: { serial: string; state: string; moduleNumber: number | null; zeroizedAt: string | null }[];
  installation: { serial: string; owner: string; moduleNumber: number | null; zeroizedAt: string | null }[];
  inhibitedElsewhere: unknown[];
}

for (const fixture of dialectFixtures) {
  describe(`zeroizing through the admin API on ${fixture.name}`, () => {
    it('needs the crypto-officer role, the modules’ officer credential and the confirmation; then the server stops', async () => {
      const server = await startTestServer(fixture);
      try {
        const { url } = server.indicia;
        const demoAdmin = server.indicia.demoCredentials.find((credential) => credential.role === 'admin');
        assert.ok(demoAdmin);
        const admin = new IndiciaClient({ baseUrl: url });
        await admin.signIn(demoAdmin.email, demoAdmin.password);
        await admin.createStaffAccount({
          email: 'officer@staff.example.com',
          name: 'Olga Officer',
          role: 'crypto-officer',
          password: PASSWORD,
        });
        const officer = new IndiciaClient({ baseUrl: url });
        await officer.signIn('officer@staff.example.com', PASSWORD);

        const before = await officer.request<InstallationView>('GET', '/v1/admin/modules');
        const serial = before.modules[0]?.serial ?? '';
        assert.equal(before.modules[0]?.moduleNumber, 1);
        assert.deepEqual(before.installation.map((module) => [module.moduleNumber, module.owner]).sort(), [
          [1, 'server'],
          [2, 'server'],
        ]);
        assert.deepEqual(before.inhibitedElsewhere, []);
        const path = `/v1/admin/modules/${serial}/zeroize`;
        const credential = server.indicia.createdOfficerCredential ?? '';
        const confirmed = { officerCredential: credential, confirm: 'destroy-all-keys' };

        assert.equal((await refusal(admin.request('POST', path, confirmed))).code, 'account.forbidden');
        const unconfirmed = await refusal(officer.request('POST', path, { officerCredential: credential }));
        assert.equal(unconfirmed.status, 400);
        const wrong = await refusal(
          officer.request('POST', path, {
            officerCredential: 'not the credential',
            confirm: 'destroy-all-keys',
          }),
        );
        assert.equal(wrong.code, 'vault.authentication_failed');
        const unknown = await refusal(
          officer.request('POST', '/v1/admin/modules/SW-0000000000/zeroize', confirmed),
        );
        assert.equal(unknown.status, 404);
        assert.equal(unknown.code, 'custody.module_not_found');
        const keyset = join(server.indicia.config.dataDir, 'vault', 'keyset.json');
        assert.equal(existsSync(keyset), true, 'refusals destroy nothing');
        assert.equal((await fetch(`${url}/readyz`)).status, 200);

        const report = await officer.request<{
          serial: string;
          zeroizedAt: string;
          retiredSerials: string[];
        }>('POST', path, confirmed);
        assert.equal(report.serial, serial);
        assert.deepEqual(report.retiredSerials.sort(), before.modules.map((module) => module.serial).sort());
        assert.equal(existsSync(keyset), false);
        assert.equal((await fetch(`${url}/readyz`)).status, 503);
        const after = await officer.request<InstallationView>('GET', '/v1/admin/modules');
        assert.equal(after.modules[0]?.state, 'zeroized');
        assert.equal(after.modules[0].zeroizedAt, report.zeroizedAt);
        assert.match(after.stopped?.reason ?? '', /keys were zeroized/);
        assert.ok(after.installation.every((module) => module.zeroizedAt === report.zeroizedAt));
        const [event] = await auditEventsFor(server.indicia.store.db, { kind: 'vault.module_zeroized' });
        assert.equal(event?.details['by'], 'officer@staff.example.com');
        assert.equal(event.moduleSerial, serial);
      } finally {
        await server.stop();
      }
    });
  });
}
