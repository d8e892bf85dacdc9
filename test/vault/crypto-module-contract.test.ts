import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import { CryptoModule, STANDARD_VECTORS, readPackageHeader, verifySignature } from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { refusedWith } from '../support/refusals.ts';
import { SimulatedDatabase, createMeter, readyModule } from '../support/crypto-modules.ts';

const mills = (value: number): Mills => value as Mills;

for (const fixture of backendFixtures) {
  describe(`crypto module contract on ${fixture.kind}`, () => {
    let installation: BackendInstallation;
    before(async () => {
      installation = await fixture.install();
    });
    after(() => installation.dispose());

    it('passes its power-up tests and walks the state machine: uninitialized → key entry → idle ⇄ roles', async () => {
      const module = new CryptoModule(await installation.newBackend(9));
      const status = await module.start();
      assert.ok(status.lastSelfTest?.results.every((result) => result.passed));
      assert.deepEqual(
        status.lastSelfTest?.results.map((result) => result.test),
        ['code-integrity', 'sha256', 'hmac-sha256', 'aes-256-gcm', 'pairwise-ecdsa-p256'],
      );
      assert.equal(status.backend, fixture.kind);
      if (status.state === 'uninitialized') {
        await assert.rejects(module.login('crypto-user'), refusedWith('vault.wrong_state'));
        await module.login('crypto-officer', installation.officerCredential);
        assert.equal(module.state, 'key-entry');
        await module.initializeKeys();
        assert.equal(module.state, 'crypto-officer');
        module.logout();
      }
      assert.equal(module.state, 'idle');
      assert.equal(module.status().keys.currentMasterKeyVersion, 1);
      await assert.rejects(
        module.login('crypto-officer', 'wrong-credential'),
        refusedWith('vault.authentication_failed'),
      );
      assert.equal(module.state, 'idle');
      await module.login('crypto-user');
      assert.equal(module.state, 'user');
      module.logout();
      assert.equal(module.state, 'idle');
      await module.close();
    });

    it('enforces roles: transactions need crypto-user, key management needs crypto-officer', async () => {
      const module = await readyModule(installation);
      await assert.rejects(module.rotateMasterKey(), refusedWith('vault.role_required'));
      await assert.rejects(module.zeroize(), refusedWith('vault.role_required'));
      module.logout();
      await assert.rejects(module.randomBytes(16), refusedWith('vault.role_required'));
      await module.login('crypto-officer', installation.officerCredential);
      await assert.rejects(
        module.createPackage({
          databaseCheckpoint: null,
          meterId: 'x',
          maxDescendingRegister: mills(1),
          licensingZip: null,
        }),
        refusedWith('vault.role_required'),
      );
      module.logout();
      await module.close();
    });

    it('creates a meter package whose signatures verify with node:crypto (ECDSA P-256 and Ed25519)', async () => {
      for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
        const module = await readyModule(installation, algorithm === 'ecdsa-p256' ? 2 : 3);
        const database = new SimulatedDatabase();
        if (fixture.kind === 'pkcs11' && algorithm === 'ed25519') {
          // SoftHSM2 2.6 cannot wrap Ed25519 private keys, so this backend refuses them plainly.
          const before = module.status().totalOperations;
          await assert.rejects(
            module.createPackage({
              databaseCheckpoint: null,
              meterId: '052N50000009',
              maxDescendingRegister: mills(1),
              licensingZip: null,
              algorithm,
            }),
            refusedWith('vault.algorithm_unsupported'),
          );
          assert.equal(module.status().totalOperations, before);
          await module.close();
          continue;
        }
        const created = await createMeter(
          module,
          database,
          `0${algorithm === 'ecdsa-p256' ? 4 : 5}2N5000000${fixture.kind.length}`,
          mills(500_000),
          algorithm,
        );
        assert.equal(created.view.signingKey.algorithm, algorithm);
        assert.equal(created.view.sequence, 0);
        await module
          .execute({
            databaseCheckpoint: database.moduleCheckpoint,
            sealedPackage: database.sealedPackage,
            expected: { meterId: created.view.meterId, sequence: database.sequence },
            steps: [{ operation: { type: 'fund', amount: mills(100_000) } }],
          })
          .then((result) => database.commit(result, module));
        const printed = await module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: database.sealedPackage,
          expected: { meterId: created.view.meterId, sequence: database.sequence },
          steps: [
            {
              operation: { type: 'debit', amount: mills(730) },
              sign: (after) =>
                Buffer.from(
                  `indicium|${after.meterId}|${after.ascendingRegister}|${after.descendingRegister}`,
                ),
            },
          ],
        });
        await database.commit(printed);
        assert.equal(printed.view.ascendingRegister, 730);
        assert.equal(printed.view.descendingRegister, 99_270);
        const [signed] = printed.signatures;
        assert.ok(signed);
        assert.equal(signed.data.toString(), `indicium|${created.view.meterId}|730|99270`);
        const publicKey = Buffer.from(created.view.signingKey.publicKey, 'base64');
        assert.equal(verifySignature(algorithm, publicKey, signed.data, signed.signature), true);
        if (algorithm === 'ecdsa-p256') assert.equal(signed.signature.length, 64);
        assert.equal(
          verifySignature(algorithm, publicKey, Buffer.from('something else'), signed.signature),
          false,
        );
        await module.close();
      }
    });

    it('keeps register rules inside the module: max DR, insufficient funds, withdrawn meters', async () => {
      const module = await readyModule(installation, 4);
      const database = new SimulatedDatabase();
      const { view } = await createMeter(module, database, '042N50000100', mills(10_000));
      const run = (operation: Parameters<CryptoModule['execute']>[0]['steps'][number]['operation']) =>
        module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: database.sealedPackage,
          expected: { meterId: view.meterId, sequence: database.sequence },
          steps: [{ operation }],
        });
      await assert.rejects(run({ type: 'fund', amount: mills(10_001) }), refusedWith('psd.max_dr_exceeded'));
      await database.commit(await run({ type: 'fund', amount: mills(10_000) }));
      await assert.rejects(
        run({ type: 'debit', amount: mills(10_001) }),
        refusedWith('psd.insufficient_funds'),
      );
      await assert.rejects(run({ type: 'debit', amount: mills(0) }), refusedWith('psd.invalid_amount'));
      await assert.rejects(run({ type: 'fund', amount: mills(-5) }), refusedWith('psd.invalid_amount'));
      await database.commit(await run({ type: 'debit', amount: mills(2_500) }));
      await database.commit(await run({ type: 'refund', amount: mills(500) }));
      const withdrawn = await run({ type: 'withdraw' });
      await database.commit(withdrawn);
      assert.deepEqual(
        [
          withdrawn.view.state,
          withdrawn.view.ascendingRegister,
          withdrawn.view.descendingRegister,
          withdrawn.view.refundRegister,
        ],
        ['withdrawn', 2_500, 0, 7_500],
      );
      assert.equal(withdrawn.record.totals.fundedMills, 10_000);
      assert.equal(withdrawn.record.totals.printedMills, 2_500);
      assert.equal(withdrawn.record.totals.refundedMills, 7_500);
      await assert.rejects(run({ type: 'debit', amount: mills(1) }), refusedWith('psd.not_active'));
      await assert.rejects(run({ type: 'fund', amount: mills(1) }), refusedWith('psd.not_active'));
      await module.close();
    });

    it('computes and checks control codes over (id, AR, DR)', async () => {
      const module = await readyModule(installation, 5);
      const code = await module.services.controlCode('MPSD-0001', mills(1_000), mills(999_000));
      assert.equal(code.length, 32);
      assert.equal(
        await module.services.verifyControlCode('MPSD-0001', mills(1_000), mills(999_000), code),
        true,
      );
      assert.equal(
        await module.services.verifyControlCode('MPSD-0001', mills(1_001), mills(999_000), code),
        false,
      );
      assert.equal(
        await module.services.verifyControlCode('MPSD-0002', mills(1_000), mills(999_000), code),
        false,
      );
      assert.equal((await module.randomBytes(32)).length, 32);
      assert.notDeepEqual(await module.randomBytes(32), await module.randomBytes(32));
      await module.close();
    });

    it('MACs records under a label with a key the caller never sees; other labels, bytes or modules do not verify', async () => {
      const module = await readyModule(installation, 5);
      const other = await readyModule(installation, 4);
      const bytes = Buffer.from('{"heads":[],"sequence":1}');
      const mac = await module.services.macRecord('audit-anchor', bytes);
      assert.equal(mac.length, 32);
      assert.equal(await module.services.verifyRecordMac('audit-anchor', bytes, mac), true);
      // The installation's modules share the key: any of them checks another's MAC.
      assert.equal(await other.services.verifyRecordMac('audit-anchor', bytes, mac), true);
      assert.equal(await module.services.verifyRecordMac('audit-anchor-2', bytes, mac), false);
      assert.equal(
        await module.services.verifyRecordMac('audit-anchor', Buffer.from(`${bytes.toString()} `), mac),
        false,
      );
      // Domain separation: not a control code's MAC, nor a derived secret.
      assert.notDeepEqual(mac, await module.services.deriveSecret('audit-anchor'));
      assert.throws(() => module.services.macRecord('Bad Label\n', bytes), refusedWith('vault.wrong_state'));
      module.logout();
      assert.throws(
        () => module.services.macRecord('audit-anchor', bytes),
        refusedWith('vault.role_required'),
      );
      await module.close();
      await other.close();
    });

    it('rotates the master key: new packages use it, old ones stay readable until the minimum is raised', async () => {
      const module = await readyModule(installation, 6);
      const database = new SimulatedDatabase();
      const { view } = await createMeter(module, database, '042N50000200');
      const oldPackage = database.sealedPackage;
      const versionBefore = readPackageHeader(oldPackage).keyVersion;
      module.logout();
      await module.login('crypto-officer', installation.officerCredential);
      const newVersion = await module.rotateMasterKey();
      assert.equal(newVersion, versionBefore + 1);
      const resealed = await module.resealPackage(oldPackage, { meterId: view.meterId, sequence: 0 });
      assert.equal(resealed.keyVersion, newVersion);
      assert.equal(readPackageHeader(resealed.sealedPackage).keyVersion, newVersion);
      await module.raiseMinimumKeyVersion(newVersion);
      module.logout();
      await module.login('crypto-user');
      await assert.rejects(
        module.readPackage(oldPackage, { meterId: view.meterId, sequence: 0 }),
        refusedWith('vault.key_version_retired'),
      );
      const reopened = await module.readPackage(resealed.sealedPackage, {
        meterId: view.meterId,
        sequence: 0,
      });
      assert.equal(reopened.signingKey.publicKey, view.signingKey.publicKey);
      // The re-wrapped signing key still signs for the same public key.
      const funded = await module.execute({
        databaseCheckpoint: database.moduleCheckpoint,
        sealedPackage: resealed.sealedPackage,
        expected: { meterId: view.meterId, sequence: 0 },
        steps: [
          { operation: { type: 'fund', amount: mills(1_000) } },
          { operation: { type: 'debit', amount: mills(10) }, sign: () => Buffer.from('x') },
        ],
      });
      const signature = funded.signatures[0];
      assert.ok(signature);
      assert.ok(
        verifySignature(
          'ecdsa-p256',
          Buffer.from(view.signingKey.publicKey, 'base64'),
          Buffer.from('x'),
          signature.signature,
        ),
      );
      await module.close();
    });

    it('enters the error state on a known-answer failure and produces nothing there', async () => {
      const broken = {
        ...STANDARD_VECTORS,
        hmacSha256: { ...STANDARD_VECTORS.hmacSha256, mac: '00'.repeat(32) },
      };
      const module = new CryptoModule(await installation.newBackend(7), { vectors: broken });
      const status = await module.start();
      assert.equal(status.state, 'error');
      assert.match(status.errorReason ?? '', /hmac-sha256/);
      await assert.rejects(module.login('crypto-user'), refusedWith('vault.error_state'));
      await assert.rejects(
        module.login('crypto-officer', installation.officerCredential),
        refusedWith('vault.error_state'),
      );
      await assert.rejects(module.randomBytes(8), refusedWith('vault.error_state'));
      await assert.rejects(
        module.execute({
          databaseCheckpoint: null,
          sealedPackage: Buffer.alloc(64),
          expected: { meterId: 'x', sequence: 0 },
          steps: [{ operation: { type: 'suspend' } }],
        }),
        refusedWith('vault.error_state'),
      );
      assert.equal(module.status().totalOperations, 0);
      await module.close();
    });

    it('zeroizes: keys and rings are gone, every module is zeroized, an officer re-initializes under a new serial', async () => {
      const zeroized = await fixture.install();
      try {
        const module = await readyModule(zeroized, 1);
        const other = await readyModule(zeroized, 2);
        const oldSerials = [module.serial, other.serial];
        const database = new SimulatedDatabase();
        const { view } = await createMeter(module, database, '042N50000300');
        await other.close();
        module.logout();
        await module.login('crypto-officer', zeroized.officerCredential);
        await module.zeroize();
        assert.equal(module.state, 'zeroized');
        assert.ok(module.status().zeroizedAt);
        assert.equal(module.status().keys.currentMasterKeyVersion, null);
        await assert.rejects(module.login('crypto-user'), refusedWith('vault.wrong_state'));
        await module.close();

        // The keys were every module's: each comes up zeroized, its ring gone, under its old serial.
        for (const number of [1, 2]) {
          const restarted = new CryptoModule(await zeroized.newBackend(number));
          const status = await restarted.start();
          assert.equal(status.state, 'zeroized');
          assert.equal(status.serial, oldSerials[number - 1]);
          await restarted.close();
        }
        const reinitialized = new CryptoModule(await zeroized.newBackend(1));
        await reinitialized.start();
        await reinitialized.login('crypto-officer', 'a-new-officer-credential');
        assert.equal(reinitialized.state, 'key-entry');
        await reinitialized.initializeKeys();
        assert.notEqual(reinitialized.serial, oldSerials[0], 'a new chain under a new serial');
        reinitialized.logout();
        await reinitialized.login('crypto-user');
        assert.equal(reinitialized.status().checkpointRingLength, 0);
        await assert.rejects(
          reinitialized.readPackage(database.sealedPackage, { meterId: view.meterId, sequence: 0 }),
          refusedWith('vault.package_invalid'),
        );
        await reinitialized.close();
        // Module 2 comes up on the new keys under a new serial as well.
        const second = new CryptoModule(await zeroized.newBackend(2));
        assert.equal((await second.start()).state, 'idle');
        assert.notEqual(second.serial, oldSerials[1]);
        await second.close();
      } finally {
        await zeroized.dispose();
      }
    });

    it('fails its power-up self-test when the code does not match its manifest', async () => {
      const module = new CryptoModule(await installation.newBackend(6), {
        checkCode: () => ({ test: 'code-integrity', passed: false, detail: 'vault/x.ts was changed' }),
      });
      const status = await module.start();
      assert.equal(status.state, 'error');
      assert.match(status.errorReason ?? '', /self-test failed: code-integrity \(vault\/x\.ts was changed\)/);
      await assert.rejects(module.login('crypto-user'), refusedWith('vault.error_state'));
      await module.close();
    });
  });
}
