// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { type AuthorityService, meterSubject } from '../authority/index.ts';
import { type DecodedIndicium, IndiciumError, decodeIndicium } from '../indicium/index.ts';
import type { DatabaseSchema, ScanOutcome } from '../store/index.ts';
import { verifySignature } from '../vault/index.ts';
import { endOfDay } from './mailing-date.ts';

export interface ScanReport {
  readonly outcome: ScanOutcome;
  /** Why the indicium is not (or no longer) good, for a person. */
  readonly reason: string | null;
  readonly meterId: string | null;
  readonly indiciumId: string | null;
  readonly indicium: DecodedIndicium | null;
}

export interface VerificationDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly authority: AuthorityService;
  /** The installation's time zone: a mailing day ends at midnight there. */
  readonly timeZone: string;
}

/**
 * A verifier's check of a scanned indicium (section 8): decode the barcode bytes, check the
 * certificate against the authority and the signature against the certificate, look the indicium
 * up in the log, check it against earlier scans of the meter, and record the scan. The same
 * indicium scanned twice is reported as a duplicate.
 */
export async function verifyScan(
  { db, authority, timeZone }: VerificationDependencies,
  bytes: Buffer,
  verifier: string,
): Promise<ScanReport> {
  const record = async (report: ScanReport): Promise<ScanReport> => {
    await db
      .insertInto('scans')
      .values({
        id: `scan_${randomUUID()}`,
        indicium_id: report.indiciumId,
        meter_id: report.meterId,
        verifier,
        outcome: report.outcome,
        reason: report.reason,
        scanned_at: new Date().toISOString(),
      })
      .execute();
    return report;
  };
  let indicium: DecodedIndicium;
  try {
    indicium = decodeIndicium(bytes);
  } catch (error) {
    const reason = error instanceof IndiciumError ? error.message : 'unreadable';
    return record({ outcome: 'malformed', reason, meterId: null, indiciumId: null, indicium: null });
  }
  const meterId = `${indicium.manufacturerId}${indicium.modelId}${String(indicium.psdSerial).padStart(8, '0')}`;
  const serial = indicium.certificateSerial.toString(16).padStart(16, '0');
  const base = { meterId, indicium };
  let pem: string;
  try {
    pem = (await authority.certificate(serial)).pem;
  } catch {
    return record({
      ...base,
      outcome: 'bad_certificate',
      reason: `no certificate ${serial} was issued`,
      indiciumId: null,
    });
  }
  // The certificate must be good on the mailing day (by its end, or now if that is earlier), the
  // rule issuance applies too (mailing-date.ts).
  const checkedAt = new Date(Math.min(Date.now(), endOfDay(indicium.date, timeZone).getTime()));
  const certificateCheck = await authority.verifyMeterCertificate(pem, checkedAt);
  if (!certificateCheck.isValid) {
    return record({
      ...base,
      outcome: 'bad_certificate',
      reason: `certificate ${serial} is ${certificateCheck.reason ?? 'invalid'}`,
      indiciumId: null,
    });
  }
  const certificate = new x509.X509Certificate(pem);
  if (certificate.subject !== new x509.Name(meterSubject(meterId)).toString()) {
    return record({
      ...base,
      outcome: 'bad_certificate',
      reason: `certificate ${serial} belongs to another meter`,
      indiciumId: null,
    });
  }
  const publicKey = Buffer.from(certificate.publicKey.rawData);
  if (!verifySignature(indicium.algorithm, publicKey, indicium.signedData, indicium.signature)) {
    return record({
      ...base,
      outcome: 'bad_signature',
      reason: 'the signature does not match the data and the certificate',
      indiciumId: null,
    });
  }
  const logged = await db
    .selectFrom('indicia')
    .select(['id', 'status'])
    .where('data', '=', bytes.toString('base64'))
    .executeTakeFirst();
  if (logged === undefined) {
    // A valid signature the log never saw means the meter key was used outside Indicia.
    return record({
      ...base,
      outcome: 'unknown_indicium',
      reason: 'validly signed but not in the indicium log: report the meter',
      indiciumId: null,
    });
  }
  const earlier = await db
    .selectFrom('scans')
    .innerJoin('indicia', 'indicia.id', 'scans.indicium_id')
    .select(['scans.indicium_id', 'indicia.ascending_register_mills'])
    .where('scans.meter_id', '=', meterId)
    .where('scans.outcome', 'in', ['valid', 'duplicate'])
    .execute();
  if (earlier.some((scan) => scan.indicium_id === logged.id)) {
    return record({
      ...base,
      outcome: 'duplicate',
      reason: 'this indicium was scanned before',
      indiciumId: logged.id,
    });
  }
  if (earlier.some((scan) => scan.ascending_register_mills === indicium.ascendingRegister)) {
    return record({
      ...base,
      outcome: 'implausible',
      reason: 'another indicium of this meter carries the same ascending register',
      indiciumId: logged.id,
    });
  }
  if (logged.status !== 'valid') {
    return record({
      ...base,
      outcome: 'implausible',
      reason: `this indicium was ${logged.status}`,
      indiciumId: logged.id,
    });
  }
  return record({ ...base, outcome: 'valid', reason: null, indiciumId: logged.id });
}
