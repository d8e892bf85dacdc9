import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import { type CryptoModule, ModulePool, VaultError } from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { readyModule } from '../support/crypto-modules.ts';

for (const fixture of backendFixtures) {
  describe(`module pool on ${fixture.kind}`, () => {
    let installation: BackendInstallation;
    let modules: CryptoModule[];
    before(async () => {
      installation = await fixture.install();
      modules = [
        await readyModule(installation, 1),
        await readyModule(installation, 2),
        await readyModule(installation, 3),
      ];
    });
    after(async () => {
      await Promise.all(modules.map((module) => module.close()));
      await installation.dispose();
    });

    it('lets any module serve any meter, one command per module at a time, and reports each module', async () => {
      const pool = new ModulePool(modules, { inhibitThreshold: 2 });
      // Per-module database checkpoints and one meter's package, as the database would hold them.
      const checkpoints = new Map<string, Buffer | null>();
      const created = await pool.withModule((module) =>
        module.createPackage({
          databaseCheckpoint: null,
          meterId: '042N50003000',
          maxDescendingRegister: 1_000_000 as Mills,
          licensingZip: null,
        }),
      );
      checkpoints.set(created.record.moduleSerial, created.checkpoint);
      let sealedPackage = created.sealedPackage;
      let sequence = 0;
      const servedBy = new Set<string>();
      let concurrent = 0;
      const inUse = new Set<string>();
      // Commands run concurrently, but those on one meter must follow its sequence: chain them.
      let chain: Promise<unknown> = Promise.resolve();
      for (let index = 0; index < 12; index += 1) {
        chain = chain.then(() =>
          pool.withModule(async (module) => {
            assert.ok(!inUse.has(module.serial), 'a module serves one command at a time');
            inUse.add(module.serial);
            concurrent += 1;
            const result = await module.execute({
              databaseCheckpoint: checkpoints.get(module.serial) ?? null,
              sealedPackage,
              expected: { meterId: '042N50003000', sequence },
              steps: [{ operation: { type: 'fund', amount: 100 as Mills } }],
            });
            checkpoints.set(module.serial, result.checkpoint);
            sealedPackage = result.sealedPackage;
            sequence = result.transaction.packageSequence;
            servedBy.add(module.serial);
            inUse.delete(module.serial);
            concurrent -= 1;
          }),
        );
      }
      await chain;
      assert.equal(concurrent, 0);
      assert.equal(servedBy.size, 3, 'round-robin reaches every module');
      const status = pool.status();
      assert.equal(status.modules.length, 3);
      for (const moduleStatus of status.modules) {
        assert.equal(moduleStatus.backend, fixture.kind);
        assert.ok(moduleStatus.totalOperations >= 4);
        assert.ok(moduleStatus.operationsPerSecond > 0);
        assert.ok(moduleStatus.uptimeSeconds >= 0);
        assert.equal(moduleStatus.load, 0);
      }
      assert.equal(status.stopped, null);
    });

    it('serves many commands concurrently across modules, never two on one module', async () => {
      const pool = new ModulePool(modules, { inhibitThreshold: 2 });
      const busy = new Set<string>();
      let peak = 0;
      await Promise.all(
        Array.from({ length: 30 }, () =>
          pool.withModule(async (module) => {
            assert.ok(!busy.has(module.serial));
            busy.add(module.serial);
            peak = Math.max(peak, busy.size);
            await module.randomBytes(16);
            await new Promise((resolve) => setTimeout(resolve, 2));
            busy.delete(module.serial);
          }),
        ),
      );
      assert.equal(peak, 3);
    });

    it('stops the whole service when the threshold of inhibited modules is reached, until an operator acts', async () => {
      const local = [await readyModule(installation, 7), await readyModule(installation, 8)];
      const pool = new ModulePool(local, { inhibitThreshold: 1 });
      const inhibitOne = pool.withModule((module) =>
        module.execute({
          databaseCheckpoint: Buffer.from('not a checkpoint this module wrote'),
          sealedPackage: Buffer.alloc(80),
          expected: { meterId: 'x', sequence: 0 },
          steps: [{ operation: { type: 'suspend' } }],
        }),
      );
      await assert.rejects(
        inhibitOne,
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      const status = pool.status();
      assert.equal(status.inhibitedModules, 1);
      // A module that remembers nothing is its own fault: the threshold decides.
      assert.match(status.stopped?.reason ?? '', /1 module\(s\) of the installation inhibited/);
      await assert.rejects(
        pool.withModule((module) => module.randomBytes(4)),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.service_stopped',
      );
      assert.throws(() => pool.resume(), VaultError);
      const inhibited = local.find((module) => module.isInhibited);
      assert.ok(inhibited);
      inhibited.logout();
      await inhibited.login('crypto-officer', installation.officerCredential);
      await inhibited.reanchor(null);
      inhibited.logout();
      await inhibited.login('crypto-user');
      pool.resume();
      assert.equal((await pool.withModule((module) => module.randomBytes(4))).length, 4);
      await Promise.all(local.map((module) => module.close()));
    });
  });
}
