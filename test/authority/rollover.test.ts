import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import {
  AuthorityError,
  CA_SUBJECT,
  NEXT_CA_KEY_OID,
  createAuthorityService,
  moduleSigningCrypto,
} from '../../src/authority/index.ts';
import type { CustodyService } from '../../src/custody/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'indicium-format.md'), 'utf8');

function shellBlock(name: string): string {
  const match = new RegExp('```sh ' + name + '\\n([\\s\\S]*?)```').exec(doc);
  assert.ok(match?.[1], `docs/indicium-format.md lacks the ${name} block`);
  return match[1];
}

/** Runs a documented block in a folder holding `files`; returns its status and output. */
function runDocumented(block: string, files: Record<string, string>): { status: number; output: string } {
  if (runCommand('openssl', ['version']).status !== 0)
    installDebianPackages(['openssl'], 'the documented verification needs openssl');
  const folder = mkdtempSync(join(tmpdir(), 'indicia-rollover-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  const result = spawnSync('bash', ['-e', '-c', shellBlock(block)], { cwd: folder, encoding: 'utf8' });
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

/** The SHA-256 of a package's public key (SPKI DER), hex. */
async function packageKeyHash(custody: CustodyService, packageId: string): Promise<string> {
  const spki = Buffer.from((await custody.readMeter(packageId)).signingKey.publicKey, 'base64');
  return createHash('sha256').update(spki).digest('hex');
}

/** A CA certificate signed inside a module by `signerPackage`'s key, for key `spki`. */
async function caCertificateSignedBy(
  custody: CustodyService,
  signerPackage: string,
  spki: Buffer,
  extensions: x509.Extension[],
): Promise<x509.X509Certificate> {
  const signerSpki = Buffer.from((await custody.readMeter(signerPackage)).signingKey.publicKey, 'base64');
  const signing = moduleSigningCrypto('ecdsa-p256', signerSpki, async (data) => {
    const result = await custody.execute(signerPackage, [
      { operation: { type: 'update' }, sign: () => data },
    ]);
    return result.signatures[0]?.signature ?? Buffer.alloc(0);
  });
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: createHash('sha256')
        .update(spki)
        .update(signerPackage)
        .digest('hex')
        .slice(0, 16)
        .replace(/^./, '1'),
      subject: CA_SUBJECT,
      issuer: CA_SUBJECT,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      publicKey: spki,
      signingKey: signing.privateKey as never,
      signingAlgorithm: signing.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, webcrypto),
        ...extensions,
      ],
    },
    signing.crypto,
  );
}

const caRow = (
  certificate: x509.X509Certificate,
  kind: 'ca' | 'ca-cross',
  keyPackageId: string,
  issuerSerial: string | null,
) => ({
  serial: certificate.serialNumber,
  kind,
  meter_id: null,
  subject: certificate.subject,
  pem: certificate.toString('pem'),
  not_before: certificate.notBefore.toISOString(),
  not_after: certificate.notAfter.toISOString(),
  issued_at: new Date().toISOString(),
  revoked_at: null,
  revocation_reason: null,
  revocation_note: null,
  key_package_id: keyPackageId,
  issuer_serial: issuerSerial,
});

