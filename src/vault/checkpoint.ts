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

const RING_MAGIC = Buffer.from('IRNG');

/** The ring as stored in the module's own memory: every entry MACed, and the whole ring MACed. */
export async function encodeRing(backend: CryptoBackend, entries: readonly Buffer[]): Promise<Buffer> {
  const parts: Buffer[] = [RING_MAGIC, Buffer.from([entries.length])];
  for (const entry of entries) parts.push(u16(entry.length), entry);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, await backend.mac('checkpoint', body)]);
}

/** Reads a stored ring, newest first; throws `vault.checkpoint_invalid` when it was tampered with. */
export async function decodeRing(backend: CryptoBackend, stored: Buffer): Promise<Buffer[]> {
  const body = stored.subarray(0, Math.max(0, stored.length - MAC_LENGTH));
  const mac = stored.subarray(body.length);
  if (mac.length !== MAC_LENGTH || !(await backend.verifyMac('checkpoint', body, mac))) {
    throw new VaultError(
      'vault.checkpoint_invalid',
      "The module's checkpoint ring is not authentic or is damaged.",
    );
  }
  const reader = new ByteReader(body);
  if (!reader.take(4).equals(RING_MAGIC)) {
    throw new VaultError('vault.checkpoint_invalid', "The module's checkpoint ring has an unknown format.");
  }
  const entries: Buffer[] = [];
  const count = reader.u8();
  for (let index = 0; index < count; index += 1) entries.push(Buffer.from(reader.take(reader.u16())));
  return entries;
}
