import { createHash } from 'node:crypto';
import type { Mills } from '../money/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import { ByteReader, u16 } from './binary.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { VaultError } from './vault-error.ts';

export type TransactionType =
  | 'create'
  | 'fund'
  | 'debit'
  | 'transfer'
  | 'return'
  | 'refund'
  | 'spoil'
  | 'suspend'
  | 'resume'
  | 'withdraw'
  | 'update'
  | 'reseal';

/** One transaction inside a checkpoint record: what it did to one meter's PSD. */
export interface TransactionEntry {
  readonly type: TransactionType;
  readonly meterId: string;
  readonly amountMills: Mills;
  readonly ascendingRegisterMills: Mills;
  readonly descendingRegisterMills: Mills;
  readonly packageSequence: number;
}

/**
 * Seed 001's checkpoint record, for a group of transactions the module processed in one pass and
 * the server commits in one database transaction (group commit): a single command is a group of
 * one. Auto-recovery discards whole records, so every transaction in a group stands or falls together.
 */
export interface CheckpointRecord {
  readonly moduleSerial: string;
  /** The module's own record counter: 1 for its first record. */
  readonly counter: number;
  readonly at: string;
  /** Every transaction of the group, in the order the module applied them. */
  readonly transactions: readonly TransactionEntry[];
  /**
   * SHA-256 (hex) of the sealed record before this one in the module's chain, or null for the
   * first (or a record sealed before chains were kept): the protected module log links on it.
   */
  readonly previous?: string | null;
  /** The module's running totals across all meters. */
  readonly totals: {
    readonly fundedMills: Mills;
    readonly printedMills: Mills;
    readonly refundedMills: Mills;
  };
}

/** A transaction auto-recovery rolled back, with the record that held it. */
export type DiscardedTransaction = TransactionEntry & { readonly counter: number; readonly at: string };

const MAGIC = Buffer.from('ICKP');
const MAC_LENGTH = 32;

/** A checkpoint record with its MAC under the module checkpoint key: magic ‖ length ‖ JSON ‖ MAC. */
export async function sealCheckpoint(backend: CryptoBackend, record: CheckpointRecord): Promise<Buffer> {
  const body = Buffer.from(canonicalJson(record), 'utf8');
  const framed = Buffer.concat([MAGIC, u16(body.length), body]);
  return Buffer.concat([framed, await backend.mac('checkpoint', framed)]);
}

/** Verifies a sealed checkpoint's MAC and returns the record; throws `vault.checkpoint_invalid`. */
export async function openCheckpoint(backend: CryptoBackend, sealed: Buffer): Promise<CheckpointRecord> {
  const fail = (reason: string): VaultError =>
    new VaultError(
      'vault.checkpoint_invalid',
      `A checkpoint record is not authentic or is damaged (${reason}).`,
    );
  let body: Buffer;
  try {
    const reader = new ByteReader(sealed);
    if (!reader.take(4).equals(MAGIC)) throw fail('not a checkpoint');
    body = reader.take(reader.u16());
    if (reader.remaining !== MAC_LENGTH) throw fail('wrong MAC length');
  } catch (error) {
    if (error instanceof VaultError) throw error;
    throw fail('malformed');
  }
  const framed = sealed.subarray(0, sealed.length - MAC_LENGTH);
  if (!(await backend.verifyMac('checkpoint', framed, sealed.subarray(sealed.length - MAC_LENGTH)))) {
    throw fail('MAC mismatch');
  }
  return JSON.parse(body.toString('utf8')) as CheckpointRecord;
}

/** The SHA-256 (hex) of a sealed record: what the next record's `previous` names. */
export function checkpointDigest(sealed: Buffer): string {
  return createHash('sha256').update(sealed).digest('hex');
}

/** Version 1 rings: entries only. Version 2 adds the counter up to which records are confirmed. */
const RING_MAGIC_V1 = Buffer.from('IRNG');
const RING_MAGIC = Buffer.from('IRN2');

/** A ring as stored: the entries, newest first, and the newest counter the database confirmed. */
export interface StoredRing {
  readonly entries: Buffer[];
  /**
   * Records with a counter up to this one were committed by the database (and may have left as
   * indicia or receipts): auto-recovery never discards them. Null when nothing is confirmed.
   */
  readonly confirmedCounter: number | null;
  /** A version 1 ring, from before confirmations were kept. */
  readonly isLegacy: boolean;
}

/** The ring as stored in the module's own memory: every entry MACed, and the whole ring MACed. */
export async function encodeRing(
  backend: CryptoBackend,
  entries: readonly Buffer[],
  confirmedCounter: number | null,
): Promise<Buffer> {
  const confirmed = Buffer.alloc(8);
  confirmed.writeBigInt64BE(BigInt(confirmedCounter ?? -1));
  const parts: Buffer[] = [RING_MAGIC, confirmed, Buffer.from([entries.length])];
  for (const entry of entries) parts.push(u16(entry.length), entry);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, await backend.mac('checkpoint', body)]);
}

/**
 * Reads a stored ring, newest first; throws `vault.checkpoint_invalid` when it was tampered with.
 * A version 1 ring carries no confirmation: every record but the newest was committed (a module
 * moves past a record only once the database holds it), so `confirmedCounter` comes back null and
 * the ring treats all but its newest record as confirmed.
 */
export async function decodeRing(backend: CryptoBackend, stored: Buffer): Promise<StoredRing> {
  const body = stored.subarray(0, Math.max(0, stored.length - MAC_LENGTH));
  const mac = stored.subarray(body.length);
  if (mac.length !== MAC_LENGTH || !(await backend.verifyMac('checkpoint', body, mac))) {
    throw new VaultError(
      'vault.checkpoint_invalid',
      "The module's checkpoint ring is not authentic or is damaged.",
    );
  }
  const reader = new ByteReader(body);
  const magic = reader.take(4);
  let confirmedCounter: number | null = null;
  if (magic.equals(RING_MAGIC)) {
    const confirmed = Number(reader.take(8).readBigInt64BE());
    confirmedCounter = confirmed < 0 ? null : confirmed;
  } else if (!magic.equals(RING_MAGIC_V1)) {
    throw new VaultError('vault.checkpoint_invalid', "The module's checkpoint ring has an unknown format.");
  }
  const entries: Buffer[] = [];
  const count = reader.u8();
  for (let index = 0; index < count; index += 1) entries.push(Buffer.from(reader.take(reader.u16())));
  return { entries, confirmedCounter, isLegacy: magic.equals(RING_MAGIC_V1) };
}