for (const fixture of dialectFixtures) {
  describe(`CA rollover on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    before(async () => {
      installation = await openMeterInstallation(fixture);
    });
    after(() => installation.dispose());

    const newMeter = async (customerNumber: number) => {
      const { meters } = installation;
      const meter = await meters.create({
        customerNumber,
        licensingZip: '10001',
        maxDescendingRegister: mills(500_000),
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      const [piece] = await meters.issue(meter.meterId, [{ postage: mills(730), rateCategory: 'FC' }]);
      assert.ok(piece !== undefined);
      return { ...meter, piece };
    };

    it('rolls over to the key the CA committed to; meters of both generations verify on the server and with the documented openssl procedure, with revocation', async () => {
      const { authority, custody, meters, store } = installation;
      const first = await authority.ensureCertificateAuthority();
      const [generation1] = await authority.caGenerations();
      assert.equal(generation1?.certificate.serial, first.serial);
      assert.equal(generation1.nextKeyHash, await packageKeyHash(custody, 'AUTHORITY-CA-2'));
      assert.ok(new x509.X509Certificate(first.pem).getExtension(NEXT_CA_KEY_OID) !== null);

      const old = await newMeter(7001);
      const rolled = await authority.rollOver();
      assert.deepEqual([rolled.previous.generation, rolled.current.generation], [1, 2]);
      assert.equal(rolled.current.isTrusted, true);
      assert.equal(rolled.current.nextKeyHash, await packageKeyHash(custody, 'AUTHORITY-CA-3'));
      assert.equal((await authority.caCertificate()).serial, rolled.current.certificate.serial);
      const young = await newMeter(7002);
      const spare = await newMeter(7003);
      assert.equal(
        (await authority.certificate(young.certificate.serial)).issuerSerial,
        rolled.current.certificate.serial,
      );
      assert.equal((await authority.certificate(old.certificate.serial)).issuerSerial, first.serial);
      for (const meter of [old, young]) {
        assert.deepEqual(await authority.verifyMeterCertificate(meter.certificate.pem), {
          isValid: true,
          reason: null,
        });
        assert.equal((await meters.check(meter.piece.data)).isGenuine, true);
      }

      const cross = rolled.current.crossCertificate?.pem ?? '';
      const chain = async (meterPem: string) =>
        runDocumented('verify-chain', {
          'ca-1.pem': first.pem,
          'cross.pem': cross,
          'crl.pem': await authority.revocationLists(),
          'meter.pem': meterPem,
        });
      for (const meter of [old, young]) {
        const verified = await chain(meter.certificate.pem);
        assert.equal(verified.status, 0, verified.output);
        assert.match(verified.output, /meter\.pem: OK/);
      }
      const committed = runDocumented('check-next-ca-key', {
        'ca-1.pem': first.pem,
        'ca-2.pem': rolled.current.certificate.pem,
        'cross.pem': cross,
      });
      assert.equal(committed.status, 0, committed.output);
      assert.match(committed.output, /is the key generation 1 committed to/);
      const wrongRoot = runDocumented('check-next-ca-key', {
        'ca-1.pem': rolled.current.certificate.pem,
        'ca-2.pem': rolled.current.certificate.pem,
        'cross.pem': cross,
      });
      assert.notEqual(wrongRoot.status, 0, 'generation 2 does not commit to its own key');

      // Withdrawn (an old-generation meter) and compromised (a new one): both on their CA's CRL.
      await meters.withdraw(old.meterId);
      await meters.revokeCertificate(young.certificate.serial, 'key-compromise', 'test');
      for (const meter of [old, young]) {
        const refused = await chain(meter.certificate.pem);
        assert.notEqual(refused.status, 0);
        assert.match(refused.output, /certificate revoked/);
      }
      assert.equal((await chain(spare.certificate.pem)).status, 0);
      const crls = (await authority.revocationLists()).match(/BEGIN X509 CRL/g) ?? [];
      assert.equal(crls.length, 2, 'one CRL per generation');
      // A withdrawn meter's earlier mail stays good; a compromised key's does not.
      assert.equal((await meters.check(old.piece.data)).isGenuine, true);
      const compromised = await meters.check(young.piece.data);
      assert.equal(compromised.outcome, 'bad_certificate');
      assert.match(compromised.reason ?? '', /revoked .*key-compromise/);
      const revocation = await store.db
        .selectFrom('certificates')
        .select(['revocation_reason'])
        .where('serial', '=', old.certificate.serial)
        .executeTakeFirstOrThrow();
      assert.equal(revocation.revocation_reason, 'cessation-of-operation');
    });

    it('refuses a CA generation whose key is not the one committed to, even when the old key certified it', async () => {
      const { authority, custody, store } = installation;
      const generations = await authority.caGenerations();
      const newest = generations.at(-1);
      assert.ok(newest !== undefined && newest.isTrusted);
      const rogue = await custody.createMeterPackage({
        meterId: 'ROGUE-CA',
        maxDescendingRegister: 0 as Mills,
        licensingZip: null,
      });
      const rogueSpki = Buffer.from(rogue.view.signingKey.publicKey, 'base64');
      const rogueSelf = await caCertificateSignedBy(custody, 'ROGUE-CA', rogueSpki, []);
      // The current CA key really signs the rogue's cross-certificate: only the commitment stops it.
      const rogueCross = await caCertificateSignedBy(
        custody,
        `AUTHORITY-CA-${newest.generation}`,
        rogueSpki,
        [
          await x509.AuthorityKeyIdentifierExtension.create(
            new x509.X509Certificate(newest.certificate.pem).publicKey as never,
            false,
            webcrypto,
          ),
        ],
      );
      const rogueGeneration = `AUTHORITY-CA-${newest.generation + 1}`;
      await store.db
        .insertInto('certificates')
        .values([
          caRow(rogueSelf, 'ca', rogueGeneration, null),
          caRow(rogueCross, 'ca-cross', rogueGeneration, newest.certificate.serial),
        ])
        .execute();
      const seen = (await authority.caGenerations()).at(-1);
      assert.equal(seen?.isTrusted, false);
      assert.match(seen.problem ?? '', /does not hash to what generation \d committed to/);
      assert.equal((await authority.caCertificate()).serial, newest.certificate.serial);
      await assert.rejects(
        authority.rollOver(),
        (error: unknown) => error instanceof AuthorityError && error.code === 'authority.rollover_invalid',
      );
      await store.db
        .deleteFrom('certificates')
        .where('serial', 'in', [rogueSelf.serialNumber, rogueCross.serialNumber])
        .execute();
      const next = await authority.rollOver();
      assert.equal(next.current.generation, newest.generation + 1);
      assert.equal(next.current.isTrusted, true);
    });

    it('rolls over an installation whose CA certificate predates next-key commitments', async () => {
      const legacy = await openMeterInstallation(fixture);
      try {
        const { custody, store } = legacy;
        const created = await custody.createMeterPackage({
          meterId: 'AUTHORITY-CA-1',
          maxDescendingRegister: 0 as Mills,
          licensingZip: null,
        });
        const spki = Buffer.from(created.view.signingKey.publicKey, 'base64');
        // What an installation from before roll-overs holds: a CA certificate without the extension.
        const certificate = await caCertificateSignedBy(custody, 'AUTHORITY-CA-1', spki, []);
        await store.db
          .insertInto('certificates')
          .values(caRow(certificate, 'ca', 'AUTHORITY-CA-1', null))
          .execute();
        const authority = createAuthorityService({ db: store.db, custody });
        const [first] = await authority.caGenerations();
        assert.equal(first?.nextKeyHash, null);
        const rolled = await authority.rollOver();
        assert.equal(rolled.current.isTrusted, true, rolled.current.problem ?? '');
        assert.notEqual(rolled.current.nextKeyHash, null, 'the new generation commits to the one after it');
      } finally {
        await legacy.dispose();
      }
    });
  });
}
