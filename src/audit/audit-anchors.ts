import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { canonicalJson } from '../encoding/index.ts';
import type { AuditAnchorsTable, DatabaseSchema } from '../store/index.ts';
import type { ModuleServices } from '../vault/index.ts';
import type { ChainPosition } from './chain-walk.ts';

/** The label the anchor MAC is made under (a module's record MAC is domain-separated by label). */
export const AUDIT_ANCHOR_LABEL = 'audit-anchor';
const NO_PREVIOUS = '0'.repeat(64);

/** A MAC made and checked inside a crypto module, under a key the database never sees. */
export interface RecordMacs {
  /** The MAC, and the serial of the module that made it (recorded beside the anchor). */
  readonly mac: (bytes: Buffer) => Promise<{ readonly mac: Buffer; readonly moduleSerial: string }>;
  readonly verify: (bytes: Buffer, mac: Buffer) => Promise<boolean>;
}

/** What a module lease hands over for anchor MACs: a module's serial and its services. */
export type LeaseModule = <T>(
  work: (module: { readonly serial: string; readonly services: ModuleServices }) => Promise<T>,
) => Promise<T>;

/**
 * Anchor MACs through a module lease (a pool's `withModule`): the installation's modules share
 * the checkpoint key, so any of them makes or checks the MAC.
 *
 * @example const macs = anchorMacs((work) => pool.withModule(work));
 */
export function anchorMacs(lease: LeaseModule): RecordMacs {
  return {
    mac: (bytes) =>
      lease(async (module) => ({
        mac: await module.services.macRecord(AUDIT_ANCHOR_LABEL, bytes),
        moduleSerial: module.serial,
      })),
    verify: (bytes, mac) =>
      lease((module) => module.services.verifyRecordMac(AUDIT_ANCHOR_LABEL, bytes, mac)),
  };
}

export interface AnchoredHead extends ChainPosition {
  readonly chain: string;
}

/** What an anchor says, MACed as its canonical JSON. */
export interface AnchorRecord {
  readonly version: 1;
  readonly sequence: number;
  readonly at: string;
  /** The digest of the anchor before, or 64 zeros for the first. */
  readonly previous: string;
  /** Every chain's head when the anchor was made, ordered by chain. */
  readonly heads: readonly AnchoredHead[];
}

export interface AuditAnchor {
  readonly record: AnchorRecord;
  /** The exact bytes MACed (canonical JSON of the record, as stored). */
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mac: Buffer;
  readonly moduleSerial: string;
}

export function anchorDigest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * An anchor as stored. A record that is not an anchor's JSON (an insider's garbage) comes back as
 * an empty record of the row's sequence, whose MAC then fails: reported, never thrown.
 */
export function anchorFromRow(row: AuditAnchorsTable): AuditAnchor {
  let record: AnchorRecord = { version: 1, sequence: row.sequence, at: '', previous: '', heads: [] };
  try {
    const parsed = JSON.parse(row.record) as Partial<AnchorRecord> | null;
    if (
      parsed !== null &&
      typeof parsed.sequence === 'number' &&
      typeof parsed.previous === 'string' &&
      Array.isArray(parsed.heads)
    )
      record = parsed as AnchorRecord;
  } catch {
    // kept as the empty record
  }
  return {
    record,
    bytes: Buffer.from(row.record, 'utf8'),
    digest: row.digest,
    mac: Buffer.from(row.mac, 'base64'),
    moduleSerial: row.module_serial,
  };
}

export async function newestAnchor(db: Kysely<DatabaseSchema>): Promise<AuditAnchor | null> {
  const row = await db
    .selectFrom('audit_anchors')
    .selectAll()
    .orderBy('sequence', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? null : anchorFromRow(row);
}

/** Anchors from `first` on (up to `last`), oldest first. */
export async function anchorsBetween(
  db: Kysely<DatabaseSchema>,
  first: number,
  last?: number,
): Promise<AuditAnchor[]> {
  let query = db.selectFrom('audit_anchors').selectAll().where('sequence', '>=', first).orderBy('sequence');
  if (last !== undefined) query = query.where('sequence', '<=', last);
  return (await query.execute()).map(anchorFromRow);
}

/**
 * Why an anchor does not check out (null when it does): its row must hold the digest of its
 * bytes, the record its sequence, and its MAC must verify inside a module.
 */
export async function checkAnchor(
  anchor: AuditAnchor,
  sequence: number,
  verify: RecordMacs['verify'],
): Promise<string | null> {
  if (anchor.record.sequence !== sequence)
    return `anchor ${sequence}'s record says it is anchor ${anchor.record.sequence}`;
  if (anchorDigest(anchor.bytes) !== anchor.digest)
    return `anchor ${sequence}'s digest is not the digest of its record`;
  if (!(await verify(anchor.bytes, anchor.mac)))
    return `anchor ${sequence}'s MAC does not verify: the anchor was not made by a crypto module of this installation, or was changed`;
  return null;
}

/**
 * MACs the next anchor (after `previous`) naming `heads` inside a module and stores it. Returns
 * null when another server stored an anchor with that sequence first (its own is then dropped:
 * both were made after reading the same previous anchor, so the chain of anchors stays linked).
 */
export async function writeAnchor(
  db: Kysely<DatabaseSchema>,
  macs: RecordMacs,
  previous: AuditAnchor | null,
  heads: readonly AnchoredHead[],
  at = new Date().toISOString(),
): Promise<AuditAnchor | null> {
  const record: AnchorRecord = {
    version: 1,
    sequence: (previous?.record.sequence ?? 0) + 1,
    at,
    previous: previous?.digest ?? NO_PREVIOUS,
    heads: [...heads].sort((left, right) =>
      left.chain < right.chain ? -1 : left.chain > right.chain ? 1 : 0,
    ),
  };
  const text = canonicalJson(record);
  const bytes = Buffer.from(text, 'utf8');
  const { mac, moduleSerial } = await macs.mac(bytes);
  const digest = anchorDigest(bytes);
  const inserted = await db
    .insertInto('audit_anchors')
    .values({
      sequence: record.sequence,
      anchored_at: at,
      record: text,
      digest,
      mac: mac.toString('base64'),
      module_serial: moduleSerial,
    })
    .onConflict((conflict) => conflict.column('sequence').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return null;
  return { record, bytes, digest, mac, moduleSerial };
}

export { NO_PREVIOUS as FIRST_ANCHOR_PREVIOUS };
