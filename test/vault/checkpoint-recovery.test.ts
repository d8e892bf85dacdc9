import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import { type CommandResult, CryptoModule, VaultError } from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { SimulatedDatabase, createMeter, readyModule } from '../support/crypto-modules.ts';

/** A module with one meter after `count` fundings of 1,000 mills, each committed. */
async function moduleWithHistory(
  installation: BackendInstallation,
  moduleNumber: number,
  meterId: string,
  count: number,
): Promise<{ module: CryptoModule; database: SimulatedDatabase }> {
  const module = await readyModule(installation, moduleNumber);
  const database = new SimulatedDatabase();
  await createMeter(module, database, meterId);
  for (let index = 0; index < count; index += 1)
    await database.commit(await fund(module, database, meterId, 1_000), module);
  return { module, database };
}

function fund(
  module: CryptoModule,
  database: SimulatedDatabase,
  meterId: string,
  amount: number,
): Promise<CommandResult> {
  return module.execute({
    databaseCheckpoint: database.moduleCheckpoint,
    sealedPackage: database.sealedPackage,
    expected: { meterId, sequence: database.sequence },
    steps: [{ operation: { type: 'fund', amount: amount as Mills } }],
  });
}

function printOne(
  module: CryptoModule,
  database: SimulatedDatabase,
  meterId: string,
  onSign: () => void,
): Promise<CommandResult> {
  return module.execute({
    databaseCheckpoint: database.moduleCheckpoint,
    sealedPackage: database.sealedPackage,
    expected: { meterId, sequence: database.sequence },
    steps: [
      {
        operation: { type: 'debit', amount: 500 as Mills },
        sign: (after) => {
          onSign();
          return Buffer.from(`indicium ${after.ascendingRegister}`);
        },
      },
    ],
  });
}

