import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Mills } from '../../src/money/index.ts';
import { type CryptoModule, VaultError } from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { SimulatedDatabase, createMeter, readyModule } from '../support/crypto-modules.ts';

const PACKAGE_FLIPS = 5_000;
const CHECKPOINT_FLIPS = 5_000;

function flipBit(bytes: Buffer, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return copy;
}

/** `count` distinct bit positions spread over the whole buffer (all of them when the buffer is small). */
function bitPositions(bytes: Buffer, count: number): number[] {
  const total = bytes.length * 8;
  if (total <= count) return Array.from({ length: total }, (_, index) => index);
  return (
    fc.sample(
      fc.uniqueArray(fc.integer({ min: 0, max: total - 1 }), { minLength: count, maxLength: count }),
      1,
    )[0] ?? []
  );
}

for (const fixture of backendFixtures) {
  describe(`tampering on ${fixture.kind}`, () => {
    let installation: BackendInstallation;
    let module: CryptoModule;
    const database = new SimulatedDatabase();
    const meterId = '042N50001000';
    before(async () => {
      installation = await fixture.install();
      module = await readyModule(installation);
      await createMeter(module, database, meterId);
      await database.commit(
        await module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: database.sealedPackage,
          expected: { meterId, sequence: database.sequence },
          steps: [{ operation: { type: 'fund', amount: 250_000 as Mills } }],
        }),
      );
    });
    after(async () => {
      await module.close();
      await installation.dispose();
    });

    it(`rejects ${PACKAGE_FLIPS + CHECKPOINT_FLIPS} random single-bit flips of sealed packages and checkpoint records`, async () => {
      const expected = { meterId, sequence: database.sequence };
      const packageBits = bitPositions(database.sealedPackage, PACKAGE_FLIPS);
      const checkpointBits = bitPositions(database.moduleCheckpoint ?? Buffer.alloc(0), CHECKPOINT_FLIPS);
      let rejected = 0;
      // Small records have fewer bits than asked for; repeat positions to reach the count.
      for (let index = 0; index < PACKAGE_FLIPS; index += 1) {
        const bit = packageBits[index % packageBits.length] ?? 0;
        await assert.rejects(
          module.readPackage(flipBit(database.sealedPackage, bit), expected),
          VaultError,
          `package bit ${bit}`,
        );
        rejected += 1;
      }
      for (let index = 0; index < CHECKPOINT_FLIPS; index += 1) {
        const bit = checkpointBits[index % checkpointBits.length] ?? 0;
        await assert.rejects(
          module.verifyCheckpoint(flipBit(database.moduleCheckpoint ?? Buffer.alloc(0), bit)),
          VaultError,
          `checkpoint bit ${bit}`,
        );
        rejected += 1;
      }
      assert.equal(rejected, PACKAGE_FLIPS + CHECKPOINT_FLIPS);
      // The untouched originals still open.
      assert.equal((await module.readPackage(database.sealedPackage, expected)).descendingRegister, 250_000);
    });

    it('rejects a package presented for another meter, and one whose clear header names another meter', async () => {
      await assert.rejects(
        module.readPackage(database.sealedPackage, { meterId: '042N59999999', sequence: database.sequence }),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_meter_mismatch',
      );
      // Rewriting the meter id in the header (same length) breaks the authentication tag.
      const forged = Buffer.from(
        database.sealedPackage.toString('latin1').replace(meterId, '042N59999999'),
        'latin1',
      );
      await assert.rejects(
        module.readPackage(forged, { meterId: '042N59999999', sequence: database.sequence }),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_invalid',
      );
    });

    it('rejects a replayed package with an older sequence number, without moving any register', async () => {
      const older = database.history[0];
      assert.ok(older);
      const ringBefore = module.status().checkpointRingLength;
      const operationsBefore = module.status().totalOperations;
      await assert.rejects(
        module.execute({
          databaseCheckpoint: database.moduleCheckpoint,
          sealedPackage: older.sealedPackage,
          expected: { meterId, sequence: database.sequence },
          steps: [{ operation: { type: 'debit', amount: 100 as Mills }, sign: () => Buffer.from('never') }],
        }),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_stale',
      );
      assert.equal(module.status().totalOperations, operationsBefore);
      assert.equal(module.status().checkpointRingLength, ringBefore);
    });

    it('inhibits when handed a database checkpoint with a flipped bit, and signs nothing', async () => {
      const probe = await readyModule(installation, 2);
      const own = new SimulatedDatabase();
      await createMeter(probe, own, '042N50001001');
      let signCalls = 0;
      await assert.rejects(
        probe.execute({
          databaseCheckpoint: flipBit(own.moduleCheckpoint ?? Buffer.alloc(0), 100),
          sealedPackage: own.sealedPackage,
          expected: { meterId: '042N50001001', sequence: own.sequence },
          steps: [{ operation: { type: 'suspend' }, sign: () => Buffer.from(String((signCalls += 1))) }],
        }),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.module_inhibited',
      );
      assert.equal(signCalls, 0);
      assert.ok(probe.status().inhibited);
      await probe.close();
    });
  });
}
