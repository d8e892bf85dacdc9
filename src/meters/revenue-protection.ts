import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import { type AuthorityService, revokeMeterCertificates } from '../authority/index.ts';
import type { CustodyService } from '../custody/index.ts';
import { isIndiciaError } from '../errors/index.ts';
import type {
  DatabaseSchema,
  RevenueProtectionAction,
  RevenueProtectionReportsTable,
  RevocationReason,
  ScanOutcome,
} from '../store/index.ts';
import { meterRecord } from './issuance.ts';
import { MeterError } from './meter-error.ts';
import { type ScanReport, assessIndicium, recordScan } from './verification.ts';

/**
 * What a verifier's scan that looks like fraud does (seed 004: "should fraud be detected, e.g.
 * detecting the same evidence of payment more than one time, the RSP server would disable the
 * descending register and report the failure"). Either way a report is filed for the authority.
 */
export const SCAN_FRAUD_POLICIES = ['disable-meter', 'report-only'] as const;
export type ScanFraudPolicy = (typeof SCAN_FRAUD_POLICIES)[number];

/** The scan outcomes that file a report: the same piece twice, registers that do not fit, a forged piece. */
export const FRAUD_OUTCOMES: readonly ScanOutcome[] = ['duplicate', 'implausible', 'unknown_indicium'];

export interface RevenueProtectionDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  readonly authority: Pick<AuthorityService, 'certificate' | 'verifyMeterCertificate'>;
  readonly policy: ScanFraudPolicy;
  /** The installation's time zone: a mailing day ends at midnight there. */
  readonly timeZone: string;
}

/** A report for the authority, as the API and CLI list it. */
export interface RevenueProtectionReport {
  readonly id: string;
  readonly scanId: string;
  readonly outcome: ScanOutcome;
  readonly reason: string;
  readonly meterId: string | null;
  readonly indiciumId: string | null;
  readonly customerNumber: number | null;
  readonly verifier: string;
  readonly policy: string;
  readonly action: RevenueProtectionAction;
  readonly actionDetail: string | null;
  readonly createdAt: string;
}

function reportOf(row: RevenueProtectionReportsTable): RevenueProtectionReport {
  return {
    id: row.id,
    scanId: row.scan_id,
    outcome: row.outcome,
    reason: row.reason,
    meterId: row.meter_id,
    indiciumId: row.indicium_id,
    customerNumber: row.customer_number,
    verifier: row.verifier,
    policy: row.policy,
    action: row.action,
    actionDetail: row.action_detail,
    createdAt: row.created_at,
  };
}

/**
 * Disables a meter over suspected fraud: its PSD is suspended (an active one, through a module
 * command; a suspended one already prints nothing), its record says disabled, which no resume
 * undoes, and its certificates are revoked (privilege withdrawn: what it printed before stays
 * good) in the same commit. Returns the serials revoked.
 */
export async function disableMeter(
  { db, custody }: Pick<RevenueProtectionDependencies, 'db' | 'custody'>,
  meterId: string,
  reason: string,
): Promise<string[]> {
  const meter = await meterRecord(db, meterId);
  let revoked: string[] = [];
  const within = async (trx: Kysely<DatabaseSchema>, from: 'active' | 'suspended'): Promise<void> => {
    const updated = await trx
      .updateTable('meters')
      .set({ status: 'disabled', updated_at: new Date().toISOString() })
      .where('meter_id', '=', meterId)
      .where('status', '=', from)
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n)
      throw new MeterError('meter.not_active', `Meter ${meterId} changed meanwhile.`);
    revoked = await revokeMeterCertificates(trx, meterId, 'privilege-withdrawn', reason);
    await appendAuditEvents(trx, [{ kind: 'meter.disabled', meterId, details: { reason } }]);
  };
  if (meter.status === 'active')
    await custody.execute(meterId, [{ operation: { type: 'suspend' } }], (trx) => within(trx, 'active'));
  else if (meter.status === 'suspended') await db.transaction().execute((trx) => within(trx, 'suspended'));
  else throw new MeterError('meter.not_active', `Meter ${meterId} is ${meter.status}.`);
  return revoked;
}

/**
 * What the policy does about one fraud-looking scan: nothing to the meter under report-only; a
 * pooled mini-PSD prints for many customers, so it is not stopped for one of them (the report
 * names the customer); otherwise the meter is disabled.
 */
