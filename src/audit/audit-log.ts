import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type { AuditEventsTable, DatabaseSchema } from '../store/index.ts';

export interface AuditEventInput {
  readonly kind: string;
  readonly moduleSerial?: string | null;
  readonly meterId?: string | null;
  /** Facts about the event; never secrets (no keys, PINs, card numbers). */
  readonly details: Readonly<Record<string, unknown>>;
  readonly at?: string;
}

export interface AuditEvent {
  readonly sequence: number;
  readonly at: string;
  readonly kind: string;
  readonly moduleSerial: string | null;
  readonly meterId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly previousHash: string;
  readonly hash: string;
}

/** SHA-256 over the previous hash and the event's canonical form. */
export function auditHash(previousHash: string, event: Omit<AuditEvent, 'previousHash' | 'hash'>): string {
  return createHash('sha256')
    .update(previousHash)
    .update('\n')
    .update(
      canonicalJson({
        sequence: event.sequence,
        at: event.at,
        kind: event.kind,
        moduleSerial: event.moduleSerial,
        meterId: event.meterId,
        details: event.details,
      }),
    )
    .digest('hex');
}

/**
 * Appends events to the hash chain inside the caller's transaction, so they commit or vanish with
 * the change they describe. Touching the head row first serializes appends (a row lock on
 * PostgreSQL; SQLite has one writer anyway).
 *
 * @example await db.transaction().execute((trx) => appendAuditEvents(trx, [{ kind: 'meter.funded', meterId, details: { amountMills } }]));
 */
export async function appendAuditEvents(
  trx: Kysely<DatabaseSchema>,
  events: readonly AuditEventInput[],
): Promise<AuditEvent[]> {
  if (events.length === 0) return [];
  await sql`update audit_head set sequence = sequence where id = 1`.execute(trx);
  const head = await trx
    .selectFrom('audit_head')
    .select(['sequence', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  let { sequence, hash } = head;
  const written: AuditEvent[] = [];
  for (const input of events) {
    sequence += 1;
    const unhashed = {
      sequence,
      at: input.at ?? new Date().toISOString(),
      kind: input.kind,
      moduleSerial: input.moduleSerial ?? null,
      meterId: input.meterId ?? null,
      details: input.details,
    };
    const event: AuditEvent = { ...unhashed, previousHash: hash, hash: auditHash(hash, unhashed) };
    written.push(event);
    hash = event.hash;
  }
  await trx
    .insertInto('audit_events')
    .values(
      written.map((event) => ({
        sequence: event.sequence,
        at: event.at,
        kind: event.kind,
        module_serial: event.moduleSerial,
        meter_id: event.meterId,
        details: canonicalJson(event.details),
        previous_hash: event.previousHash,
        hash: event.hash,
      })),
    )
    .execute();
  await trx.updateTable('audit_head').set({ sequence, hash }).where('id', '=', 1).execute();
  return written;
}

function eventFromRow(row: AuditEventsTable): AuditEvent {
  return {
    sequence: row.sequence,
    at: row.at,
    kind: row.kind,
    moduleSerial: row.module_serial,
    meterId: row.meter_id,
    details: JSON.parse(row.details) as Record<string, unknown>,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

export interface ChainVerification {
  readonly isIntact: boolean;
  readonly events: number;
  /** The first event whose hash or link does not check out. */
  readonly firstBrokenSequence: number | null;
}

/** Walks the whole chain and recomputes every hash. */
export async function verifyAuditChain(db: Kysely<DatabaseSchema>): Promise<ChainVerification> {
  let previousHash = '0'.repeat(64);
  let expectedSequence = 1;
  let events = 0;
  const rows = await db.selectFrom('audit_events').selectAll().orderBy('sequence').execute();
  for (const row of rows) {
    events += 1;
    const recomputed = auditHash(previousHash, eventFromRow(row));
    if (row.sequence !== expectedSequence || row.previous_hash !== previousHash || row.hash !== recomputed) {
      return { isIntact: false, events, firstBrokenSequence: row.sequence };
    }
    previousHash = row.hash;
    expectedSequence += 1;
  }
  const head = await db
    .selectFrom('audit_head')
    .select(['sequence', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirst();
  if (head === undefined || head.sequence !== events || head.hash !== previousHash) {
    return { isIntact: false, events, firstBrokenSequence: events + 1 };
  }
  return { isIntact: true, events, firstBrokenSequence: null };
}

/** Events about one meter or module, oldest first. */
export async function auditEventsFor(
  db: Kysely<DatabaseSchema>,
  filter: { meterId?: string; moduleSerial?: string; kind?: string },
): Promise<AuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy('sequence');
  if (filter.meterId !== undefined) query = query.where('meter_id', '=', filter.meterId);
  if (filter.moduleSerial !== undefined) query = query.where('module_serial', '=', filter.moduleSerial);
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
  return (await query.execute()).map(eventFromRow);
}
