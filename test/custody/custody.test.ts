import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditEventsFor, verifyAuditChain } from '../../src/audit/index.ts';
import { CustodyError, createCustodyService } from '../../src/custody/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { Store } from '../../src/store/index.ts';
import {
  type ModulePool,
  VaultError,
  openCryptoModules,
  readPackageHeader,
  verifySignature,
} from '../../src/vault/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const mills = (value: number): Mills => value as Mills;

async function openPool(
  modules: number,
  inhibitThreshold = 1,
): Promise<{ pool: ModulePool; officer: string }> {
  const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-custody-'));
  const opened = await openCryptoModules(
    { backend: 'software', vaultDir, kek: randomBytes(32) },
    { modules, ringSize: 3, inhibitThreshold },
  );
  assert.ok(opened.createdOfficerCredential);
  return { pool: opened.pool, officer: opened.createdOfficerCredential };
}

for (const fixture of dialectFixtures) {
  describe(`custody on ${fixture.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    before(async () => {
      ({ store, dispose } = await openMigratedStore(fixture));
    });
    after(() => dispose());

    it('commits package, checkpoint and audit events together before returning; signatures verify', async () => {
      const { pool } = await openPool(2);
      const custody = createCustodyService({ db: store.db, pool });
      const meterId = '042N51000001';
      const created = await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: mills(500_000),
        licensingZip: '10001',
      });
      await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(100_000) } }]);
      const printed = await custody.execute(meterId, [
        {
          operation: { type: 'debit', amount: mills(730) },
          sign: (after) => Buffer.from(`${after.meterId}|${after.ascendingRegister}`),
        },
      ]);
      const signature = printed.signatures[0];
      assert.ok(signature);
      assert.ok(
        verifySignature(
          'ecdsa-p256',
          Buffer.from(created.view.signingKey.publicKey, 'base64'),
          signature.data,
          signature.signature,
        ),
      );

      const row = await store.db
        .selectFrom('psd_packages')
        .selectAll()
        .where('meter_id', '=', meterId)
        .executeTakeFirstOrThrow();
      assert.equal(row.sequence, 2);
      assert.equal(readPackageHeader(Buffer.from(row.sealed, 'base64')).sequence, 2);
      const moduleRow = await store.db
        .selectFrom('crypto_modules')
        .selectAll()
        .where('serial', '=', printed.record.moduleSerial)
        .executeTakeFirstOrThrow();
      assert.equal(moduleRow.checkpoint, printed.checkpoint.toString('base64'));
      const events = await auditEventsFor(store.db, { meterId });
      assert.deepEqual(
        events.map((event) => event.kind),
        ['psd.create', 'psd.fund', 'psd.debit'],
      );
      assert.equal(events[2]?.details['amountMills'], 730);
      assert.deepEqual(await verifyAuditChain(store.db), {
        isIntact: true,
        events: 3,
        firstBrokenSequence: null,
      });
      const view = await custody.readMeter(meterId);
      assert.deepEqual([view.ascendingRegister, view.descendingRegister], [730, 99_270]);
      await pool.close();
    });

    it('refuses unknown and duplicate meters', async () => {
      const { pool } = await openPool(1);
      const custody = createCustodyService({ db: store.db, pool });
      await assert.rejects(
        custody.execute('042N59999990', [{ operation: { type: 'suspend' } }]),
        CustodyError,
      );
      await custody.createMeterPackage({
        meterId: '042N51000002',
        maxDescendingRegister: mills(1_000),
        licensingZip: null,
      });
      await assert.rejects(
        custody.createMeterPackage({
          meterId: '042N51000002',
          maxDescendingRegister: mills(1_000),
          licensingZip: null,
        }),
        (error: unknown) => error instanceof CustodyError && error.code === 'custody.meter_exists',
      );
      await pool.close();
    });

    it('releases nothing when the commit fails, and the next command recovers and audits the discarded step', async () => {
      const { pool } = await openPool(1);
      const custody = createCustodyService({ db: store.db, pool });
      const meterId = '042N51000003';
      await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: mills(500_000),
        licensingZip: null,
      });
      await assert.rejects(
        custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(50_000) } }], () => {
          throw new Error('simulated crash during the commit');
        }),
        /simulated crash/,
      );
      const after = await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]);
      assert.equal(after.view.descendingRegister, 1_000, 'the uncommitted 50,000 never happened');
      const discarded = await auditEventsFor(store.db, { meterId, kind: 'vault.auto_recovery_discarded' });
      assert.equal(discarded.length, 1);
      assert.equal(discarded[0]?.details['amountMills'], 50_000);
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
      await pool.close();
    });

    it('commits concurrent commands in groups: one record and one transaction for many, a refusal failing only itself', async () => {
      const { pool } = await openPool(1);
      const custody = createCustodyService({ db: store.db, pool });
      const meterIds = ['042N51000011', '042N51000012', '042N51000013'];
      for (const meterId of meterIds) {
        await custody.createMeterPackage({
          meterId,
          maxDescendingRegister: mills(500_000),
          licensingZip: null,
        });
        await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(10_000) } }]);
      }
      const before = custody.groupCommits();
      const debits = Array.from({ length: 30 }, (_, index) =>
        custody.execute(meterIds[index % 3] ?? '', [{ operation: { type: 'debit', amount: mills(100) } }]),
      );
      // More than the third meter holds: refused alone, inside someone else's group.
      const overdraft = custody.execute(meterIds[2] ?? '', [
        { operation: { type: 'debit', amount: mills(20_000) } },
      ]);
      const results = await Promise.all(debits);
      await assert.rejects(
        overdraft,
        (error: unknown) => error instanceof VaultError && error.code === 'psd.insufficient_funds',
      );
      const after = custody.groupCommits();
      assert.equal(after.commands - before.commands, 30);
      assert.ok(
        after.groups - before.groups < 30,
        `30 commands took ${after.groups - before.groups} commits`,
      );
      // Commands on one meter kept their order: each saw the registers its predecessor left.
      for (const [offset, meterId] of meterIds.entries()) {
        const registers = results
          .filter((_, index) => index % 3 === offset)
          .map((result) => result.view.ascendingRegister);
        assert.deepEqual(registers, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000], meterId);
        const view = await custody.readMeter(meterId);
        assert.deepEqual([view.ascendingRegister, view.descendingRegister], [1_000, 9_000]);
      }
      const sharedRecord = results.filter((result) => result.record.transactions.length > 1);
      assert.ok(sharedRecord.length > 0);
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
      await pool.close();
    });

    it('fails a whole group when its commit fails, and the next command discards every transaction of it', async () => {
      const { pool } = await openPool(1);
      const custody = createCustodyService({ db: store.db, pool });
      const meterId = '042N51000014';
      await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: mills(500_000),
        licensingZip: null,
      });
      const outcomes = await Promise.allSettled([
        custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]),
        custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(2_000) } }], () => {
          throw new Error('simulated failure of one caller’s writes');
        }),
        custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(4_000) } }]),
      ]);
      assert.deepEqual(
        outcomes.map((outcome) => outcome.status),
        ['rejected', 'rejected', 'rejected'],
      );
      const next = await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(8_000) } }]);
      assert.equal(next.view.descendingRegister, 8_000, 'none of the failed group happened');
      const discarded = await auditEventsFor(store.db, { meterId, kind: 'vault.auto_recovery_discarded' });
      assert.deepEqual(
        discarded.map((event) => event.details['amountMills']),
        [1_000, 2_000, 4_000],
      );
      await pool.close();
    });

    it('inhibits on a database restored further back than the ring, stops the service, and recovers by re-anchoring', async () => {
      const { pool, officer } = await openPool(1);
      const custody = createCustodyService({ db: store.db, pool });
      const meterId = '042N51000004';
      await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: mills(500_000),
        licensingZip: null,
      });
      const snapshot = {
        packages: await store.db
          .selectFrom('psd_packages')
          .selectAll()
          .where('meter_id', '=', meterId)
          .execute(),
        modules: await store.db.selectFrom('crypto_modules').selectAll().execute(),
        log: await store.db.selectFrom('module_log').select(['module_serial', 'counter']).execute(),
      };
      for (let index = 0; index < 4; index += 1)
        await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(1_000) } }]);
      // Restore the snapshot: as if last night's backup were put back.
      await store.db.transaction().execute(async (trx) => {
        for (const row of snapshot.packages)
          await trx.updateTable('psd_packages').set(row).where('meter_id', '=', row.meter_id).execute();
        for (const row of snapshot.modules)
          await trx.updateTable('crypto_modules').set(row).where('serial', '=', row.serial).execute();
        const kept = new Set(snapshot.log.map((row) => `${row.module_serial}/${row.counter}`));
        for (const row of await trx.selectFrom('module_log').select(['module_serial', 'counter']).execute()) {
          if (kept.has(`${row.module_serial}/${row.counter}`)) continue;
          await trx
            .deleteFrom('module_log')
            .where('module_serial', '=', row.module_serial)
            .where('counter', '=', row.counter)
            .execute();
        }
      });
      // A restarted server: this process's memory of committed versions would refuse the replayed
      // row before the module is asked (tested in meters/restore-drill.test.ts).
      const restarted = createCustodyService({ db: store.db, pool });
      let signs = 0;
      await assert.rejects(
        restarted.execute(meterId, [
          { operation: { type: 'debit', amount: mills(10) }, sign: () => Buffer.from(String((signs += 1))) },
        ]),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      assert.equal(signs, 0);
      assert.ok(restarted.status().stopped);
      await assert.rejects(
        restarted.readMeter(meterId),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.service_stopped',
      );
      assert.equal((await auditEventsFor(store.db, { kind: 'vault.module_inhibited' })).length >= 1, true);

      const serial = restarted.status().modules[0]?.serial ?? '';
      await restarted.reanchorModule(serial, officer);
      await restarted.resumeService();
      const resumed = await restarted.execute(meterId, [
        { operation: { type: 'fund', amount: mills(1_000) } },
      ]);
      assert.equal(resumed.view.descendingRegister, 1_000, 'registers continue from the restored database');
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
      await pool.close();
    });

    it('rotates the master key, re-seals every package, and retires the old version', async () => {
      // A database of its own: every package in it belongs to this installation's keys.
      const own = await openMigratedStore(fixture);
      const { pool, officer } = await openPool(2);
      const custody = createCustodyService({ db: own.store.db, pool });
      const meters = ['042N51000010', '042N51000011', '042N51000012'];
      for (const meterId of meters) {
        await custody.createMeterPackage({
          meterId,
          maxDescendingRegister: mills(500_000),
          licensingZip: null,
        });
        await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(2_000) } }]);
      }
      await assert.rejects(
        custody.rotateMasterKey('not the officer'),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.authentication_failed',
      );
      const report = await custody.rotateMasterKey(officer, { retireOlderVersions: true });
      assert.equal(report.version, 2);
      assert.equal(report.minimumKeyVersion, 2);
      const rows = await own.store.db
        .selectFrom('psd_packages')
        .select(['meter_id', 'key_version'])
        .execute();
      assert.equal(rows.length, 3);
      assert.ok(rows.every((row) => row.key_version === 2));
      for (const meterId of meters) {
        const result = await custody.execute(meterId, [
          { operation: { type: 'debit', amount: mills(100) }, sign: () => Buffer.from('after rotation') },
        ]);
        assert.equal(result.keyVersion, 2);
        assert.equal(result.view.descendingRegister, 1_900);
      }
      assert.ok(custody.status().modules.every((module) => module.keys.minimumMasterKeyVersion === 2));
      assert.equal((await auditEventsFor(own.store.db, { kind: 'vault.master_key_rotated' })).length, 1);
      await pool.close();
      await own.dispose();
    });

    it('keeps registers exact under concurrent commands across modules (AR + DR = funded − refunded)', async () => {
      const { pool } = await openPool(2);
      const custody = createCustodyService({ db: store.db, pool });
      const meters = ['042N51000020', '042N51000021'];
      for (const meterId of meters) {
        await custody.createMeterPackage({
          meterId,
          maxDescendingRegister: mills(1_000_000),
          licensingZip: null,
        });
        await custody.execute(meterId, [{ operation: { type: 'fund', amount: mills(100_000) } }]);
      }
      await Promise.all(
        Array.from({ length: 40 }, (_, index) =>
          custody.execute(meters[index % 2] ?? '', [
            index % 5 === 0
              ? { operation: { type: 'refund', amount: mills(100) } }
              : { operation: { type: 'debit', amount: mills(250) }, sign: () => Buffer.from(String(index)) },
          ]),
        ),
      );
      for (const meterId of meters) {
        const view = await custody.readMeter(meterId);
        assert.equal(view.ascendingRegister + view.descendingRegister, 100_000 - view.refundRegister);
        assert.equal(view.ascendingRegister, 16 * 250);
        assert.equal(view.refundRegister, 4 * 100);
        assert.equal(view.sequence, 21);
      }
      assert.equal((await verifyAuditChain(store.db)).isIntact, true);
      await pool.close();
    });
  });
}
