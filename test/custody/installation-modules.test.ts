import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { CustodyError, createCustodyService } from '../../src/custody/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { Store } from '../../src/store/index.ts';
import { type BackendSettings, VaultError, openCryptoModules } from '../../src/vault/index.ts';
import { damageRing } from '../support/damaged-ring.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const mills = (value: number): Mills => value as Mills;

/** One installation's keys: a server's modules 1..N and the operator's 100 open over them. */
function installationKeys(): BackendSettings & { backend: 'software' } {
  return {
    backend: 'software',
    vaultDir: mkdtempSync(join(tmpdir(), 'indicia-installation-')),
    kek: randomBytes(32),
  };
}

/** A process's modules and its custody service over the shared database, assessed as at its start. */
async function process_(
  store: Store,
  keys: BackendSettings,
  modules: { first: number; count: number; threshold: number },
) {
  const opened = await openCryptoModules(keys, {
    modules: modules.count,
    firstModuleNumber: modules.first,
    ringSize: 3,
    inhibitThreshold: modules.threshold,
  });
  const custody = createCustodyService({ db: store.db, pool: opened.pool });
  await custody.assessModules({ verifyLog: false });
  return { ...opened, custody };
}

const isVaultError = (code: string) => (error: unknown) => error instanceof VaultError && error.code === code;

