import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaError } from '../../src/errors/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { verifySignature } from '../../src/vault/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';
import * as x509 from '@peculiar/x509';

const ISSUERS = 64;
const ATTEMPTS_PER_ISSUER = 8;
const METERS = 4;
const FUNDING = 40_000;

for (const fixture of dialectFixtures) {
  describe(`64 concurrent issuers on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    before(async () => {
      installation = await openMeterInstallation(fixture, 3);
    });
    after(() => installation.dispose());

    it('never spends a mill twice: registers equal the committed indicia, and demand beyond funds is refused', async () => {
      const { meters, store, custody } = installation;
      const meterIds: string[] = [];
      for (let index = 0; index < METERS; index += 1) {
        const meter = await meters.create({
          customerNumber: 7000 + index,
          licensingZip: '30301',
          maxDescendingRegister: FUNDING as Mills,
        });
        await meters.fund(meter.meterId, FUNDING, 'test');
        meterIds.push(meter.meterId);
      }
      let refused = 0;
      let issuedCount = 0;
      // Demand (64 × 8 × ~1,000 mills) is about three times the funds (4 × 40,000 mills).
      await Promise.all(
        Array.from({ length: ISSUERS }, async (_, issuer) => {
          for (let attempt = 0; attempt < ATTEMPTS_PER_ISSUER; attempt += 1) {
            const meterId = meterIds[(issuer + attempt) % METERS] ?? '';
            try {
              const issued = await meters.issue(meterId, [
                { postage: (500 + ((issuer * 37 + attempt * 11) % 1000)) as Mills, rateCategory: 'FC' },
              ]);
              issuedCount += issued.length;
            } catch (error) {
              assert.ok(
                error instanceof IndiciaError && error.code === 'psd.insufficient_funds',
                String(error),
              );
              refused += 1;
            }
          }
        }),
      );
      assert.equal(issuedCount + refused, ISSUERS * ATTEMPTS_PER_ISSUER);
      assert.ok(refused > 0, 'demand beyond funds must be refused');
      for (const meterId of meterIds) {
        const rows = await store.db
          .selectFrom('indicia')
          .select(['data', 'postage_mills', 'ascending_register_mills'])
          .where('meter_id', '=', meterId)
          .execute();
        const ascending = rows.map((row) => row.ascending_register_mills).sort((a, b) => a - b);
        assert.equal(new Set(ascending).size, rows.length, 'every indicium of a meter has its own AR value');
        const psd = (await meters.show(meterId)).psd;
        assert.equal(
          psd.ascendingRegister,
          rows.reduce((total, row) => total + row.postage_mills, 0),
        );
        assert.equal(psd.ascendingRegister + psd.descendingRegister, FUNDING);
        assert.equal(ascending.at(-1) ?? 0, psd.ascendingRegister);
        const certificate = new x509.X509Certificate(
          (await installation.authority.certificatesOf(meterId))[0]?.pem ?? '',
        );
        for (const row of rows) {
          const decoded = decodeIndicium(Buffer.from(row.data, 'base64'));
          assert.ok(
            verifySignature(
              'ecdsa-p256',
              Buffer.from(certificate.publicKey.rawData),
              decoded.signedData,
              decoded.signature,
            ),
          );
        }
      }
      assert.equal(
        (
          await store.db
            .selectFrom('indicia')
            .select((eb) => eb.fn.countAll<number | string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n.toString(),
        String(issuedCount),
      );
      assert.equal((await reconcileMeters({ db: store.db, custody })).isBalanced, true);
    });
  });
}
