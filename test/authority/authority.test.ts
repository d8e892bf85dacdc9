import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import {
  AuthorityError,
  type AuthorityService,
  createAuthorityService,
  meterSubject,
  moduleSigningCrypto,
} from '../../src/authority/index.ts';
import { type CustodyService, createCustodyService } from '../../src/custody/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { Store } from '../../src/store/index.ts';
import { type ModulePool, openCryptoModules } from '../../src/vault/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';
import { runCommand } from '../support/system-packages.ts';

/** A certificate request for a meter, signed by the meter's own key inside its crypto module. */
async function meterRequest(custody: CustodyService, meterId: string, publicKey: Buffer): Promise<string> {
  const signing = moduleSigningCrypto('ecdsa-p256', publicKey, async (data) => {
    const result = await custody.execute(meterId, [{ operation: { type: 'update' }, sign: () => data }]);
    return result.signatures[0]?.signature ?? Buffer.alloc(0);
  });
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: `CN=${meterId},O=Indicia meters`,
      keys: { privateKey: signing.privateKey, publicKey: signing.publicKey } as never,
      signingAlgorithm: signing.signingAlgorithm,
    },
    signing.crypto,
  );
  return request.toString('pem');
}

function opensslVerify(caPem: string, pem: string): { status: number; output: string } {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-certs-'));
  writeFileSync(join(folder, 'ca.pem'), caPem);
  writeFileSync(join(folder, 'certificate.pem'), pem);
  return runCommand('openssl', [
    'verify',
    '-CAfile',
    join(folder, 'ca.pem'),
    join(folder, 'certificate.pem'),
  ]);
}

for (const fixture of dialectFixtures) {
  describe(`authority on ${fixture.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    let pool: ModulePool;
    let custody: CustodyService;
    let authority: AuthorityService;
    before(async () => {
      ({ store, dispose } = await openMigratedStore(fixture));
      ({ pool } = await openCryptoModules(
        {
          backend: 'software',
          vaultDir: mkdtempSync(join(tmpdir(), 'indicia-authority-')),
          kek: randomBytes(32),
        },
        { modules: 2, ringSize: 3, inhibitThreshold: 1 },
      ));
      custody = createCustodyService({ db: store.db, pool });
      authority = createAuthorityService({ db: store.db, custody });
    });
    after(async () => {
      await pool.close();
      await dispose();
    });

    it('creates one CA whose key lives in a crypto module, with a self-signed certificate openssl accepts', async () => {
      const ca = await authority.ensureCertificateAuthority();
      assert.equal((await authority.ensureCertificateAuthority()).serial, ca.serial, 'created once');
      assert.match(ca.serial, /^[0-7][0-9a-f]{15}$/);
      const verified = opensslVerify(ca.pem, ca.pem);
      assert.equal(verified.status, 0, verified.output);
      const certificate = new x509.X509Certificate(ca.pem);
      assert.equal(certificate.getExtension(x509.BasicConstraintsExtension)?.ca, true);
      assert.doesNotMatch(
        JSON.stringify(await store.db.selectFrom('certificates').selectAll().execute()),
        /PRIVATE KEY/,
      );
    });

    it('issues a meter certificate from a request the meter key signed inside its module; openssl verifies the chain', async () => {
      const meterId = '042N53000001';
      const created = await custody.createMeterPackage({
        meterId,
        maxDescendingRegister: 500_000 as Mills,
        licensingZip: '10001',
      });
      const publicKey = Buffer.from(created.view.signingKey.publicKey, 'base64');
      const issued = await authority.issueMeterCertificate({
        meterId,
        certificationRequest: await meterRequest(custody, meterId, publicKey),
        validityDays: 365,
      });
      const ca = await authority.caCertificate();
      const verified = opensslVerify(ca.pem, issued.pem);
      assert.equal(verified.status, 0, verified.output);
      assert.match(verified.output, /OK/);
      const certificate = new x509.X509Certificate(issued.pem);
      assert.deepEqual(Buffer.from(certificate.publicKey.rawData), publicKey);
      assert.equal(certificate.subject, meterSubject(meterId));
      assert.equal(certificate.getExtension(x509.BasicConstraintsExtension)?.ca, false);
      assert.deepEqual(await authority.verifyMeterCertificate(issued.pem), { isValid: true, reason: null });
      assert.deepEqual(
        (await authority.certificatesOf(meterId)).map((entry) => entry.serial),
        [issued.serial],
      );
      assert.equal((await authority.certificate(issued.serial.toUpperCase())).meterId, meterId);

      await authority.revoke(issued.serial);
      assert.match((await authority.verifyMeterCertificate(issued.pem)).reason ?? '', /revoked/);
      await assert.rejects(authority.revoke(issued.serial), AuthorityError);
    });

    it('refuses requests that do not prove the key or name another meter, and certificates it did not sign', async () => {
      const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const cryptoKeys = {
        privateKey: await webcrypto.subtle.importKey(
          'pkcs8',
          keys.privateKey.export({ format: 'der', type: 'pkcs8' }),
          { name: 'ECDSA', namedCurve: 'P-256' },
          false,
          ['sign'],
        ),
        publicKey: await webcrypto.subtle.importKey(
          'spki',
          keys.publicKey.export({ format: 'der', type: 'spki' }),
          { name: 'ECDSA', namedCurve: 'P-256' },
          true,
          ['verify'],
        ),
      };
      const otherMeter = await x509.Pkcs10CertificateRequestGenerator.create(
        {
          name: 'CN=042N59999999,O=Indicia meters',
          keys: cryptoKeys as never,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        },
        webcrypto,
      );
      await assert.rejects(
        authority.issueMeterCertificate({
          meterId: '042N53000002',
          certificationRequest: otherMeter.toString('pem'),
          validityDays: 30,
        }),
        (error: unknown) =>
          error instanceof AuthorityError &&
          error.code === 'authority.request_invalid' &&
          /names/.test(error.message),
      );
      const tampered = Buffer.from(otherMeter.rawData);
      tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0xff;
      await assert.rejects(
        authority.issueMeterCertificate({
          meterId: '042N59999999',
          certificationRequest: tampered,
          validityDays: 30,
        }),
        (error: unknown) => error instanceof AuthorityError && error.code === 'authority.request_invalid',
      );
      await assert.rejects(
        authority.issueMeterCertificate({
          meterId: 'x',
          certificationRequest: 'not a request',
          validityDays: 30,
        }),
        AuthorityError,
      );

      const selfSigned = await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: '01',
          name: 'CN=042N53000001,O=Indicia meters',
          keys: cryptoKeys as never,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        },
        webcrypto,
      );
      assert.match(
        (await authority.verifyMeterCertificate(selfSigned.toString('pem'))).reason ?? '',
        /not signed by the Indicia certificate authority/,
      );
    });
  });
}