for (const fixture of backendFixtures) {
  describe(`checkpoints and auto-recovery on ${fixture.kind}`, () => {
    let installation: BackendInstallation;
    before(async () => {
      installation = await fixture.install();
    });
    after(() => installation.dispose());

    for (const rollback of [1, 2]) {
      it(`inhibits when the database lost ${rollback} committed transaction(s), naming them, and signs nothing`, async () => {
        const meterId = `042N5000200${rollback}`;
        const { module, database } = await moduleWithHistory(installation, 10 + rollback, meterId, 5);
        assert.equal(module.status().checkpointRingLength, 3);
        const lost = database.history.slice(-rollback).map((entry) => entry.sequence);
        database.rollBack(rollback);
        let signs = 0;
        await assert.rejects(
          printOne(module, database, meterId, () => (signs += 1)),
          (error: unknown) => {
            assert.ok(error instanceof VaultError && error.code === 'vault.module_inhibited');
            assert.match(error.message, new RegExp(`lost ${rollback} committed transaction`));
            for (const sequence of lost) assert.match(error.message, new RegExp(`package ${sequence},`));
            assert.match(error.message, new RegExp(`meter ${meterId}: fund of 1000 mills`));
            const details = error.details as { lost: { packageSequence: number }[] };
            assert.deepEqual(details.lost.map((entry) => entry.packageSequence).sort(), [...lost].sort());
            return true;
          },
        );
        assert.equal(signs, 0);
        assert.ok(module.status().inhibited);
        await module.close();
      });
    }

    it('shows the mismatch before any command: assess inhibits at start', async () => {
      const meterId = '042N50002003';
      const { module, database } = await moduleWithHistory(installation, 13, meterId, 3);
      database.rollBack(1);
      await module.close();
      const restarted = await readyModule(installation, 13);
      assert.equal(restarted.status().inhibited, null);
      const decision = restarted.assess(database.moduleCheckpoint);
      assert.equal(decision.kind, 'inhibit');
      assert.match(restarted.status().inhibited?.reason ?? '', /lost 1 committed transaction/);
      await restarted.close();
    });

    it('recovers a record the database committed but never confirmed, after a restore to before it', async () => {
      // The server died after the commit and before the confirmation: nothing of it was released.
      const meterId = '042N50002005';
      const { module, database } = await moduleWithHistory(installation, 22, meterId, 3);
      await database.commit(await fund(module, database, meterId, 1_000));
      database.rollBack(1);
      const retried = await fund(module, database, meterId, 500);
      assert.equal(retried.recovered?.discarded.length, 1);
      assert.equal(retried.view.descendingRegister, 3_500);
      await module.close();
    });

    it('proceeds when the database holds a record whose confirmation was lost in a crash', async () => {
      const meterId = '042N50002006';
      const { module, database } = await moduleWithHistory(installation, 23, meterId, 2);
      await database.commit(await fund(module, database, meterId, 1_000)); // no confirmation
      await module.close();
      const restarted = await readyModule(installation, 23);
      assert.equal(restarted.assess(database.moduleCheckpoint).kind, 'proceed');
      const next = await fund(restarted, database, meterId, 1_000);
      assert.equal(next.recovered, null);
      await database.commit(next, restarted);
      // The unconfirmed record is confirmed now that a later one followed it: losing it inhibits.
      database.rollBack(2);
      await assert.rejects(
        fund(restarted, database, meterId, 1),
        (error: unknown) => error instanceof VaultError && /lost 2 committed/.test(error.message),
      );
      await restarted.close();
    });

    it('inhibits itself when the database is rolled back by four transactions, and signs nothing', async () => {
      const meterId = '042N50002004';
      const { module, database } = await moduleWithHistory(installation, 14, meterId, 5);
      database.rollBack(4);
      let signs = 0;
      await assert.rejects(
        printOne(module, database, meterId, () => (signs += 1)),
        (error: unknown) => {
          assert.ok(error instanceof VaultError && error.code === 'vault.module_inhibited');
          assert.match(error.message, /matches none of the module's last 3/);
          assert.match(error.message, /3 committed transaction\(s\) may already be out/);
          return true;
        },
      );
      assert.equal(signs, 0);
      assert.ok(module.status().inhibited);
      // It stays inhibited, even for the database's newest state, until an officer re-anchors it.
      await assert.rejects(
        fund(module, database, meterId, 1),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      module.logout();
      await module.login('crypto-officer', installation.officerCredential);
      await module.reanchor(database.moduleCheckpoint);
      module.logout();
      await module.login('crypto-user');
      assert.equal(module.status().inhibited, null);
      await database.commit(await fund(module, database, meterId, 1), module);
      await module.close();
    });

    it('refuses a package put back to an earlier version while its ring remembers a newer one', async () => {
      const meterId = '042N50002007';
      const { module, database } = await moduleWithHistory(installation, 24, meterId, 3);
      const older = database.history.at(-2);
      assert.ok(older);
      let signs = 0;
      await assert.rejects(
        module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: older.sealedPackage,
          expected: { meterId, sequence: older.sequence },
          steps: [
            {
              operation: { type: 'debit', amount: 500 as Mills },
              sign: () => {
                signs += 1;
                return Buffer.from('x');
              },
            },
          ],
        }),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_replayed',
      );
      assert.equal(signs, 0);
      assert.equal(module.status().inhibited, null);
      await module.close();
    });

    it('recovers an uncommitted command: the module moved, the database commit never happened', async () => {
      const meterId = '042N50002010';
      const { module, database } = await moduleWithHistory(installation, 15, meterId, 1);
      await fund(module, database, meterId, 1_000); // not committed: the server crashed before its commit
      const retried = await fund(module, database, meterId, 1_000);
      assert.equal(retried.recovered?.discarded.length, 1);
      assert.equal(retried.view.descendingRegister, 2_000);
      await module.close();
    });

    it('reports a recovery even when the command that found it then fails', async () => {
      const meterId = '042N50002011';
      const { module, database } = await moduleWithHistory(installation, 16, meterId, 2);
      await fund(module, database, meterId, 1_000); // not committed
      await assert.rejects(
        module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: database.sealedPackage,
          expected: { meterId, sequence: database.sequence },
          steps: [{ operation: { type: 'debit', amount: 1_000_000 as Mills } }],
        }),
        (error: unknown) => error instanceof VaultError && error.code === 'psd.insufficient_funds',
      );
      assert.equal(module.takeUnreportedRecoveries().length, 1);
      assert.equal(module.takeUnreportedRecoveries().length, 0);
      await module.close();
    });

    it('re-anchors from its own store after a restart, never from the database alone', async () => {
      const meterId = '042N50002020';
      const { module, database } = await moduleWithHistory(installation, 17, meterId, 2);
      await module.close();
      const restarted = await readyModule(installation, 17);
      assert.equal(restarted.status().checkpointRingLength, 3);
      await database.commit(await fund(restarted, database, meterId, 1_000), restarted);
      await restarted.close();

      // A different module (its own, empty memory) shown this module's database checkpoint inhibits.
      const stranger = await readyModule(installation, 18);
      await assert.rejects(
        fund(stranger, database, meterId, 1),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      await stranger.close();
    });

    it('inhibits when its own checkpoint memory was tampered with', async () => {
      const meterId = '042N50002030';
      const { module, database } = await moduleWithHistory(installation, 19, meterId, 1);
      await module.close();
      const backend = await installation.newBackend(19);
      const stored = await backend.readRing();
      assert.ok(stored);
      stored[10] = (stored[10] ?? 0) ^ 0x01;
      await backend.writeRing(stored);
      await backend.close();
      const restarted = await readyModule(installation, 19);
      assert.match(restarted.status().inhibited?.reason ?? '', /checkpoint memory is damaged/);
      await assert.rejects(
        fund(restarted, database, meterId, 1),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      await restarted.close();
    });

    it('keeps up to five records when configured to, and names all it lost', async () => {
      const module = await readyModule(installation, 20, { ringSize: 5 });
      const database = new SimulatedDatabase();
      await createMeter(module, database, '042N50002040');
      for (let index = 0; index < 6; index += 1)
        await database.commit(await fund(module, database, '042N50002040', 10), module);
      assert.equal(module.status().checkpointRingLength, 5);
      database.rollBack(4);
      await assert.rejects(
        fund(module, database, '042N50002040', 10),
        (error: unknown) =>
          error instanceof VaultError && /4 record\(s\) behind.*lost 4 committed/.test(error.message),
      );
      await module.close();
      const backend = await installation.newBackend(21);
      assert.throws(() => new CryptoModule(backend, { ringSize: 6 }), VaultError);
      assert.throws(() => new CryptoModule(backend, { ringSize: 2 }), VaultError);
    });
  });
}
