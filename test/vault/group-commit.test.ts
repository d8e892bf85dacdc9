import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import {
  type CryptoModule,
  type GroupResult,
  MAX_GROUP_COMMANDS,
  VaultError,
  openCheckpoint,
  unsealPackage,
  verifySignature,
} from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { SimulatedDatabase, createMeter, readyModule } from '../support/crypto-modules.ts';

const mills = (value: number): Mills => value as Mills;
const debit = (amount: number) => ({
  operation: { type: 'debit' as const, amount: mills(amount) },
  sign: (after: { meterId: string; ascendingRegister: Mills }) =>
    Buffer.from(`${after.meterId}|${after.ascendingRegister}`),
});

for (const fixture of backendFixtures) {
  describe(`group commit in a module (${fixture.kind})`, () => {
    let installation: BackendInstallation;
    let module: CryptoModule;
    const first = new SimulatedDatabase();
    const second = new SimulatedDatabase();
    before(async () => {
      installation = await fixture.install();
      module = await readyModule(installation, 1);
      await createMeter(module, first, '042N52000001');
      // Both meters' packages come from the same module, so the shared checkpoint is the latest.
      second.moduleCheckpoint = first.moduleCheckpoint;
      await createMeter(module, second, '042N52000002');
      first.moduleCheckpoint = second.moduleCheckpoint;
    });
    after(async () => {
      await module.close();
      await installation.dispose();
    });

    it('chains commands on one meter, refuses one without stopping the rest, and seals one record for all', async () => {
      const group: GroupResult = await module.executeGroup({
        databaseCheckpoint: second.moduleCheckpoint,
        packages: [
          {
            sealedPackage: first.sealedPackage,
            expected: { meterId: '042N52000001', sequence: first.sequence },
          },
          {
            sealedPackage: second.sealedPackage,
            expected: { meterId: '042N52000002', sequence: second.sequence },
          },
        ],
        commands: [
          {
            kind: 'execute',
            meterId: '042N52000001',
            steps: [{ operation: { type: 'fund', amount: mills(10_000) } }],
          },
          { kind: 'execute', meterId: '042N52000001', steps: [debit(730)] },
          // Nothing funded on the second meter yet: refused, and the others go on.
          { kind: 'execute', meterId: '042N52000002', steps: [debit(730)] },
          { kind: 'execute', meterId: '042N52000001', steps: [debit(1_000), debit(270)] },
        ],
      });
      assert.deepEqual(
        group.outcomes.map((outcome) => outcome.ok),
        [true, true, false, true],
      );
      const refused = group.outcomes[2];
      assert.ok(refused !== undefined && !refused.ok);
      assert.ok(refused.error instanceof VaultError && refused.error.code === 'psd.insufficient_funds');
      assert.ok(group.committed !== null);
      const { record, packages, checkpoint } = group.committed;
      assert.deepEqual(
        record.transactions.map((entry) => [entry.type, entry.packageSequence, entry.ascendingRegisterMills]),
        [
          ['fund', 1, 0],
          ['debit', 2, 730],
          ['debit', 3, 2_000],
        ],
      );
      assert.deepEqual(record.totals, { fundedMills: 10_000, printedMills: 2_000, refundedMills: 0 });
      assert.deepEqual(await openCheckpoint(await installation.newBackend(1), checkpoint), record);
      // Only the changed meter gets a new package, sealed once, from the sequence it started at.
      assert.equal(packages.length, 1);
      assert.deepEqual(
        {
          meterId: packages[0]?.meterId,
          fromSequence: packages[0]?.fromSequence,
          sequence: packages[0]?.sequence,
        },
        { meterId: '042N52000001', fromSequence: 0, sequence: 3 },
      );
      // Each signature covers the registers after its own debit and verifies with the meter's key.
      const signed = group.outcomes.flatMap((outcome) => (outcome.ok ? outcome.outcome.signatures : []));
      assert.deepEqual(
        signed.map((entry) => entry.data.toString()),
        ['042N52000001|730', '042N52000001|1730', '042N52000001|2000'],
      );
      const publicKey = Buffer.from(
        group.outcomes[0]?.ok === true ? group.outcomes[0].outcome.view.signingKey.publicKey : '',
        'base64',
      );
      for (const entry of signed)
        assert.ok(verifySignature('ecdsa-p256', publicKey, entry.data, entry.signature));
      const stored = packages[0];
      assert.ok(stored !== undefined);
      const backend = await installation.newBackend(3);
      const { state } = await unsealPackage(
        backend,
        stored.sealedPackage,
        { meterId: '042N52000001', sequence: 3 },
        1,
      );
      assert.equal(state.ascendingRegister, 2_000);
      assert.equal(state.descendingRegister, 8_000);
      await backend.close();
      first.moduleCheckpoint = checkpoint;
      second.moduleCheckpoint = checkpoint;
      first.sealedPackage = stored.sealedPackage;
      first.sequence = 3;
    });

    it('commits nothing when every command is refused, and auto-recovery discards a whole group', async () => {
      const refusedOnly = await module.executeGroup({
        databaseCheckpoint: first.moduleCheckpoint,
        packages: [
          {
            sealedPackage: second.sealedPackage,
            expected: { meterId: '042N52000002', sequence: second.sequence },
          },
        ],
        commands: [{ kind: 'execute', meterId: '042N52000002', steps: [debit(1)] }],
      });
      assert.equal(refusedOnly.committed, null);

      // A group the database never committed: the next command finds the older checkpoint.
      const lost = await module.executeGroup({
        databaseCheckpoint: first.moduleCheckpoint,
        packages: [
          {
            sealedPackage: first.sealedPackage,
            expected: { meterId: '042N52000001', sequence: first.sequence },
          },
        ],
        commands: [
          { kind: 'execute', meterId: '042N52000001', steps: [debit(100)] },
          { kind: 'execute', meterId: '042N52000001', steps: [debit(200)] },
        ],
      });
      assert.equal(lost.committed?.record.transactions.length, 2);
      const next = await module.execute({
        databaseCheckpoint: first.moduleCheckpoint,
        sealedPackage: first.sealedPackage,
        expected: { meterId: '042N52000001', sequence: first.sequence },
        steps: [debit(50)],
      });
      assert.deepEqual(
        next.recovered?.discarded.map((entry) => [entry.amountMills, entry.packageSequence]),
        [
          [100, 4],
          [200, 5],
        ],
      );
      assert.equal(next.view.ascendingRegister, 2_050);
    });

    it(`refuses an empty group and one above ${MAX_GROUP_COMMANDS} commands`, async () => {
      for (const count of [0, MAX_GROUP_COMMANDS + 1]) {
        await assert.rejects(
          module.executeGroup({
            databaseCheckpoint: null,
            packages: [],
            commands: Array.from({ length: count }, () => ({
              kind: 'execute' as const,
              meterId: '042N52000001',
              steps: [debit(1)],
            })),
          }),
          (error: unknown) => error instanceof VaultError && error.code === 'vault.wrong_state',
        );
      }
    });
  });
}
