import { type ShippedRecord, compareRecords } from '../log-shipping/index.ts';
import type { CheckpointRecord } from '../vault/index.ts';

/**
 * A sealed checkpoint record's body (magic ‖ u16 length ‖ JSON ‖ MAC), read WITHOUT checking its
 * MAC: for ordering and naming only. The crypto module checks every record before anything moves.
 */
export function unverifiedRecord(sealed: Buffer): CheckpointRecord {
  const body = sealed.subarray(6, 6 + sealed.readUInt16BE(4)).toString('utf8');
  return JSON.parse(body) as CheckpointRecord;
}

/** A meter's package version before the replay; absent: the meter has no package yet. */
export type PackageSequences = ReadonlyMap<string, number>;

/** Whether every meter the record moves is at the version its first movement starts from. */
function isReady(record: CheckpointRecord, known: ReadonlyMap<string, number>): boolean {
  const seen = new Set<string>();
  for (const entry of record.transactions) {
    if (seen.has(entry.meterId)) continue;
    seen.add(entry.meterId);
    const current = known.get(entry.meterId);
    if (entry.type === 'create' ? current !== undefined : current !== entry.packageSequence - 1) return false;
  }
  return true;
}

/**
 * The order to re-apply records in: each module's own in its counter order, and across modules
 * the order the meters' package versions dictate — a record goes once every meter it moves is at
 * the version its movement starts from — so servers whose clocks disagree (a farm) replay as
 * they committed. Among records that could go, the earliest commit time first. When none can
 * (an archive that lacks a record), the rest follow in commit-time order and the module names
 * the first that does not fit.
 */
export function replayOrder(records: readonly ShippedRecord[], sequences: PackageSequences): ShippedRecord[] {
  const queues = new Map<string, { record: ShippedRecord; body: CheckpointRecord }[]>();
  for (const record of records) {
    const queue = queues.get(record.module) ?? [];
    queue.push({ record, body: unverifiedRecord(Buffer.from(record.sealed, 'base64')) });
    queues.set(record.module, queue);
  }
  for (const queue of queues.values())
    queue.sort((left, right) => left.record.counter - right.record.counter);
  const known = new Map(sequences);
  const ordered: ShippedRecord[] = [];
  const heads = new Map<string, number>([...queues.keys()].map((module) => [module, 0]));
  while (ordered.length < records.length) {
    let next: { module: string; record: ShippedRecord; body: CheckpointRecord } | undefined;
    let fallback: typeof next;
    for (const [module, index] of heads) {
      const head = queues.get(module)?.[index];
      if (head === undefined) continue;
      const candidate = { module, ...head };
      if (fallback === undefined || compareRecords(head.record, fallback.record) < 0) fallback = candidate;
      if (isReady(head.body, known) && (next === undefined || compareRecords(head.record, next.record) < 0))
        next = candidate;
    }
    const chosen = next ?? fallback;
    if (chosen === undefined) break;
    heads.set(chosen.module, (heads.get(chosen.module) ?? 0) + 1);
    for (const entry of chosen.body.transactions) known.set(entry.meterId, entry.packageSequence);
    ordered.push(chosen.record);
  }
  return ordered;
}
