// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { CustodyService } from '../custody/index.ts';
import type { CertificatesTable, DatabaseSchema, RevocationReason } from '../store/index.ts';
import { AuthorityError } from './authority-error.ts';
import {
  DAY,
  caPackageKey,
  caSigner,
  crossCaCertificate,
  newSerial,
  selfSignedCaCertificate,
} from './ca-certificates.ts';
import {
  type CaGeneration,
  caPackageId,
  committedNextKeyHash,
  evaluateGenerations,
  keyHash,
} from './ca-generations.ts';
import { isRevokedFor } from './certificate-revocation.ts';
import { createRevocationLists } from './revocation-lists.ts';

// Verification (not signing) uses node's WebCrypto.
x509.cryptoProvider.set(webcrypto as never);

/** The sealed package holding the first CA generation's key, kept by custody like any meter's. */
export const CA_PACKAGE_ID = caPackageId(1);

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

/** A certificate as the authority keeps it: what it certifies, and whether it was revoked. */
export interface CertificateRecord extends IssuedCertificate {
  readonly kind: CertificatesTable['kind'];
  readonly meterId: string | null;
  readonly revokedAt: string | null;
  readonly revocationReason: RevocationReason | null;
  readonly revocationNote: string | null;
  /** The CA certificate whose key signed this one (meter and cross certificates). */
  readonly issuerSerial: string | null;
}

/** One CA generation, as `indicia authority status` and the API show it. */
export interface CaGenerationView {
  readonly generation: number;
  readonly certificate: IssuedCertificate;
  readonly crossCertificate: IssuedCertificate | null;
  readonly isCurrent: boolean;
  readonly isTrusted: boolean;
  readonly problem: string | null;
  /** Hex SHA-256 of the next CA key's SubjectPublicKeyInfo this certificate commits to. */
  readonly nextKeyHash: string | null;
}

export interface RollOverResult {
  readonly previous: CaGenerationView;
  readonly current: CaGenerationView;
}

export interface AuthorityService {
  /** Creates the CA key (in a crypto module), the next CA key, and the CA certificate on first use. */
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
  /**
   * Checks a certificate against the CA generations a verifier trusts: signature, validity
   * window at `at`, and revocation as it stood for something signed at `signedAt` (default `at`).
   */
  verifyMeterCertificate(
    pem: string,
    at?: Date,
    options?: { signedAt?: Date },
  ): Promise<{ isValid: boolean; reason: string | null }>;
  /** The current CA generation's certificate (the one that certifies new meters). */
  caCertificate(): Promise<IssuedCertificate>;
  /** Every generation, oldest first, with its cross-certificate and whether it is trusted. */
  caGenerations(): Promise<CaGenerationView[]>;
  /**
   * CA rollover: the key the current certificate committed to becomes the next generation, with
   * a self-signed certificate committing to a new key after it, and a cross-certificate signed by
   * the current key. Meters certified so far keep verifying; new ones are certified by the new CA.
   */
  rollOver(): Promise<RollOverResult>;
  /** Every generation's CRL (each signed by that generation's key), PEM, oldest first. */
  revocationLists(): Promise<string>;
  certificate(serial: string): Promise<CertificateRecord>;
  /** Certificates of one meter, newest first. */
  certificatesOf(meterId: string): Promise<CertificateRecord[]>;
  /** Revokes a meter certificate (CA certificates are rolled over, not revoked). */
  revoke(serial: string, options?: { reason?: RevocationReason; note?: string }): Promise<CertificateRecord>;
}

function toIssued(row: CertificatesTable): IssuedCertificate {
  return {
    serial: row.serial,
    pem: row.pem,
    subject: row.subject,
    notBefore: row.not_before,
    notAfter: row.not_after,
  };
}

function toRecord(row: CertificatesTable): CertificateRecord {
  return {
    ...toIssued(row),
    kind: row.kind,
    meterId: row.meter_id,
    revokedAt: row.revoked_at,
    revocationReason: row.revocation_reason,
    revocationNote: row.revocation_note,
    issuerSerial: row.issuer_serial,
  };
}

function viewOf(generation: CaGeneration, current: CaGeneration | undefined): CaGenerationView {
  return {
    generation: generation.generation,
    certificate: toIssued(generation.row),
    crossCertificate: generation.crossCertificate === null ? null : toIssued(generation.crossCertificate),
    isCurrent: generation === current,
    isTrusted: generation.isTrusted,
    problem: generation.problem,
    nextKeyHash: generation.nextKeyHash,
  };
}

function rowOf(
  certificate: x509.X509Certificate,
  fields: Pick<CertificatesTable, 'serial' | 'kind' | 'meter_id' | 'key_package_id' | 'issuer_serial'>,
): CertificatesTable {
  return {
    ...fields,
    subject: certificate.subject,
    pem: certificate.toString('pem'),
    not_before: certificate.notBefore.toISOString(),
    not_after: certificate.notAfter.toISOString(),
    issued_at: new Date().toISOString(),
    revoked_at: null,
    revocation_reason: null,
    revocation_note: null,
  };
}

