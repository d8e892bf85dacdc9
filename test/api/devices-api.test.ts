import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Device, IndiciaClient } from '../../src/client/index.ts';
import type { Mills } from '../../src/money/index.ts';
import {
  type PsdState,
  SoftwareBackend,
  SoftwareKeystore,
  defaultKekPath,
  readKeyEncryptionKey,
  sealPackage,
  unsealPackage,
} from '../../src/vault/index.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' };
const STATIONS = 5;
const DAY_MS = 86_400_000;

for (const fixture of dialectFixtures) {
  describe(`several devices per meter on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    let fingerprint: string;

    /** A verified dedicated customer; more clients signed in as them with `station`. */
    const customer = async (email: string): Promise<IndiciaClient> => {
      const client = new IndiciaClient({ baseUrl: url });
      await client.register(registration(email));
      const mail = await smtp.waitFor(email, /token=/);
      await client.verifyEmail(/token=([A-Za-z0-9_-]{43})/.exec(mail.text ?? '')?.[1] ?? '');
      await client.signIn(email, PASSWORD);
      return client;
    };
    const station = async (email: string, name: string): Promise<IndiciaClient> => {
      const client = new IndiciaClient({ baseUrl: url });
      await client.signIn(email, PASSWORD);
      await client.enrollDevice(name, fingerprint);
      return client;
    };
    const deviceOf = (client: IndiciaClient): Device => {
      assert.ok(client.device !== undefined);
      return client.device;
    };

    before(async () => {
      smtp = await startSmtpSink();
      server = await startTestServer(fixture, { INDICIA_SMTP_URL: smtp.url });
      url = server.indicia.url;
      fingerprint = server.indicia.enrollmentKeyFingerprint;
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await smtp.close();
      }
    });

    it('lets five devices of one meter print at once, each on its own challenge chain', async () => {
      const email = 'shop@example.com';
      await customer(email);
      const stations: IndiciaClient[] = [];
      for (let index = 1; index <= STATIONS; index += 1)
        stations.push(await station(email, `packing station ${index}`));
      const [first] = stations;
      assert.ok(first !== undefined);
      await first.addFunds(100_000, CARD);

      const groupsBefore = server.indicia.custody.groupCommits();
      const rounds = 4;
      const sequences: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const printed = await Promise.all(
          stations.map((client) => client.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }])),
        );
        for (const answer of printed) sequences.push(answer.receipt.body.sequence);
      }
      const groupsAfter = server.indicia.custody.groupCommits();
      // Requests of several devices met in one module pass: they were in flight together.
      assert.equal(groupsAfter.commands - groupsBefore.commands, rounds * STATIONS);
      assert.ok(
        groupsAfter.groups - groupsBefore.groups < rounds * STATIONS,
        'some group held several devices',
      );
      // One receipt per request, one package version each, none skipped or shared.
      sequences.sort((a, b) => a - b);
      const start = sequences[0] ?? 0;
      assert.deepEqual(
        sequences,
        sequences.map((_, index) => start + index),
      );
      const meter = await first.meter();
      assert.ok(meter.mode === 'dedicated');
      const printedMills = rounds * STATIONS * 500;
      assert.deepEqual(
        [meter.ascendingRegisterMills, meter.descendingRegisterMills],
        [printedMills, 100_000 - printedMills],
      );
      // With several devices, the meter shows no one challenge; each device has its own.
      assert.equal(meter.challenge, null);
      const listed = await first.devices();
      assert.equal(listed.length, STATIONS);
      for (const client of stations) {
        const device = deviceOf(client);
        const record = listed.find((entry) => entry.id === device.id);
        assert.ok(record !== undefined && record.status === 'active');
        assert.equal(record.challenge, device.challenge);
        assert.deepEqual(record.registers, {
          ascendingRegisterMills: device.ascendingRegister,
          descendingRegisterMills: device.descendingRegister,
        });
        assert.ok(Date.parse(record.expiresAt) > Date.now() + 364 * DAY_MS);
      }
      assert.deepEqual(
        listed.map((entry) => entry.name),
        stations.map((_, index) => `packing station ${index + 1}`),
      );
      const report = await server.indicia.reconciliation.runOnce();
      assert.equal(report.isBalanced, true);
    });

    it('refuses a revoked device with a clear error while the others print on', async () => {
      const email = 'revoke@example.com';
      await customer(email);
      const keep = await station(email, 'front desk');
      const lose = await station(email, 'lost laptop');
      await keep.addFunds(10_000, CARD);
      const lost = deviceOf(lose);
      const revoked = await keep.revokeDevice(lost.id);
      assert.equal(revoked.status, 'revoked');
      assert.ok(revoked.revokedAt !== null && revoked.challenge === null);
      const refused = await refusal(lose.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]));
      assert.equal(refused.status, 401);
      assert.equal(refused.code, 'psd.device_revoked');
      await keep.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      // Revoking again changes nothing; a device of another meter, or none, is not found.
      assert.deepEqual(await keep.revokeDevice(lost.id), revoked);
      const unknown = await refusal(keep.revokeDevice('dev_00000000-0000-0000-0000-000000000000'));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.code, 'meter.device_not_found');
      const stranger = await customer('stranger@example.com');
      assert.equal((await refusal(stranger.revokeDevice(deviceOf(keep).id))).code, 'meter.device_not_found');
      assert.equal((await refusal(stranger.deviceRecord(deviceOf(keep).id))).status, 404);
      const listed = await keep.devices();
      assert.deepEqual(
        listed.map((entry) => [entry.name, entry.status]),
        [
          ['front desk', 'active'],
          ['lost laptop', 'revoked'],
        ],
      );
      const meter = await keep.meter();
      assert.ok(meter.mode === 'dedicated');
      assert.equal(meter.challenge, deviceOf(keep).challenge, 'one live device: its challenge');
    });

    it('refuses a request signed by device A that names device B, moving nothing', async () => {
      const email = 'impostor@example.com';
      await customer(email);
      const a = await station(email, 'A');
      const b = await station(email, 'B');
      await a.addFunds(10_000, CARD);
      await b.syncDevice();
      const body = { pieces: [{ postageMills: 500, rateCategory: 'FC' }] };
      const headers = await deviceOf(a).headers('POST', '/v1/indicia', body);
      // B's chain in A's signature: still A's MAC, which B's key does not verify.
      const forged = {
        ...headers,
        'indicia-device': deviceOf(b).id,
        'indicia-challenge': deviceOf(b).challenge,
        'indicia-registers': `${deviceOf(b).ascendingRegister},${deviceOf(b).descendingRegister}`,
      };
      const refused = await refusal(a.request('POST', '/v1/indicia', body, forged));
      assert.equal(refused.status, 401);
      assert.equal(refused.code, 'psd.client_unauthenticated');
      const malformed = await refusal(
        a.request('POST', '/v1/indicia', body, { ...headers, 'indicia-device': 'B' }),
      );
      assert.equal(malformed.code, 'request.unsigned');
      const meter = await a.meter();
      assert.ok(meter.mode === 'dedicated' && meter.ascendingRegisterMills === 0);
      // Both chains are intact.
      await a.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      await b.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
    });

    it('renews a device key with a request signed by the old key, by hand and before the end on its own', async () => {
      const email = 'renew@example.com';
      await customer(email);
      const client = new IndiciaClient({ baseUrl: url });
      await client.signIn(email, PASSWORD);
      const stored = await client.enrollStoredDevice('till', fingerprint);
      await client.addFunds(10_000, CARD);
      const before = await client.deviceRecord(stored.id);

      const renewed = await client.renewDevice();
      assert.equal(renewed.id, stored.id);
      assert.ok(Date.parse(renewed.expiresAt) >= Date.parse(before.expiresAt));
      assert.ok(renewed.keyIssuedAt !== null && renewed.keyIssuedAt >= (before.keyIssuedAt ?? ''));
      // The old key no longer signs, even on the current chain.
      const old = await Device.restore(stored);
      old.advance(deviceOf(client).challenge, {
        ascendingRegisterMills: deviceOf(client).ascendingRegister,
        descendingRegisterMills: deviceOf(client).descendingRegister,
      });
      const body = { pieces: [{ postageMills: 500, rateCategory: 'FC' }] };
      const refused = await refusal(
        client.request('POST', '/v1/indicia', body, await old.headers('POST', '/v1/indicia', body)),
      );
      assert.equal(refused.code, 'psd.client_unauthenticated');
      await client.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      // The stored form carries the new key: a restored copy signs.
      const restored = await Device.restore(deviceOf(client).stored() ?? stored);
      const again = new IndiciaClient({ baseUrl: url });
      await again.signIn(email, PASSWORD);
      again.useDevice(restored);
      await again.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);

      // A key within the SDK's window (30 days by default) is renewed before the next signed request.
      const device = deviceOf(again);
      const renewals = (await again.deviceRecord(device.id)).keyIssuedAt;
      device.learn({ expiresAt: new Date(Date.now() + 2 * DAY_MS).toISOString(), keyIssuedAt: null });
      await again.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      const after = await again.deviceRecord(device.id);
      assert.notEqual(after.keyIssuedAt, renewals);
      assert.ok(Date.parse(after.expiresAt) > Date.now() + 364 * DAY_MS);
      assert.equal(device.expiresAt, after.expiresAt);
      // A renewal must be signed by the device it renews.
      const unsigned = await refusal(
        again.request('POST', `/v1/devices/${device.id}/renewal`, {
          ephemeralPublicKey: Buffer.alloc(91, 1).toString('base64'),
          clientChallenge: Buffer.alloc(32, 2).toString('base64'),
          iv: Buffer.alloc(12, 3).toString('base64'),
          encryptedHmk: Buffer.alloc(48, 4).toString('base64'),
        }),
      );
      assert.equal(unsigned.code, 'request.unsigned');
    });

    it('keeps a package of the one-device shape working, and migrates it on its next change', async () => {
      const email = 'legacy@example.com';
      const owner = await customer(email);
      const old = await station(email, 'old PC');
      await old.addFunds(10_000, CARD);
      const meter = await owner.meter();
      assert.ok(meter.mode === 'dedicated');
      const meterId = meter.meterId;

      // Seal the package as an earlier version did: one hmk and lastChallenge, no device list.
      const { config } = server.indicia;
      const backend = new SoftwareBackend(
        new SoftwareKeystore(
          join(config.dataDir, 'vault'),
          readKeyEncryptionKey(defaultKekPath(config.dataDir)),
        ),
        1,
      );
      const { db } = server.indicia.store;
      const row = await db
        .selectFrom('psd_packages')
        .selectAll()
        .where('meter_id', '=', meterId)
        .executeTakeFirstOrThrow();
      const expected = { meterId, sequence: row.sequence };
      const opened = await unsealPackage(backend, Buffer.from(row.sealed, 'base64'), expected, 0);
      const [only] = opened.state.devices;
      assert.ok(only !== undefined);
      const { devices: _devices, ...rest } = opened.state;
      const oldShape = { ...rest, hmk: only.hmk, lastChallenge: only.lastChallenge };
      const sealed = await sealPackage(backend, oldShape as unknown as PsdState, opened.keyVersion);
      await db
        .updateTable('psd_packages')
        .set({ sealed: sealed.toString('base64') })
        .where('meter_id', '=', meterId)
        .execute();

      // Read as one device, named and dated from its record; it signs on as before.
      const listed = await owner.devices();
      assert.deepEqual(
        listed.map((entry) => [entry.id, entry.name, entry.status, entry.keyIssuedAt]),
        [[deviceOf(old).id, 'old PC', 'active', null]],
      );
      await old.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      const migrated = await db
        .selectFrom('psd_packages')
        .selectAll()
        .where('meter_id', '=', meterId)
        .executeTakeFirstOrThrow();
      const reopened = await unsealPackage(
        backend,
        Buffer.from(migrated.sealed, 'base64'),
        { meterId, sequence: migrated.sequence },
        0,
      );
      // A one-device package has no place for an id: this one was sealed in the new shape.
      assert.equal(reopened.state.devices[0]?.id, deviceOf(old).id);

      // A second device joins it; both print; the old one can be revoked.
      const added = await station(email, 'new PC');
      await Promise.all([
        old.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]),
        added.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]),
      ]);
      await owner.revokeDevice(deviceOf(old).id);
      assert.equal(
        (await refusal(old.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]))).code,
        'psd.device_revoked',
      );
      const after = await owner.meter();
      assert.ok(after.mode === 'dedicated');
      assert.deepEqual([after.ascendingRegisterMills, after.descendingRegisterMills], [
        1_500, 8_500,
      ] as Mills[]);
      await backend.close();
    });
  });
}
