// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { type AuthorityService, meterSubject } from '../authority/index.ts';
import { type DecodedIndicium, IndiciumError, decodeIndicium } from '../indicium/index.ts';
import type { DatabaseSchema, IndiciaTable, ScanOutcome } from '../store/index.ts';
import { verifySignature } from '../vault/index.ts';
import { endOfDay } from './mailing-date.ts';

export interface ScanReport {
  readonly outcome: ScanOutcome;
  /** Why the indicium is not (or no longer) good, for a person. */
  readonly reason: string | null;
  readonly meterId: string | null;
  readonly indiciumId: string | null;
  readonly indicium: DecodedIndicium | null;
  /** The report a fraud-looking scan filed for the authority, and what the policy did. */
  readonly revenueProtection?: { readonly reportId: string; readonly action: string } | null;
}

/** The public check's answer: genuine or not, what the indicium says, and whether a verifier saw it. */
export interface IndiciumCheck {
  readonly isGenuine: boolean;
  /** As a verifier's scan would answer, except that being seen before is not a fault here. */
  readonly outcome: Exclude<ScanOutcome, 'duplicate'>;
  readonly reason: string | null;
  /** A verifier recorded a scan of this very indicium before. */
  readonly isSeenBefore: boolean;
  readonly meterId: string | null;
  readonly indicium: DecodedIndicium | null;
}

export interface VerificationDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly authority: Pick<AuthorityService, 'certificate' | 'verifyMeterCertificate'>;
  /** The installation's time zone: a mailing day ends at midnight there. */
  readonly timeZone: string;
}

/** An assessment, before anything is recorded: the scan's outcome and the log entry behind it. */
export interface Assessment {
  readonly report: ScanReport;
  readonly isSeenBefore: boolean;
  readonly logged: Pick<IndiciaTable, 'id' | 'status' | 'customer_number'> | null;
}

/** Outcomes that mean a genuine, logged indicium, as far as signature and log go. */
const SEEN_OUTCOMES: readonly ScanOutcome[] = ['valid', 'duplicate'];

/**
 * Checks scanned barcode bytes and reads, never writes (section 8): decode, the certificate
 * against the CA generations (revocation as it stood when the indicium was made), the signature
 * against the certificate, the indicium log, and earlier verifier scans.
 */
export async function assessIndicium(
  { db, authority, timeZone }: VerificationDependencies,
  bytes: Buffer,
): Promise<Assessment> {
  const unseen = (report: ScanReport, logged: Assessment['logged'] = null): Assessment => ({
    report,
    isSeenBefore: false,
    logged,
  });
  let indicium: DecodedIndicium;
  try {
    indicium = decodeIndicium(bytes);
  } catch (error) {
    const reason = error instanceof IndiciumError ? error.message : 'unreadable';
    return unseen({ outcome: 'malformed', reason, meterId: null, indiciumId: null, indicium: null });
  }
  const meterId = `${indicium.manufacturerId}${indicium.modelId}${String(indicium.psdSerial).padStart(8, '0')}`;
  const serial = indicium.certificateSerial.toString(16).padStart(16, '0');
  const base = { meterId, indicium, indiciumId: null };
  let pem: string;
  try {
    pem = (await authority.certificate(serial)).pem;
  } catch {
    return unseen({ ...base, outcome: 'bad_certificate', reason: `no certificate ${serial} was issued` });
  }
  const logged = await db
    .selectFrom('indicia')
    .select(['id', 'status', 'customer_number', 'created_at'])
    .where('data', '=', bytes.toString('base64'))
    .executeTakeFirst();
  // The certificate must be good on the mailing day (by its end, or now if that is earlier), and
  // not revoked before the indicium was made (a withdrawn meter's earlier mail stays good).
  const checkedAt = new Date(Math.min(Date.now(), endOfDay(indicium.date, timeZone).getTime()));
  const signedAt = logged === undefined ? new Date() : new Date(logged.created_at);
  const certificateCheck = await authority.verifyMeterCertificate(pem, checkedAt, { signedAt });
  if (!certificateCheck.isValid) {
    return unseen({
      ...base,
      outcome: 'bad_certificate',
      reason: `certificate ${serial} is ${certificateCheck.reason ?? 'invalid'}`,
    });
  }
  const certificate = new x509.X509Certificate(pem);
  if (certificate.subject !== new x509.Name(meterSubject(meterId)).toString()) {
    return unseen({
      ...base,
      outcome: 'bad_certificate',
      reason: `certificate ${serial} belongs to another meter`,
    });
  }
  const publicKey = Buffer.from(certificate.publicKey.rawData);
  if (!verifySignature(indicium.algorithm, publicKey, indicium.signedData, indicium.signature)) {
    return unseen({
      ...base,
      outcome: 'bad_signature',
      reason: 'the signature does not match the data and the certificate',
    });
  }
  if (logged === undefined) {
    // Printed after the last shipped log record and lost with the database: a restore kept it.
    const gap = await recoveryGapOf(db, meterId, indicium.ascendingRegister);
    if (gap !== null)
      return unseen({
        ...base,
        outcome: 'recovery_gap',
        reason: `genuine: printed in the recovery gap (${gap}); its record was lost with the database before the log shipped it`,
      });
    // A valid signature the log never saw means the meter key was used outside Indicia.
    return unseen({
      ...base,
      outcome: 'unknown_indicium',
      reason: 'validly signed but not in the indicium log: report the meter',
    });
  }
  const found = { ...base, indiciumId: logged.id };
  const seen = await db
    .selectFrom('scans')
    .select('id')
    .where('indicium_id', '=', logged.id)
    .where('outcome', 'in', SEEN_OUTCOMES)
    .executeTakeFirst();
  if (seen !== undefined)
    return {
      report: { ...found, outcome: 'duplicate', reason: 'this indicium was scanned before' },
      isSeenBefore: true,
      logged,
    };
  // Only pieces that moved the AR: a zero-value date correction shares the AR of the piece before.
  const sameRegister =
    indicium.postage > 0
      ? await db
          .selectFrom('indicia')
          .innerJoin('scans', 'scans.indicium_id', 'indicia.id')
          .select('indicia.id')
          .where('indicia.meter_id', '=', meterId)
          .where('indicia.ascending_register_mills', '=', indicium.ascendingRegister)
          .where('indicia.id', '!=', logged.id)
          .where('indicia.postage_mills', '>', 0)
          .where('scans.outcome', 'in', SEEN_OUTCOMES)
          .executeTakeFirst()
      : undefined;
  if (sameRegister !== undefined) {
    return unseen(
      {
        ...found,
        outcome: 'implausible',
        reason: 'another indicium of this meter carries the same ascending register',
      },
      logged,
    );
  }
  if (logged.status !== 'valid') {
    return unseen({ ...found, outcome: 'implausible', reason: `this indicium was ${logged.status}` }, logged);
  }
  return unseen({ ...found, outcome: 'valid', reason: null }, logged);
}