/**
 * The authority component: an X.509 certificate authority whose keys are held by crypto modules.
 * Every certificate and CRL it signs is a module transaction (checkpointed and audited) on a CA
 * package. CA generations roll over (seed 004): each certificate carries the hash of the next key.
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
  // Trust is worked out once per set of CA rows (rows are only ever added).
  let evaluated: { key: string; generations: Promise<CaGeneration[]> } | undefined;
  const generations = async (): Promise<CaGeneration[]> => {
    const rows = await db
      .selectFrom('certificates')
      .selectAll()
      .where('kind', 'in', ['ca', 'ca-cross'])
      .orderBy('issued_at')
      .execute();
    const key = rows.map((row) => row.serial).join(',');
    if (evaluated?.key !== key) evaluated = { key, generations: evaluateGenerations(rows) };
    return evaluated.generations;
  };
  /** The newest trusted generation: it certifies new meters. */
  const current = async (): Promise<CaGeneration | undefined> =>
    (await generations()).filter((generation) => generation.isTrusted).at(-1);

  const requireCurrent = async (): Promise<CaGeneration> => {
    const found = await current();
    if (found !== undefined) return found;
    await service.ensureCertificateAuthority();
    const created = await current();
    if (created === undefined)
      throw new AuthorityError('authority.rollover_invalid', 'No CA generation is trusted.');
    return created;
  };

  const signerOf = (generation: CaGeneration) =>
    caSigner(
      custody,
      generation.row.key_package_id ?? CA_PACKAGE_ID,
      Buffer.from(generation.certificate.publicKey.rawData),
    );

  const lists = createRevocationLists({ db, generations, signerOf });

  const service: AuthorityService = {
    async ensureCertificateAuthority() {
      const existing = (await generations()).at(-1);
      if (existing !== undefined) return toIssued((await current())?.row ?? existing.row);
      const spki = await caPackageKey(db, custody, caPackageId(1), { create: true });
      const nextSpki = await caPackageKey(db, custody, caPackageId(2), { create: true });
      if (spki === null || nextSpki === null)
        throw new AuthorityError('authority.signing_failed', 'The CA keys could not be made.');
      const serial = await newSerial(db);
      const certificate = await selfSignedCaCertificate(caSigner(custody, caPackageId(1), spki), {
        serial,
        spki,
        nextSpki,
        notBefore: new Date(),
      });
      const row = rowOf(certificate, {
        serial,
        kind: 'ca',
        meter_id: null,
        key_package_id: caPackageId(1),
        issuer_serial: null,
      });
      await db.insertInto('certificates').values(row).execute();
      return toIssued(row);
    },

    async issueMeterCertificate({ meterId, certificationRequest, validityDays }) {
      const ca = await requireCurrent();
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
      const signing = signerOf(ca);
      const notBefore = new Date();
      // No meter certificate outlives the CA certificate that vouches for it.
      const notAfter = new Date(
        Math.min(notBefore.getTime() + validityDays * DAY, ca.certificate.notAfter.getTime()),
      );
      const serial = await newSerial(db);
      const certificate = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serial,
          subject: expectedSubject,
          issuer: ca.certificate.subject,
          notBefore,
          notAfter,
          publicKey: Buffer.from(request.publicKey.rawData),
          signingKey: signing.privateKey as never,
          signingAlgorithm: signing.signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            // The key identifier only (no issuer and serial): it matches the self-signed and
            // the cross certificate of this CA key alike, so both chains build.
            await x509.AuthorityKeyIdentifierExtension.create(
              ca.certificate.publicKey as never,
              false,
              webcrypto,
            ),
          ],
        },
        signing.crypto,
      );
      const row = rowOf(certificate, {
        serial,
        kind: 'meter',
        meter_id: meterId,
        key_package_id: null,
        issuer_serial: ca.row.serial,
      });
      await db.insertInto('certificates').values(row).execute();
      return toIssued(row);
    },

    async verifyMeterCertificate(pem, at = new Date(), options = {}) {
      const trusted = (await generations()).filter((generation) => generation.isTrusted);
      if (trusted.length === 0) return { isValid: false, reason: 'there is no certificate authority yet' };
      let certificate: x509.X509Certificate;
      try {
        certificate = new x509.X509Certificate(pem);
      } catch {
        return { isValid: false, reason: 'not an X.509 certificate' };
      }
      const keyId = certificate.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
      let issuer: CaGeneration | undefined;
      for (const candidate of trusted) {
        if (keyId !== undefined && candidate.keyId !== undefined && candidate.keyId !== keyId) continue;
        if (await certificate.verify({ publicKey: candidate.certificate.publicKey, signatureOnly: true })) {
          issuer = candidate;
          break;
        }
      }
      if (issuer === undefined)
        return { isValid: false, reason: 'not signed by the Indicia certificate authority' };
      if (at < certificate.notBefore || at > certificate.notAfter)
        return { isValid: false, reason: 'outside its validity period' };
      if (at > issuer.certificate.notAfter)
        return { isValid: false, reason: `certified by CA generation ${issuer.generation}, which expired` };
      const row = await db
        .selectFrom('certificates')
        .select(['revoked_at', 'revocation_reason'])
        .where('serial', '=', certificate.serialNumber)
        .executeTakeFirst();
      if (row === undefined) return { isValid: false, reason: 'not issued by this authority' };
      if (isRevokedFor(row, options.signedAt ?? at))
        return {
          isValid: false,
          reason: `revoked on ${row.revoked_at ?? ''} (${row.revocation_reason ?? 'unspecified'})`,
        };
      return { isValid: true, reason: null };
    },

    async caCertificate() {
      return toIssued((await requireCurrent()).row);
    },

    async caGenerations() {
      const all = await generations();
      const newest = await current();
      return all.map((generation) => viewOf(generation, newest));
    },

    async rollOver() {
      const all = await generations();
      const old = all.at(-1);
      if (old === undefined)
        throw new AuthorityError('authority.rollover_invalid', 'There is no certificate authority yet.');
      if (!old.isTrusted)
        throw new AuthorityError(
          'authority.rollover_invalid',
          `CA generation ${old.generation} is not trusted (${old.problem ?? 'unknown'}); investigate before rolling over.`,
        );
      const commitment = committedNextKeyHash(old.certificate);
      const nextId = caPackageId(old.generation + 1);
      // A certificate that committed to a key rolls over to exactly that key, never a new one.
      const nextSpki = await caPackageKey(db, custody, nextId, { create: commitment === null });
      if (nextSpki === null)
        throw new AuthorityError(
          'authority.rollover_invalid',
          `CA generation ${old.generation} committed to the key in package ${nextId}, which is missing.`,
        );
      if (commitment !== null && !commitment.equals(keyHash(nextSpki)))
        throw new AuthorityError(
          'authority.rollover_invalid',
          `The key in package ${nextId} is not the one CA generation ${old.generation} committed to.`,
        );
      const afterSpki = await caPackageKey(db, custody, caPackageId(old.generation + 2), { create: true });
      if (afterSpki === null)
        throw new AuthorityError('authority.signing_failed', 'The next CA key could not be made.');
      const notBefore = new Date();
      const selfSerial = await newSerial(db);
      const selfSigned = await selfSignedCaCertificate(caSigner(custody, nextId, nextSpki), {
        serial: selfSerial,
        spki: nextSpki,
        nextSpki: afterSpki,
        notBefore,
      });
      const crossSerial = await newSerial(db);
      const cross = await crossCaCertificate(signerOf(old), old.certificate, {
        serial: crossSerial,
        spki: nextSpki,
        nextSpki: afterSpki,
        notBefore,
      });
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('certificates')
          .values([
            rowOf(selfSigned, {
              serial: selfSerial,
              kind: 'ca',
              meter_id: null,
              key_package_id: nextId,
              issuer_serial: null,
            }),
            rowOf(cross, {
              serial: crossSerial,
              kind: 'ca-cross',
              meter_id: null,
              key_package_id: nextId,
              issuer_serial: old.row.serial,
            }),
          ])
          .execute();
        await appendAuditEvents(trx, [
          {
            kind: 'authority.ca_rolled_over',
            details: {
              from: { generation: old.generation, serial: old.row.serial },
              to: { generation: old.generation + 1, serial: selfSerial, crossSerial },
              nextKeyHash: keyHash(afterSpki).toString('hex'),
            },
          },
        ]);
      });
      const after = await service.caGenerations();
      const previous = after.find((view) => view.generation === old.generation);
      const newest = after.find((view) => view.generation === old.generation + 1);
      if (previous === undefined || newest === undefined || !newest.isTrusted)
        throw new AuthorityError(
          'authority.rollover_invalid',
          `The new CA generation does not verify: ${newest?.problem ?? 'missing'}.`,
        );
      return { previous, current: newest };
    },

    revocationLists: () => lists.pem(),

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
      return toRecord(row);
    },

    async certificatesOf(meterId) {
      const rows = await db
        .selectFrom('certificates')
        .selectAll()
        .where('meter_id', '=', meterId)
        .orderBy('issued_at', 'desc')
        .execute();
      return rows.map(toRecord);
    },

    async revoke(serial, { reason = 'unspecified', note } = {}) {
      const found = await service.certificate(serial);
      if (found.kind !== 'meter')
        throw new AuthorityError(
          'authority.certificate_not_revocable',
          `Certificate ${found.serial} belongs to the certificate authority: replace it with a roll-over (indicia authority roll-over), not a revocation.`,
        );
      const revokedAt = new Date().toISOString();
      await db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable('certificates')
          .set({ revoked_at: revokedAt, revocation_reason: reason, revocation_note: note ?? null })
          .where('serial', '=', found.serial)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        if (updated.numUpdatedRows !== 1n)
          throw new AuthorityError(
            'authority.certificate_revoked',
            `Certificate ${found.serial} was already revoked.`,
          );
        await appendAuditEvents(trx, [
          {
            kind: 'authority.certificates_revoked',
            meterId: found.meterId,
            details: { serials: [found.serial], reason, note: note ?? null },
          },
        ]);
      });
      return service.certificate(found.serial);
    },
  };
  return service;
}
