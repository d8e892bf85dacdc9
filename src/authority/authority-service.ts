// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import type { Mills } from '../money/index.ts';
import type { CertificatesTable, DatabaseSchema } from '../store/index.ts';
import { AuthorityError } from './authority-error.ts';
import { moduleSigningCrypto } from './module-signing-crypto.ts';

// Verification (not signing) uses node's WebCrypto.
x509.cryptoProvider.set(webcrypto as never);

/** The sealed package holding the CA key, kept by custody like any meter's. */
export const CA_PACKAGE_ID = 'AUTHORITY-CA-1';
const CA_SUBJECT = 'CN=Indicia Postal Authority CA (demo),O=Indicia';
const CA_VALIDITY_DAYS = 10 * 365;
const DAY = 86_400_000;

/** The distinguished name a meter's certificate (and its request) carries. */
export function meterSubject(meterId: string): string {
  return `CN=${meterId}, O=Indicia meters`;
}

export interface IssuedCertificate {
  /** 16 hex digits: a positive 63-bit number, so it fits the indicium's 8-byte field. */
  readonly serial: string;
  readonly pem: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

export interface AuthorityService {
  /** Creates the CA key (in a crypto module) and its self-signed certificate on first use. */
  ensureCertificateAuthority(): Promise<IssuedCertificate>;
  /**
   * Issues a meter certificate from a PKCS#10 request (PEM or DER): checks the request's own
   * signature (proof the requester holds the key) and that it names the meter.
   */
  issueMeterCertificate(request: {
    meterId: string;
    certificationRequest: string | Buffer;
    validityDays: number;
  }): Promise<IssuedCertificate>;
  /** Checks a certificate against the CA: signature, validity window, not revoked. */
  verifyMeterCertificate(pem: string, at?: Date): Promise<{ isValid: boolean; reason: string | null }>;
  caCertificate(): Promise<IssuedCertificate>;
  certificate(
    serial: string,
  ): Promise<IssuedCertificate & { meterId: string | null; revokedAt: string | null }>;
  /** Certificates of one meter, newest first. */
  certificatesOf(meterId: string): Promise<(IssuedCertificate & { revokedAt: string | null })[]>;
  revoke(serial: string): Promise<void>;
}

function toIssued(
  row: CertificatesTable,
): IssuedCertificate & { meterId: string | null; revokedAt: string | null } {
  return {
    serial: row.serial,
    pem: row.pem,
    subject: row.subject,
    notBefore: row.not_before,
    notAfter: row.not_after,
    meterId: row.meter_id,
    revokedAt: row.revoked_at,
  };
}

/**
 * The authority component: an X.509 certificate authority whose key is held by a crypto module.
 * Every certificate it signs is a module transaction (checkpointed and audited) on the CA package.
 *
 * @example const authority = createAuthorityService({ db, custody }); await authority.ensureCertificateAuthority();
 */
export function createAuthorityService({
  db,
  custody,
}: {
  db: Kysely<DatabaseSchema>;
  custody: CustodyService;
}): AuthorityService {
  const signWithCa = async (data: Buffer): Promise<Buffer> => {
    const result = await custody.execute(CA_PACKAGE_ID, [
      { operation: { type: 'update' }, sign: () => data },
    ]);
    const signature = result.signatures[0];
    if (signature === undefined)
      throw new AuthorityError('authority.signing_failed', 'The CA module returned no signature.');
    return signature.signature;
  };

  const newSerial = async (): Promise<string> => {
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
  };

  const caRow = async (): Promise<CertificatesTable | undefined> =>
    db
      .selectFrom('certificates')
      .selectAll()
      .where('kind', '=', 'ca')
      .orderBy('issued_at', 'desc')
      .executeTakeFirst();

  const store = async (row: CertificatesTable): Promise<IssuedCertificate> => {
    await db.insertInto('certificates').values(row).execute();
    return toIssued(row);
  };

  const service: AuthorityService = {
    async ensureCertificateAuthority() {
      const existing = await caRow();
      if (existing !== undefined) return toIssued(existing);
      const created = await custody.createMeterPackage({
        meterId: CA_PACKAGE_ID,
        maxDescendingRegister: 0 as Mills,
        licensingZip: null,
        keyValidityDays: CA_VALIDITY_DAYS,
      });
      const spki = Buffer.from(created.view.signingKey.publicKey, 'base64');
      const signing = moduleSigningCrypto('ecdsa-p256', spki, signWithCa);
      const notBefore = new Date();
      const notAfter = new Date(notBefore.getTime() + CA_VALIDITY_DAYS * DAY);
      const serial = await newSerial();
      const certificate = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serial,
          subject: CA_SUBJECT,
          issuer: CA_SUBJECT,
          notBefore,
          notAfter,
          publicKey: spki,
          signingKey: signing.privateKey as never,
          signingAlgorithm: signing.signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
            await x509.SubjectKeyIdentifierExtension.create(spki, false, webcrypto),
          ],
        },
        signing.crypto,
      );
      return store({
        serial,
        kind: 'ca',
        meter_id: null,
        subject: CA_SUBJECT,
        pem: certificate.toString('pem'),
        not_before: notBefore.toISOString(),
        not_after: notAfter.toISOString(),
        issued_at: new Date().toISOString(),
        revoked_at: null,
      });
    },

    async issueMeterCertificate({ meterId, certificationRequest, validityDays }) {
      const ca = await service.ensureCertificateAuthority();
      let request: x509.Pkcs10CertificateRequest;
      try {
        request = new x509.Pkcs10CertificateRequest(certificationRequest);
      } catch {
        throw new AuthorityError(
          'authority.request_invalid',
          'The certificate request is not a PKCS#10 request.',
        );
      }
      if (!(await request.verify())) {
        throw new AuthorityError(
          'authority.request_invalid',
          "The certificate request's signature does not verify: the requester does not hold the key.",
        );
      }
      const expectedSubject = new x509.Name(meterSubject(meterId)).toString();
      if (new x509.Name(request.subject).toString() !== expectedSubject) {
        throw new AuthorityError(
          'authority.request_invalid',
          `The certificate request names "${request.subject}", not "${expectedSubject}".`,
        );
      }
      const caCertificate = new x509.X509Certificate(ca.pem);
      const caSpki = Buffer.from(caCertificate.publicKey.rawData);
      const signing = moduleSigningCrypto('ecdsa-p256', caSpki, signWithCa);
      const notBefore = new Date();
      const notAfter = new Date(notBefore.getTime() + validityDays * DAY);
      const serial = await newSerial();
      const certificate = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serial,
          subject: expectedSubject,
          issuer: caCertificate.subject,
          notBefore,
          notAfter,
          publicKey: Buffer.from(request.publicKey.rawData),
          signingKey: signing.privateKey as never,
          signingAlgorithm: signing.signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            await x509.AuthorityKeyIdentifierExtension.create(caCertificate as never, false, webcrypto),
          ],
        },
        signing.crypto,
      );
      return store({
        serial,
        kind: 'meter',
        meter_id: meterId,
        subject: expectedSubject,
        pem: certificate.toString('pem'),
        not_before: notBefore.toISOString(),
        not_after: notAfter.toISOString(),
        issued_at: new Date().toISOString(),
        revoked_at: null,
      });
    },

    async verifyMeterCertificate(pem, at = new Date()) {
      const ca = await caRow();
      if (ca === undefined) return { isValid: false, reason: 'there is no certificate authority yet' };
      let certificate: x509.X509Certificate;
      try {
        certificate = new x509.X509Certificate(pem);
      } catch {
        return { isValid: false, reason: 'not an X.509 certificate' };
      }
      const caCertificate = new x509.X509Certificate(ca.pem);
      if (!(await certificate.verify({ publicKey: caCertificate.publicKey, signatureOnly: true }))) {
        return { isValid: false, reason: 'not signed by the Indicia certificate authority' };
      }
      if (at < certificate.notBefore || at > certificate.notAfter)
        return { isValid: false, reason: 'outside its validity period' };
      const row = await db
        .selectFrom('certificates')
        .select('revoked_at')
        .where('serial', '=', certificate.serialNumber)
        .executeTakeFirst();
      if (row === undefined) return { isValid: false, reason: 'not issued by this authority' };
      if (row.revoked_at !== null) return { isValid: false, reason: `revoked on ${row.revoked_at}` };
      return { isValid: true, reason: null };
    },

    async caCertificate() {
      return service.ensureCertificateAuthority();
    },

    async certificate(serial) {
      const row = await db
        .selectFrom('certificates')
        .selectAll()
        .where('serial', '=', serial.toLowerCase())
        .executeTakeFirst();
      if (row === undefined)
        throw new AuthorityError(
          'authority.certificate_not_found',
          `There is no certificate with serial ${serial}.`,
        );
      return toIssued(row);
    },

    async certificatesOf(meterId) {
      const rows = await db
        .selectFrom('certificates')
        .selectAll()
        .where('meter_id', '=', meterId)
        .orderBy('issued_at', 'desc')
        .execute();
      return rows.map(toIssued);
    },

    async revoke(serial) {
      const updated = await db
        .updateTable('certificates')
        .set({ revoked_at: new Date().toISOString() })
        .where('serial', '=', serial.toLowerCase())
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (updated.numUpdatedRows !== 1n) {
        throw new AuthorityError(
          'authority.certificate_not_found',
          `There is no unrevoked certificate with serial ${serial}.`,
        );
      }
    },
  };
  return service;
}
