// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import type { Mills } from '../money/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import { AuthorityError } from './authority-error.ts';
import { CA_SUBJECT, nextKeyExtension } from './ca-generations.ts';
import { type ModuleKeyHandles, moduleSigningCrypto } from './module-signing-crypto.ts';

export const CA_VALIDITY_DAYS = 10 * 365;
export const DAY = 86_400_000;

/** Signs with the key of one CA package inside a crypto module (a checkpointed, audited command). */
export function caSigner(custody: CustodyService, packageId: string, spki: Buffer): ModuleKeyHandles {
  return moduleSigningCrypto('ecdsa-p256', spki, async (data) => {
    const result = await custody.execute(packageId, [{ operation: { type: 'update' }, sign: () => data }]);
    const signature = result.signatures[0];
    if (signature === undefined)
      throw new AuthorityError('authority.signing_failed', 'The CA module returned no signature.');
    return signature.signature;
  });
}

/** A random serial not yet taken: 16 hex digits, a positive 63-bit number (it fits the indicium's field). */
export async function newSerial(db: Kysely<DatabaseSchema>): Promise<string> {
  for (;;) {
    const bytes = randomBytes(8);
    // First byte 0x01–0x7f: positive, and no leading zero for DER to drop, so the serial
    // reads back as the same 16 hex digits everywhere (database, certificate, indicium).
    bytes[0] = ((bytes[0] ?? 0) % 0x7f) + 1;
    const serial = bytes.toString('hex');
    const taken = await db
      .selectFrom('certificates')
      .select('serial')
      .where('serial', '=', serial)
      .executeTakeFirst();
    if (taken === undefined) return serial;
  }
}

/**
 * The public key (SPKI DER) of a CA package, made by a crypto module the first time it is asked
 * for: a roll-over that failed half-way finds the keys it already made.
 */
export async function caPackageKey(
  db: Kysely<DatabaseSchema>,
  custody: CustodyService,
  packageId: string,
  { create }: { create: boolean },
): Promise<Buffer | null> {
  const existing = await db
    .selectFrom('psd_packages')
    .select('meter_id')
    .where('meter_id', '=', packageId)
    .executeTakeFirst();
  if (existing !== undefined)
    return Buffer.from((await custody.readMeter(packageId)).signingKey.publicKey, 'base64');
  if (!create) return null;
  const created = await custody.createMeterPackage({
    meterId: packageId,
    maxDescendingRegister: 0 as Mills,
    licensingZip: null,
    keyValidityDays: CA_VALIDITY_DAYS,
  });
  return Buffer.from(created.view.signingKey.publicKey, 'base64');
}

async function caExtensions(spki: Buffer, nextSpki: Buffer): Promise<x509.Extension[]> {
  return [
    // Path length 0 still allows the cross-certificate below it: it is self-issued (same name).
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, webcrypto),
    nextKeyExtension(nextSpki),
  ];
}

/** A CA generation's self-signed certificate, committing to the key of the generation after it. */
export async function selfSignedCaCertificate(
  signing: ModuleKeyHandles,
  { serial, spki, nextSpki, notBefore }: { serial: string; spki: Buffer; nextSpki: Buffer; notBefore: Date },
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject: CA_SUBJECT,
      issuer: CA_SUBJECT,
      notBefore,
      notAfter: new Date(notBefore.getTime() + CA_VALIDITY_DAYS * DAY),
      publicKey: spki,
      signingKey: signing.privateKey as never,
      signingAlgorithm: signing.signingAlgorithm,
      extensions: await caExtensions(spki, nextSpki),
    },
    signing.crypto,
  );
}

/**
 * The new CA key certified by the old one (RFC 4210's NewWithOld): same name, the new key, the
 * old key's identifier as authority key identifier, valid no longer than the old certificate.
 * A verifier who trusts only the old CA builds meter → cross-certificate → old CA with it.
 */
export async function crossCaCertificate(
  oldSigning: ModuleKeyHandles,
  old: x509.X509Certificate,
  { serial, spki, nextSpki, notBefore }: { serial: string; spki: Buffer; nextSpki: Buffer; notBefore: Date },
): Promise<x509.X509Certificate> {
  const notAfter = new Date(Math.min(notBefore.getTime() + CA_VALIDITY_DAYS * DAY, old.notAfter.getTime()));
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject: CA_SUBJECT,
      issuer: old.subject,
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: oldSigning.privateKey as never,
      signingAlgorithm: oldSigning.signingAlgorithm,
      extensions: [
        ...(await caExtensions(spki, nextSpki)),
        await x509.AuthorityKeyIdentifierExtension.create(old.publicKey as never, false, webcrypto),
      ],
    },
    oldSigning.crypto,
  );
}

/** DER of a non-negative INTEGER, for the CRL number extension. */
function derInteger(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** One CA generation's CRL: what its key certified and was revoked, signed by that key. */
export async function revocationList(
  signing: ModuleKeyHandles,
  ca: x509.X509Certificate,
  {
    number,
    revoked,
    thisUpdate,
    nextUpdate,
  }: {
    number: number;
    revoked: readonly { serial: string; revokedAt: string; reason: x509.X509CrlReason }[];
    thisUpdate: Date;
    nextUpdate: Date;
  },
): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create(
    {
      issuer: ca.subject,
      thisUpdate,
      nextUpdate,
      signingKey: signing.privateKey as never,
      signingAlgorithm: signing.signingAlgorithm,
      entries: revoked.map((entry) => ({
        serialNumber: entry.serial,
        revocationDate: new Date(entry.revokedAt),
        reason: entry.reason,
      })),
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey as never, false, webcrypto),
        new x509.Extension('2.5.29.20', false, derInteger(number)),
      ],
    },
    signing.crypto,
  );
}