for (const fixture of dialectFixtures) {
  describe(`the installation's modules on ${fixture.name}`, () => {
    it('counts inhibited modules of every process against the threshold, and re-anchoring lifts them', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      const keys = installationKeys();
      const server = await process_(store, keys, { first: 1, count: 2, threshold: 2 });
      try {
        const meterId = '042N53000001';
        await server.custody.createMeterPackage({
          meterId,
          maxDescendingRegister: mills(500_000),
          licensingZip: null,
        });
        const officer = server.createdOfficerCredential ?? '';

        // The operator module's memory is damaged: it inhibits itself in the operator's process.
        damageRing(keys.vaultDir, 100);
        const operator = await process_(store, keys, { first: 100, count: 1, threshold: 2 });
        const operatorSerial = operator.pool.modules[0]?.serial ?? '';
        assert.equal(operator.custody.status().modules[0]?.inhibited?.cause, 'module');
        const rows = await operator.custody.installationModules();
        assert.deepEqual(
          rows
            .map((row) => [row.moduleNumber, row.owner, row.inhibited?.cause ?? null])
            .sort((left, right) => Number(left[0]) - Number(right[0])),
          [
            [1, 'server', null],
            [2, 'server', null],
            [100, 'operator', 'module'],
          ],
        );

        // The server counts it: one of two, so it still serves.
        await server.custody.refreshInstallationInhibitions();
        let status = server.custody.status();
        assert.equal(status.inhibitedModules, 1);
        assert.deepEqual(
          status.inhibitedElsewhere.map((inhibition) => inhibition.serial),
          [operatorSerial],
        );
        assert.equal(status.stopped, null);
        await server.custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]);

        // A second process's module inhibits too: two of the installation's modules, the threshold.
        damageRing(keys.vaultDir, 101);
        const third = await process_(store, keys, { first: 101, count: 1, threshold: 2 });
        await server.custody.refreshInstallationInhibitions();
        status = server.custody.status();
        assert.equal(status.inhibitedModules, 2);
        assert.match(
          status.stopped?.reason ?? '',
          /2 module\(s\) of the installation inhibited .*threshold 2/,
        );
        await assert.rejects(
          server.custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]),
          isVaultError('vault.service_stopped'),
        );
        await third.pool.close();

        // Re-anchoring the operator's module (in its own process) clears its record; one is left.
        await operator.custody.reanchorModule(operatorSerial, officer);
        assert.equal(operator.custody.status().modules[0]?.inhibited, null);
        await server.custody.resumeService();
        assert.equal(server.custody.status().inhibitedModules, 1);
        await server.custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]);
        const reanchored = await auditEventsFor(store.db, { kind: 'vault.module_reanchored' });
        assert.equal(reanchored.at(-1)?.details['clearedRecordedInhibition'], true);
        assert.equal((await auditEventsFor(store.db, { kind: 'vault.module_inhibited' })).length, 2);
        await operator.pool.close();
      } finally {
        await server.pool.close();
        await dispose();
      }
    });

    it("stops a server whatever its threshold when the database lost what the operator's module committed", async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      const keys = installationKeys();
      const server = await process_(store, keys, { first: 1, count: 1, threshold: 5 });
      const operator = await process_(store, keys, { first: 100, count: 1, threshold: 5 });
      try {
        const meterId = '042N53000002';
        await operator.custody.createMeterPackage({
          meterId,
          maxDescendingRegister: mills(500_000),
          licensingZip: null,
        });
        const serial = operator.pool.modules[0]?.serial ?? '';
        const before = await store.db
          .selectFrom('crypto_modules')
          .select('checkpoint')
          .where('serial', '=', serial)
          .executeTakeFirstOrThrow();
        for (let index = 0; index < 4; index += 1)
          await operator.custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(100) } }]);
        // The module table's row put back as it was four commits ago.
        await store.db.updateTable('crypto_modules').set(before).where('serial', '=', serial).execute();
        await assert.rejects(
          operator.custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(100) } }]),
          isVaultError('vault.module_inhibited'),
        );
        await server.custody.refreshInstallationInhibitions();
        const status = server.custody.status();
        assert.match(
          status.stopped?.reason ?? '',
          new RegExp(`the database does not hold what module\\(s\\) ${serial} committed`),
        );
        assert.equal(status.inhibitedElsewhere[0]?.cause, 'database');
        await assert.rejects(server.custody.readMeter(meterId), isVaultError('vault.service_stopped'));
      } finally {
        await operator.pool.close();
        await server.pool.close();
        await dispose();
      }
    });

    it('zeroizes: keys and rings gone, every serial retired and audited; re-initialized modules start new chains', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      const keys = installationKeys();
      const server = await process_(store, keys, { first: 1, count: 2, threshold: 1 });
      try {
        const officer = server.createdOfficerCredential ?? '';
        const serials = server.pool.modules.map((module) => module.serial);
        const first = serials[0] ?? '';
        await server.custody.createMeterPackage({
          meterId: '042N53000003',
          maxDescendingRegister: mills(500_000),
          licensingZip: null,
        });
        await assert.rejects(
          server.custody.zeroizeModule(first, 'not the credential', 'test'),
          isVaultError('vault.authentication_failed'),
        );
        await assert.rejects(
          server.custody.zeroizeModule('SW-0000000000', officer, 'test'),
          (error: unknown) => error instanceof CustodyError && error.code === 'custody.module_not_found',
        );
        assert.equal(existsSync(join(keys.vaultDir, 'keyset.json')), true, 'refusals change nothing');

        const report = await server.custody.zeroizeModule(first, officer, 'officer@example.test');
        assert.deepEqual([...report.retiredSerials].sort(), [...serials].sort());
        assert.equal(existsSync(join(keys.vaultDir, 'keyset.json')), false);
        for (const number of [1, 2])
          assert.equal(existsSync(join(keys.vaultDir, 'modules', String(number), 'ring-slot-a.bin')), false);
        const status = server.custody.status();
        assert.equal(status.modules[0]?.state, 'zeroized');
        assert.match(status.stopped?.reason ?? '', /keys were zeroized/);
        const [event] = await auditEventsFor(store.db, { kind: 'vault.module_zeroized' });
        assert.equal(event?.moduleSerial, first);
        assert.equal(event.details['by'], 'officer@example.test');
        const rows = await server.custody.installationModules();
        assert.ok(rows.every((row) => row.zeroizedAt === report.zeroizedAt));
        await server.pool.close();

        // No start silently makes new keys where an officer destroyed them.
        await assert.rejects(
          openCryptoModules(keys, { modules: 2, ringSize: 3, inhibitThreshold: 1 }),
          isVaultError('vault.zeroized'),
        );
        const renewed = await openCryptoModules(keys, {
          modules: 2,
          ringSize: 3,
          inhibitThreshold: 1,
          initializeZeroized: true,
        });
        try {
          assert.ok(renewed.createdOfficerCredential);
          const newSerials = renewed.pool.modules.map((module) => module.serial);
          assert.ok(
            newSerials.every((serial) => !serials.includes(serial)),
            'new serials',
          );
          const custody = createCustodyService({ db: store.db, pool: renewed.pool });
          await custody.assessModules({ verifyLog: false });
          // The new chains start at record 1 again: under new serials, the module log takes them.
          for (const meterId of ['042N53000004', '042N53000005'])
            await custody.createMeterPackage({
              meterId,
              maxDescendingRegister: mills(500_000),
              licensingZip: null,
            });
          const logged = await store.db
            .selectFrom('module_log')
            .select(['module_serial', 'counter'])
            .where('counter', '=', 1)
            .execute();
          assert.ok(logged.some((row) => row.module_serial === first));
          assert.ok(logged.some((row) => newSerials.includes(row.module_serial)));
        } finally {
          await renewed.pool.close();
        }
      } finally {
        await dispose();
      }
    });
  });
}
