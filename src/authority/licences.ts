import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import type { DatabaseSchema, LicenceApplicationsTable } from '../store/index.ts';

export interface LicenceApplication {
  readonly accountId: string;
  readonly customerNumber: number;
  readonly meterMode: 'dedicated' | 'pooled';
  readonly licensingZip: string;
  /** What the customer filed (names, addresses, post office), kept as filed. */
  readonly application: Record<string, unknown>;
}

export interface LicenceDecision {
  readonly id: string;
  readonly status: LicenceApplicationsTable['status'];
  readonly licenceNumber: string | null;
  readonly decision: string;
  readonly filedAt: string;
}

/**
 * What this component does with a licence application: Indicia's built-in **demo postal
 * authority** grants every complete application at once (sign-up has already checked it is
 * complete) and numbers the licence from the licensing ZIP and customer number. A real postal
 * authority's licensing system would decide later; its answer would land in the same row.
 */
export const DEMO_AUTHORITY_DECISION =
  'Granted by the demo postal authority built into Indicia, which grants every complete application.';

/** Files a customer's licence application inside the sign-up's transaction and records the decision. */
export async function fileLicenceApplication(
  trx: Transaction<DatabaseSchema>,
  request: LicenceApplication,
): Promise<LicenceDecision> {
  const now = new Date().toISOString();
  const decision: LicenceDecision = {
    id: `lic_${randomUUID()}`,
    status: 'granted',
    licenceNumber: `${request.meterMode === 'dedicated' ? 'PM' : 'PV'}-${request.licensingZip}-${request.customerNumber}`,
    decision: DEMO_AUTHORITY_DECISION,
    filedAt: now,
  };
  await trx
    .insertInto('licence_applications')
    .values({
      id: decision.id,
      account_id: request.accountId,
      meter_mode: request.meterMode,
      status: decision.status,
      licence_number: decision.licenceNumber,
      application: canonicalJson(request.application),
      decision: decision.decision,
      filed_at: now,
      decided_at: now,
    })
    .execute();
  await appendAuditEvents(trx, [
    {
      kind: 'authority.licence_granted',
      details: {
        accountId: request.accountId,
        licenceNumber: decision.licenceNumber,
        meterMode: request.meterMode,
      },
    },
  ]);
  return decision;
}

/** An account's licence application and decision, or undefined when it filed none. */
export async function licenceOf(
  db: Kysely<DatabaseSchema>,
  accountId: string,
): Promise<LicenceDecision | undefined> {
  const row = await db
    .selectFrom('licence_applications')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        id: row.id,
        status: row.status,
        licenceNumber: row.licence_number,
        decision: row.decision,
        filedAt: row.filed_at,
      };
}
