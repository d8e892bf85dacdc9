// A meter moves between the modules of different servers (docs/architecture.md, "Several servers"):
// its package is in the database, sealed under the keys every module shares; each module's
// checkpoint row is its own. A module that died between its step and the commit recovers when
// its server comes back, though other modules moved the meter on meanwhile; a package put back
// is still refused by the module that made a newer one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import { type CommandResult, type CryptoModule, VaultError } from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { readyModule } from '../support/crypto-modules.ts';

/** The database as custody keeps it: one package per meter, one checkpoint row per module serial. */
class FarmDatabase {
  sealedPackage: Buffer = Buffer.alloc(0);
  sequence = 0;
  readonly checkpoints = new Map<string, Buffer>();
  readonly packages: { sealedPackage: Buffer; sequence: number }[] = [];

  async commit(module: CryptoModule, result: CommandResult): Promise<void> {
    this.checkpoints.set(module.serial, result.checkpoint);
    this.sealedPackage = result.sealedPackage;
    this.sequence = result.transaction.packageSequence;
    this.packages.push({ sealedPackage: this.sealedPackage, sequence: this.sequence });
    await module.confirmCommitted(result.record.counter);
  }

  debit(module: CryptoModule, meterId: string, amount: number): Promise<CommandResult> {
    return module.execute({
      databaseCheckpoint: this.checkpoints.get(module.serial) ?? null,
      sealedPackage: this.sealedPackage,
      expected: { meterId, sequence: this.sequence },
      steps: [
        {
          operation: { type: 'debit', amount: amount as Mills },
          sign: (registers) => Buffer.from(`indicium ${registers.ascendingRegister}`),
        },
      ],
    });
  }
}

for (const fixture of backendFixtures) {
  describe(`a meter moving between servers' modules on ${fixture.kind}`, () => {
    let installation: BackendInstallation;
    before(async () => {
      installation = await fixture.install();
    });
    after(() => installation.dispose());

    it('serves it on a live module after its module died mid-command, and recovers that one on its restart', async () => {
      const meterId = '042N50009001';
      const database = new FarmDatabase();
      // Module 41 is server A's, module 42 server B's: one installation, one set of keys.
      const moduleA = await readyModule(installation, 41);
      const moduleB = await readyModule(installation, 42);
      const created = await moduleA.createPackage({
        databaseCheckpoint: null,
        meterId,
        maxDescendingRegister: 500_000 as Mills,
        licensingZip: '94107',
        algorithm: 'ecdsa-p256',
      });
      await database.commit(moduleA, created);
      await database.commit(
        moduleA,
        await moduleA.execute({
          databaseCheckpoint: database.checkpoints.get(moduleA.serial) ?? null,
          sealedPackage: database.sealedPackage,
          expected: { meterId, sequence: database.sequence },
          steps: [{ operation: { type: 'fund', amount: 100_000 as Mills } }],
        }),
      );
      await database.commit(moduleA, await database.debit(moduleA, meterId, 500));
      // Server A dies after its module's step, before its commit: nothing of it was released.
      await database.debit(moduleA, meterId, 700);
      await moduleA.close();

      // The meter moves to B's module, from the package the database holds.
      for (const amount of [300, 400]) {
        const result = await database.debit(moduleB, meterId, amount);
        assert.equal(result.recovered, null);
        await database.commit(moduleB, result);
      }
      // A's data directory starts again: its ring is one record ahead of its own row, and the meter is newer.
      const restartedA = await readyModule(installation, 41);
      assert.equal(restartedA.serial, moduleA.serial);
      assert.equal(restartedA.assess(database.checkpoints.get(restartedA.serial) ?? null).kind, 'recover');
      const onA = await database.debit(restartedA, meterId, 200);
      assert.equal(onA.recovered?.discarded.length, 1, 'the uncommitted command is discarded');
      await database.commit(restartedA, onA);
      assert.equal(onA.view.ascendingRegister, 500 + 300 + 400 + 200, 'the uncommitted debit never counted');
      assert.equal(onA.view.descendingRegister, 100_000 - 1_400);
      const onB = await database.debit(moduleB, meterId, 100);
      assert.equal(onB.recovered, null);
      await database.commit(moduleB, onB);
      assert.equal(restartedA.status().inhibited, null);
      assert.equal(moduleB.status().inhibited, null);

      // A package put back by hand is refused by the module that made a newer version.
      const putBack = database.packages.at(-3);
      assert.ok(putBack !== undefined);
      database.sealedPackage = putBack.sealedPackage;
      database.sequence = putBack.sequence;
      await assert.rejects(
        database.debit(restartedA, meterId, 100),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_replayed',
      );
      await restartedA.close();
      await moduleB.close();
    });
  });
}
