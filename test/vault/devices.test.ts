import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import {
  type ClientAuthorization,
  type CommandStep,
  type CryptoModule,
  type DeviceChange,
  MAX_DEVICES,
  type PsdState,
  type PsdView,
  VaultError,
  sealPackage,
  signedText,
  unsealPackage,
} from '../../src/vault/index.ts';
import type { BackendInstallation } from '../support/crypto-backends.ts';
import { backendFixtures } from '../support/crypto-fixtures.ts';
import { SimulatedDatabase, createMeter, readyModule } from '../support/crypto-modules.ts';

const DAY_MS = 86_400_000;
const mills = (value: number): Mills => value as Mills;

/** A device as a client holds it: raw HMK (a test may MAC with it directly), its chain. */
interface TestDevice {
  id: string;
  hmk: Buffer;
  challenge: string;
  registers: [number, number];
}

const challenge = (): string => randomBytes(32).toString('base64');

for (const fixture of backendFixtures) {
  describe(`several devices in one package (${fixture.kind})`, () => {
    let installation: BackendInstallation;
    let module: CryptoModule;
    // The module's clock, moved forward to reach a device key's end.
    let clock = Date.now();
    let meterSerial = 0;

    /** One command through the module's group pass, committed on success; throws the refusal. */
    const run = async (
      database: SimulatedDatabase,
      meterId: string,
      steps: CommandStep[],
      authorization?: ClientAuthorization,
    ): Promise<PsdView> => {
      const group = await module.executeGroup({
        databaseCheckpoint: database.moduleCheckpoint,
        packages: [
          { sealedPackage: database.sealedPackage, expected: { meterId, sequence: database.sequence } },
        ],
        commands: [{ kind: 'execute', meterId, steps, authorization }],
      });
      const outcome = group.outcomes[0];
      assert.ok(outcome !== undefined);
      if (!outcome.ok) throw outcome.error;
      const committed = group.committed;
      const sealed = committed?.packages[0];
      assert.ok(committed !== null && sealed !== undefined);
      database.moduleCheckpoint = committed.checkpoint;
      database.sealedPackage = sealed.sealedPackage;
      database.sequence = sealed.sequence;
      await module.confirmCommitted(committed.record.counter);
      return outcome.outcome.view;
    };

    const update = (device: DeviceChange): CommandStep => ({ operation: { type: 'update', device } });

    const enroll = async (database: SimulatedDatabase, meterId: string, days = 365): Promise<TestDevice> => {
      const device = { id: `dev_${randomUUID()}`, hmk: randomBytes(32), challenge: challenge() };
      const view = await run(database, meterId, [
        update({
          kind: 'enroll',
          id: device.id,
          name: `station ${device.id.slice(4, 8)}`,
          hmk: device.hmk.toString('base64'),
          challenge: device.challenge,
          expiresAt: new Date(clock + days * DAY_MS).toISOString(),
        }),
      ]);
      return { ...device, registers: [view.ascendingRegister, view.descendingRegister] };
    };

    /** What the API builds from a device's headers; `naming` overrides the device it claims to be. */
    const signedBy = (
      device: TestDevice,
      request: string,
      options: { naming?: string | null } = {},
    ): ClientAuthorization => {
      const unsigned = {
        deviceId: options.naming === undefined ? device.id : options.naming,
        challenge: device.challenge,
        ascendingRegister: device.registers[0],
        descendingRegister: device.registers[1],
        request,
      };
      return {
        ...unsigned,
        mac: createHmac('sha256', device.hmk).update(signedText(unsigned)).digest(),
        nextChallenge: challenge(),
      };
    };

    /** A signed debit: on success the device takes the next challenge and the registers after. */
    const print = async (
      database: SimulatedDatabase,
      meterId: string,
      device: TestDevice,
      amount: number,
      options: { naming?: string | null } = {},
    ): Promise<PsdView> => {
      const authorization = signedBy(device, `POST\n/v1/indicia\n${amount}`, options);
      const view = await run(
        database,
        meterId,
        [{ operation: { type: 'debit', amount: mills(amount) } }],
        authorization,
      );
      device.challenge = authorization.nextChallenge;
      device.registers = [view.ascendingRegister, view.descendingRegister];
      return view;
    };

    const refusal = async (work: Promise<unknown>): Promise<string> => {
      try {
        await work;
      } catch (error) {
        assert.ok(error instanceof VaultError, String(error));
        return error.code;
      }
      assert.fail('expected a refusal');
    };

    const fundedMeter = async (): Promise<{ database: SimulatedDatabase; meterId: string }> => {
      const database = new SimulatedDatabase();
      // Every meter comes from the same module, so its checkpoint is the one the last command left.
      database.moduleCheckpoint = shared.moduleCheckpoint;
      meterSerial += 1;
      const meterId = `042N5300${String(meterSerial).padStart(4, '0')}`;
      await createMeter(module, database, meterId);
      await run(database, meterId, [{ operation: { type: 'fund', amount: mills(100_000) } }]);
      return { database, meterId };
    };
    const shared = { moduleCheckpoint: null as Buffer | null };
    const keep = (database: SimulatedDatabase): void => {
      shared.moduleCheckpoint = database.moduleCheckpoint;
    };

    before(async () => {
      installation = await fixture.install();
      module = await readyModule(installation, 1, { now: () => new Date(clock) });
    });
    after(async () => {
      await module.close();
      await installation.dispose();
    });

    it("checks and advances only the signing device's chain, so devices interleave", async () => {
      const { database, meterId } = await fundedMeter();
      const devices = [
        await enroll(database, meterId),
        await enroll(database, meterId),
        await enroll(database, meterId),
      ];
      // Each signs with the registers reported to it, which other devices' requests have moved on.
      for (let round = 0; round < 3; round += 1)
        for (const device of devices) await print(database, meterId, device, 100);
      const view = await print(database, meterId, devices[0] as TestDevice, 100);
      assert.deepEqual([view.ascendingRegister, view.descendingRegister], [1_000, 99_000]);
      assert.deepEqual(
        view.devices.map((entry) => entry.challenge),
        devices.map((device) => device.challenge),
      );
      assert.ok(
        view.devices.every((entry) => !('hmk' in entry)),
        'no key in the view',
      );
      keep(database);
    });

    it('refuses a request signed by device A that names device B, and changes nothing', async () => {
      const { database, meterId } = await fundedMeter();
      const a = await enroll(database, meterId);
      const b = await enroll(database, meterId);
      const sequence = database.sequence;
      assert.equal(
        await refusal(print(database, meterId, a, 100, { naming: b.id })),
        'psd.client_unauthenticated',
      );
      // Naming itself but with B's challenge and registers is A's own stale chain.
      assert.equal(
        await refusal(print(database, meterId, { ...a, challenge: b.challenge }, 100)),
        'psd.stale_challenge',
      );
      assert.equal(
        await refusal(print(database, meterId, { ...a, registers: [1, 2] }, 100)),
        'psd.register_mismatch',
      );
      assert.equal(
        await refusal(print(database, meterId, a, 100, { naming: `dev_${randomUUID()}` })),
        'psd.unknown_device',
      );
      assert.equal(database.sequence, sequence);
      await print(database, meterId, a, 100);
      await print(database, meterId, b, 100);
      keep(database);
    });

    it('refuses a revoked device and keeps its record, without its key', async () => {
      const { database, meterId } = await fundedMeter();
      const a = await enroll(database, meterId);
      const b = await enroll(database, meterId);
      const view = await run(database, meterId, [update({ kind: 'revoke', id: a.id })]);
      const revoked = view.devices.find((entry) => entry.id === a.id);
      assert.ok(revoked?.revokedAt !== null && revoked?.challenge === null);
      assert.equal(await refusal(print(database, meterId, a, 100)), 'psd.device_revoked');
      await print(database, meterId, b, 100);
      const sealed = await unsealPackage(
        await installation.newBackend(1),
        database.sealedPackage,
        { meterId, sequence: database.sequence },
        0,
      );
      assert.equal(sealed.state.devices.find((entry) => entry.id === a.id)?.hmk, null);
      keep(database);
    });

    it(`holds at most ${MAX_DEVICES} devices that are not revoked`, async () => {
      const { database, meterId } = await fundedMeter();
      const devices: TestDevice[] = [];
      for (let index = 0; index < MAX_DEVICES; index += 1) devices.push(await enroll(database, meterId));
      assert.equal(await refusal(enroll(database, meterId)), 'psd.device_limit');
      await run(database, meterId, [update({ kind: 'revoke', id: (devices[0] as TestDevice).id })]);
      await print(database, meterId, await enroll(database, meterId), 100);
      keep(database);
    });

    it('refuses an expired device key, and accepts a key renewed before the end', async () => {
      const { database, meterId } = await fundedMeter();
      const ending = await enroll(database, meterId, 30);
      const renewing = await enroll(database, meterId, 30);
      clock += 20 * DAY_MS;
      // The renewal is signed with the current key; the module seals the new one with a new end.
      const fresh = randomBytes(32);
      const renewal = signedBy(renewing, 'POST\n/v1/devices/renewal');
      const renewed = await run(
        database,
        meterId,
        [
          update({
            kind: 'renew',
            id: renewing.id,
            hmk: fresh.toString('base64'),
            expiresAt: new Date(clock + 365 * DAY_MS).toISOString(),
          }),
        ],
        renewal,
      );
      const oldKey = renewing.hmk;
      Object.assign(renewing, {
        hmk: fresh,
        challenge: renewal.nextChallenge,
        registers: [renewed.ascendingRegister, renewed.descendingRegister],
      });
      assert.equal(
        renewed.devices.find((entry) => entry.id === renewing.id)?.expiresAt,
        new Date(clock + 365 * DAY_MS).toISOString(),
      );
      clock += 20 * DAY_MS;
      assert.equal(await refusal(print(database, meterId, ending, 100)), 'psd.device_expired');
      assert.equal(
        await refusal(print(database, meterId, { ...renewing, hmk: oldKey }, 100)),
        'psd.client_unauthenticated',
      );
      await print(database, meterId, renewing, 100);
      // An expired key cannot renew itself.
      const late = signedBy(ending, 'POST\n/v1/devices/renewal');
      const lateRenewal = update({
        kind: 'renew',
        id: ending.id,
        hmk: fresh.toString('base64'),
        expiresAt: new Date(clock + DAY_MS).toISOString(),
      });
      assert.equal(await refusal(run(database, meterId, [lateRenewal], late)), 'psd.device_expired');
      keep(database);
    });

    it("renews a device's key only in a request that device signs", async () => {
      const { database, meterId } = await fundedMeter();
      const a = await enroll(database, meterId);
      const b = await enroll(database, meterId);
      const step = update({
        kind: 'renew',
        id: b.id,
        hmk: randomBytes(32).toString('base64'),
        expiresAt: new Date(clock + DAY_MS).toISOString(),
      });
      assert.equal(await refusal(run(database, meterId, [step])), 'psd.client_unauthenticated');
      assert.equal(
        await refusal(run(database, meterId, [step], signedBy(a, 'renew'))),
        'psd.client_unauthenticated',
      );
      await print(database, meterId, b, 100);
      keep(database);
    });

    it('reads a package sealed with one hmk as a one-device list, and writes the new shape on its next change', async () => {
      const { database, meterId } = await fundedMeter();
      // The package as an earlier version sealed it: one HMK and one challenge, no device list.
      const backend = await installation.newBackend(1);
      const expected = { meterId, sequence: database.sequence };
      const opened = await unsealPackage(backend, database.sealedPackage, expected, 0);
      const legacy: TestDevice = {
        id: `dev_${randomUUID()}`,
        hmk: randomBytes(32),
        challenge: challenge(),
        registers: [0, 100_000],
      };
      const { devices: _devices, ...rest } = opened.state;
      const oldShape = { ...rest, hmk: legacy.hmk.toString('base64'), lastChallenge: legacy.challenge };
      database.sealedPackage = await sealPackage(backend, oldShape as unknown as PsdState, opened.keyVersion);
      const read = await module.readPackage(database.sealedPackage, expected);
      assert.deepEqual(
        read.devices.map((entry) => [
          entry.id,
          entry.challenge,
          entry.ascendingRegister,
          entry.descendingRegister,
        ]),
        [[null, legacy.challenge, 0, 100_000]],
      );
      assert.equal(read.hasHmk, true);

      // A v1 request (no device named) works while the package holds one device.
      const v1 = await print(database, meterId, legacy, 100, { naming: null });
      assert.equal(v1.devices[0]?.id, null);
      // The first v2 request gives the device the id it signs with; the package is now the new shape.
      await print(database, meterId, legacy, 100);
      const migrated = await unsealPackage(
        backend,
        database.sealedPackage,
        { meterId, sequence: database.sequence },
        0,
      );
      // A one-device package has no place for an id: this one was sealed in the new shape.
      assert.equal(migrated.state.devices.length, 1);
      assert.equal(migrated.state.devices[0]?.id, legacy.id);

      // With a second device a v1 request is ambiguous, and refused.
      const second = await enroll(database, meterId);
      assert.equal(
        await refusal(print(database, meterId, legacy, 100, { naming: null })),
        'psd.device_required',
      );
      await print(database, meterId, legacy, 100);
      await print(database, meterId, second, 100);
      keep(database);
    });
  });
}