/**
 * Whether a restore listed a debit of `meterId` whose registers take in `ascendingRegister` (a piece
 * of it): the gap's description, or null. An indicium carries the AR after its own postage.
 */
async function recoveryGapOf(
  db: Kysely<DatabaseSchema>,
  meterId: string,
  ascendingRegister: number,
): Promise<string | null> {
  const rows = await db
    .selectFrom('recovery_gaps')
    .select(['restored_at', 'module_serial', 'counter', 'amount_mills', 'ascending_register_mills', 'status'])
    .where('meter_id', '=', meterId)
    .where('type', '=', 'debit')
    .where('ascending_register_mills', '>=', ascendingRegister)
    .execute();
  const gap = rows.find(
    (row) => (row.ascending_register_mills ?? 0) - (row.amount_mills ?? 0) < ascendingRegister,
  );
  if (gap === undefined) return null;
  return `module ${gap.module_serial} record ${gap.counter}, restored ${gap.restored_at}, ${gap.status === 'settled' ? 'settled in the registers' : 'not in the registers'}`;
}

/**
 * The public check: what {@link assessIndicium} found, for anyone, recording nothing. An
 * indicium a verifier already scanned is still genuine here (the addressee may check the piece
 * after the post office scanned it); it says so in `isSeenBefore`.
 */
export async function checkIndicium(
  dependencies: VerificationDependencies,
  bytes: Buffer,
): Promise<IndiciumCheck> {
  const { report, isSeenBefore } = await assessIndicium(dependencies, bytes);
  const outcome = report.outcome === 'duplicate' ? 'valid' : report.outcome;
  return {
    isGenuine: outcome === 'valid' || outcome === 'recovery_gap',
    outcome,
    reason: outcome === 'valid' ? null : report.reason,
    isSeenBefore,
    meterId: report.meterId,
    indicium: report.indicium,
  };
}

/** Records a verifier's scan, inside the caller's transaction; returns its id. */
export async function recordScan(
  trx: Kysely<DatabaseSchema>,
  report: ScanReport,
  verifier: string,
): Promise<string> {
  const id = `scan_${randomUUID()}`;
  await trx
    .insertInto('scans')
    .values({
      id,
      indicium_id: report.indiciumId,
      meter_id: report.meterId,
      verifier,
      outcome: report.outcome,
      reason: report.reason,
      scanned_at: new Date().toISOString(),
    })
    .execute();
  return id;
}