async function applyPolicy(
  dependencies: RevenueProtectionDependencies,
  report: ScanReport,
): Promise<{ action: RevenueProtectionAction; detail: string | null }> {
  if (dependencies.policy === 'report-only') return { action: 'reported_only', detail: null };
  const meter =
    report.meterId === null
      ? undefined
      : await dependencies.db
          .selectFrom('meters')
          .select(['mode', 'status'])
          .where('meter_id', '=', report.meterId)
          .executeTakeFirst();
  if (report.meterId === null || meter === undefined)
    return { action: 'no_meter', detail: 'the indicium names no meter of this installation' };
  if (meter.mode !== 'dedicated')
    return {
      action: 'pooled_reported_only',
      detail: 'a pooled mini-PSD prints for many customers; the customer is named in this report',
    };
  if (meter.status !== 'active' && meter.status !== 'suspended')
    return { action: 'already_inactive', detail: `the meter was already ${meter.status}` };
  try {
    const revoked = await disableMeter(
      dependencies,
      report.meterId,
      `${report.outcome} scan: ${report.reason ?? ''}`,
    );
    return {
      action: 'meter_disabled',
      detail: revoked.length === 0 ? null : `certificates revoked: ${revoked.join(', ')}`,
    };
  } catch (error) {
    if (isIndiciaError(error) && error.code === 'meter.not_active')
      return { action: 'already_inactive', detail: error.message };
    return { action: 'disable_failed', detail: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * A verifier's scan (only the verifier role records them): the assessment, the scan recorded,
 * and for a duplicate, implausible or unknown indicium a report for the authority filed in the
 * same commit; then the policy acts and the report says what it did. A report whose action reads
 * `disable_failed` was filed but the meter could not be stopped (the reason is beside it).
 */
export async function verifyScan(
  dependencies: RevenueProtectionDependencies,
  bytes: Buffer,
  verifier: string,
): Promise<ScanReport> {
  const { db } = dependencies;
  const { report, logged } = await assessIndicium(dependencies, bytes);
  const isFraud = FRAUD_OUTCOMES.includes(report.outcome);
  const reportId = `rpr_${randomUUID()}`;
  const customerNumber =
    logged?.customer_number ??
    (report.meterId === null
      ? null
      : ((
          await db
            .selectFrom('meters')
            .select('customer_number')
            .where('meter_id', '=', report.meterId)
            .executeTakeFirst()
        )?.customer_number ?? null));
  await db.transaction().execute(async (trx) => {
    const scanId = await recordScan(trx, report, verifier);
    if (!isFraud) return;
    await trx
      .insertInto('revenue_protection_reports')
      .values({
        id: reportId,
        scan_id: scanId,
        outcome: report.outcome,
        reason: report.reason ?? report.outcome,
        meter_id: report.meterId,
        indicium_id: report.indiciumId,
        customer_number: customerNumber,
        verifier,
        policy: dependencies.policy,
        // Until the policy has acted: a crash in between leaves the truth.
        action: dependencies.policy === 'report-only' ? 'reported_only' : 'disable_failed',
        action_detail: dependencies.policy === 'report-only' ? null : 'not attempted yet',
        created_at: new Date().toISOString(),
      })
      .execute();
    await appendAuditEvents(trx, [
      {
        kind: 'revenue_protection.reported',
        meterId: report.meterId,
        details: { reportId, outcome: report.outcome, indiciumId: report.indiciumId, verifier },
      },
    ]);
  });
  if (!isFraud) return { ...report, revenueProtection: null };
  const { action, detail } = await applyPolicy(dependencies, report);
  await db
    .updateTable('revenue_protection_reports')
    .set({ action, action_detail: detail })
    .where('id', '=', reportId)
    .execute();
  return { ...report, revenueProtection: { reportId, action } };
}

/** Reports for the authority, newest first, a page at a time (`before` is a report id). */
export async function listRevenueProtectionReports(
  db: Kysely<DatabaseSchema>,
  page: { limit: number; before?: string | undefined },
): Promise<{ reports: RevenueProtectionReport[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('revenue_protection_reports')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.before !== undefined) {
    const cursor = await db
      .selectFrom('revenue_protection_reports')
      .select(['created_at', 'id'])
      .where('id', '=', page.before)
      .executeTakeFirst();
    if (cursor === undefined)
      throw new MeterError('meter.request_invalid', `There is no report ${page.before} to page from.`);
    query = query.where((where) =>
      where.or([
        where('created_at', '<', cursor.created_at),
        where.and([where('created_at', '=', cursor.created_at), where('id', '<', cursor.id)]),
      ]),
    );
  }
  const rows = await query.execute();
  const reports = rows.slice(0, page.limit).map(reportOf);
  return { reports, nextCursor: rows.length > page.limit ? (reports.at(-1)?.id ?? null) : null };
}

/**
 * Revokes a meter certificate on an operator's word. When it is the meter's current one, the
 * meter is suspended too (it would print indicia no verifier accepts) until it gets a new key:
 * `indicia meters rekey`, then resume.
 */
export async function revokeCertificate(
  dependencies: Pick<RevenueProtectionDependencies, 'db' | 'custody'> & {
    readonly authority: Pick<AuthorityService, 'revoke'>;
  },
  serial: string,
  reason: RevocationReason,
  note: string | null,
): Promise<{ serial: string; meterId: string | null; isMeterSuspended: boolean }> {
  const revoked = await dependencies.authority.revoke(serial, {
    reason,
    ...(note === null ? {} : { note }),
  });
  if (revoked.meterId === null) return { serial: revoked.serial, meterId: null, isMeterSuspended: false };
  // A client package (CLIENT-<customer>) has a certificate but no meter record.
  const meter = await dependencies.db
    .selectFrom('meters')
    .selectAll()
    .where('meter_id', '=', revoked.meterId)
    .executeTakeFirst();
  if (meter?.certificate_serial !== revoked.serial || meter.status !== 'active')
    return { serial: revoked.serial, meterId: revoked.meterId, isMeterSuspended: false };
  await dependencies.custody.execute(meter.meter_id, [{ operation: { type: 'suspend' } }], async (trx) => {
    await trx
      .updateTable('meters')
      .set({ status: 'suspended', updated_at: new Date().toISOString() })
      .where('meter_id', '=', meter.meter_id)
      .execute();
    await appendAuditEvents(trx, [
      {
        kind: 'meter.suspended',
        meterId: meter.meter_id,
        details: { reason: `its certificate ${revoked.serial} was revoked (${reason})` },
      },
    ]);
  });
  return { serial: revoked.serial, meterId: meter.meter_id, isMeterSuspended: true };
}
