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
    database.commit(await fund(module, database, meterId, 1_000));
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
      it(`auto-recovers from a database rolled back by ${rollback} transaction(s), naming what it discards`, async () => {
        const meterId = `042N5000200${rollback}`;
        const { module, database } = await moduleWithHistory(installation, 10 + rollback, meterId, 5);
        const ringBefore = module.status().checkpointRingLength;
        assert.equal(ringBefore, 3);
        const lost = database.history.slice(-rollback).map((entry) => entry.sequence);
        database.rollBack(rollback);
        let signs = 0;
        const result = await printOne(module, database, meterId, () => (signs += 1));
        assert.equal(signs, 1);
        assert.ok(result.recovered);
        assert.deepEqual(
          result.recovered.discarded.map((record) => record.packageSequence).sort(),
          [...lost].sort(),
        );
        assert.ok(
          result.recovered.discarded.every((record) => record.type === 'fund' && record.meterId === meterId),
        );
        // Registers continue from the restored database state, not from the discarded records.
        assert.equal(result.view.descendingRegister, (5 - rollback) * 1_000 - 500);
        database.commit(result);
        const next = await fund(module, database, meterId, 1_000);
        assert.equal(next.recovered, null);
        await module.close();
      });
    }

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
      database.commit(await fund(module, database, meterId, 1));
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
      database.rollBack(1);
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
      database.commit(await fund(restarted, database, meterId, 1_000));
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

    it('keeps up to five records when configured to', async () => {
      const module = await readyModule(installation, 20, { ringSize: 5 });
      const database = new SimulatedDatabase();
      await createMeter(module, database, '042N50002040');
      for (let index = 0; index < 6; index += 1)
        database.commit(await fund(module, database, '042N50002040', 10));
      assert.equal(module.status().checkpointRingLength, 5);
      database.rollBack(4);
      const result = await fund(module, database, '042N50002040', 10);
      assert.equal(result.recovered?.discarded.length, 4);
      await module.close();
      const backend = await installation.newBackend(21);
      assert.throws(() => new CryptoModule(backend, { ringSize: 6 }), VaultError);
      assert.throws(() => new CryptoModule(backend, { ringSize: 2 }), VaultError);
    });
  });
}
