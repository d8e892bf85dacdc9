import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type { AuditEventsTable, DatabaseSchema } from '../store/index.ts';
import { AuditError } from './audit-error.ts';

/** The chain of installation-wide events, and of every event written before chains (0018). */
export const INSTALLATION_CHAIN = 'installation';

export interface AuditEventInput {
  readonly kind: string;
  readonly moduleSerial?: string | null;
  readonly meterId?: string | null;
  /** Facts about the event; never secrets (no keys, PINs, card numbers). */
  readonly details: Readonly<Record<string, unknown>>;
  readonly at?: string;
}

export interface AuditEvent {
  readonly chain: string;
  readonly sequence: number;
  readonly at: string;
  readonly kind: string;
  readonly moduleSerial: string | null;
  readonly meterId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly previousHash: string;
  readonly hash: string;
}

export interface AppendOptions {
  /**
   * The chain to append to (default `installation`). Appends lock only their chain's head row, so
   * writers of different chains (custody: one per crypto module, by serial) never queue on each other.
   */
  readonly chain?: string;
}

/** Printable ASCII, no space at either end: any module serial (a PKCS#11 token's serial included). */
const CHAIN_ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?$/;
const ZERO_HASH = '0'.repeat(64);

/**
 * The `previousHash` of a chain's first event. The installation chain keeps the zero hash its
 * events had before chains; every other chain starts from its own name, so no event can be moved
 * to another chain (or a chain renamed) without breaking the first link.
 */
export function genesisHash(chain: string): string {
  return chain === INSTALLATION_CHAIN
    ? ZERO_HASH
    : createHash('sha256').update(`indicia/audit-chain/v1\n${chain}`).digest('hex');
}

export function assertChainId(chain: string): void {
  if (!CHAIN_ID.test(chain))
    throw new AuditError(
      'audit.invalid_chain',
      `"${chain}" is not an audit chain id: use 1 to 200 printable ASCII characters, without a space at either end (a crypto module's serial, for example).`,
    );
}

/** SHA-256 over the previous hash and the event's canonical form. */
export function auditHash(
  previousHash: string,
  event: Omit<AuditEvent, 'previousHash' | 'hash' | 'chain'>,
): string {
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
 * Appends events to a hash chain inside the caller's transaction, so they commit or vanish with
 * the change they describe. The first statement creates or locks the chain's head row (a row lock
 * on PostgreSQL until the transaction ends; SQLite has one writer anyway), which orders appends
 * to that chain and to no other.
 *
 * @example await db.transaction().execute((trx) => appendAuditEvents(trx, [{ kind: 'meter.funded', meterId, details: { amountMills } }]));
 * @example await appendAuditEvents(trx, events, { chain: module.serial });
 */
export async function appendAuditEvents(
  trx: Kysely<DatabaseSchema>,
  events: readonly AuditEventInput[],
  options: AppendOptions = {},
): Promise<AuditEvent[]> {
  const chain = options.chain ?? INSTALLATION_CHAIN;
  assertChainId(chain);
  if (events.length === 0) return [];
  const head = await trx
    .insertInto('audit_heads')
    .values({ chain, sequence: 0, hash: genesisHash(chain) })
    .onConflict((conflict) =>
      conflict.column('chain').doUpdateSet((eb) => ({ sequence: eb.ref('audit_heads.sequence') })),
    )
    .returning(['sequence', 'hash'])
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
    const event: AuditEvent = { chain, ...unhashed, previousHash: hash, hash: auditHash(hash, unhashed) };
    written.push(event);
    hash = event.hash;
  }
  await trx
    .insertInto('audit_events')
    .values(
      written.map((event) => ({
        chain,
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
  await trx.updateTable('audit_heads').set({ sequence, hash }).where('chain', '=', chain).execute();
  return written;
}

export function eventFromRow(row: AuditEventsTable): AuditEvent {
  return {
    chain: row.chain,
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

/** Events about one meter or module, oldest first (by time, then chain order). */
export async function auditEventsFor(
  db: Kysely<DatabaseSchema>,
  filter: { meterId?: string; moduleSerial?: string; kind?: string; chain?: string },
): Promise<AuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy('at').orderBy('chain').orderBy('sequence');
  if (filter.meterId !== undefined) query = query.where('meter_id', '=', filter.meterId);
  if (filter.moduleSerial !== undefined) query = query.where('module_serial', '=', filter.moduleSerial);
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
  if (filter.chain !== undefined) query = query.where('chain', '=', filter.chain);
  return (await query.execute()).map(eventFromRow);
}
