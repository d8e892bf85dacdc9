import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Kysely, Selectable } from 'kysely';
import type { CapturedStatement, DatabaseSchema, ModuleLogTable } from '../store/index.ts';
import {
  type ShippedRecord,
  SHIPMENT_FORMAT,
  ShipmentDamaged,
  decodeShipment,
  encodeShipment,
  shipmentFileDigest,
  shipmentFileName,
} from './shipment-format.ts';
import { LogShippingError } from './log-shipping-error.ts';

/** The label under which a module derives the installation's shipment MAC key (never stored). */
export const SHIPMENT_KEY_LABEL = 'log-shipment/v1';
/** Records per shipment file; a backlog goes out as several files in one run. */
const RECORDS_PER_FILE = 500;

export interface ShipperDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly dialect: string;
  /** A directory an operator mounts on another disk or host: shipments are only ever added to it. */
  readonly archiveDir: string;
  /** The shipment MAC key, derived inside a crypto module. */
  readonly shipmentKey: () => Promise<Buffer>;
}

export interface ShipmentReport {
  readonly shipments: number;
  readonly records: number;
  /** Each module's newest shipped counter now. */
  readonly through: Readonly<Record<string, number>>;
  /** When the newest shipped record was committed: the recovery point. */
  readonly recoveryPoint: string | null;
}

interface LastShipment {
  readonly sequence: number;
  readonly digest: string | null;
  readonly through: Record<string, number>;
}

async function lastShipment(db: Kysely<DatabaseSchema>): Promise<LastShipment> {
  const row = await db
    .selectFrom('log_shipments')
    .selectAll()
    .orderBy('sequence', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (row === undefined) return { sequence: 0, digest: null, through: {} };
  return {
    sequence: row.sequence,
    digest: row.digest,
    through: JSON.parse(row.through) as Record<string, number>,
  };
}

const shippedRecord = (row: Selectable<ModuleLogTable>): ShippedRecord => ({
  module: row.module_serial,
  counter: row.counter,
  previous: row.previous_digest,
  digest: row.digest,
  sealed: row.sealed,
  recordedAt: row.recorded_at,
  packages: row.packages === null ? [] : (JSON.parse(row.packages) as ShippedRecord['packages']),
  statements: row.statements === null ? [] : (JSON.parse(row.statements) as CapturedStatement[]),
});

/**
 * Records not shipped yet, at most `limit`: each module's in its counter order, merged across
 * modules by commit time. A module's own order always wins over its clock (a clock stepped back
 * must not ship a record before its predecessor), so a shipment is a prefix of every module's log.
 */
async function unshipped(
  db: Kysely<DatabaseSchema>,
  through: Readonly<Record<string, number>>,
  limit: number,
): Promise<ShippedRecord[]> {
  const serials = await db.selectFrom('module_log').select('module_serial').distinct().execute();
  const queues: ShippedRecord[][] = [];
  for (const { module_serial: serial } of serials) {
    const rows = await db
      .selectFrom('module_log')
      .selectAll()
      .where('module_serial', '=', serial)
      .where('counter', '>', through[serial] ?? 0)
      .orderBy('counter')
      .limit(limit)
      .execute();
    if (rows.length > 0) queues.push(rows.map(shippedRecord));
  }
  const merged: ShippedRecord[] = [];
  const heads = queues.map(() => 0);
  while (merged.length < limit) {
    let best = -1;
    for (let index = 0; index < queues.length; index += 1) {
      const head = queues[index]?.[heads[index] ?? 0];
      const current = best < 0 ? undefined : queues[best]?.[heads[best] ?? 0];
      if (head !== undefined && (current === undefined || compareRecords(head, current) < 0)) best = index;
    }
    const chosen = best < 0 ? undefined : queues[best]?.[heads[best] ?? 0];
    if (chosen === undefined) break;
    merged.push(chosen);
    heads[best] = (heads[best] ?? 0) + 1;
  }
  return merged;
}

/** Commit order across modules: commit time, then module, then counter (a module's own order). */
export function compareRecords(left: ShippedRecord, right: ShippedRecord): number {
  if (left.recordedAt !== right.recordedAt) return left.recordedAt < right.recordedAt ? -1 : 1;
  if (left.module !== right.module) return left.module < right.module ? -1 : 1;
  return left.counter - right.counter;
}

/** Writes `text` as `name` in `dir` only if no file has that name; durable before it returns. */
function writeOnce(dir: string, name: string, text: string): void {
  const temporary = join(dir, `.${name}.${process.pid}.tmp`);
  const descriptor = openSync(temporary, 'wx', 0o640);
  try {
    writeSync(descriptor, text);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  try {
    linkSync(temporary, join(dir, name));
  } catch (error) {
    throw new LogShippingError(
      'shipping.conflict',
      `Shipment ${name} is already in the archive ${dir}: another server shipped it, or the archive belongs to another installation (${(error as Error).message}).`,
    );
  } finally {
    unlinkSync(temporary);
  }
  const directory = openSync(dir, 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}

/**
 * Ships every protected-log record committed since the last shipment to the archive, as
 * append-only, MACed files (docs/log-shipping.md), and records each shipment in the database.
 * Returns null when there was nothing new.
 */
export async function shipLog(dependencies: ShipperDependencies): Promise<ShipmentReport | null> {
  const { db, archiveDir } = dependencies;
  mkdirSync(archiveDir, { recursive: true, mode: 0o750 });
  let last = await lastShipment(db);
  let shipments = 0;
  let records = 0;
  let recoveryPoint: string | null = null;
  const key = await dependencies.shipmentKey();
  for (;;) {
    const batch = await unshipped(db, last.through, RECORDS_PER_FILE);
    if (batch.length === 0) break;
    const through = { ...last.through };
    for (const record of batch)
      through[record.module] = Math.max(through[record.module] ?? 0, record.counter);
    const sequence = last.sequence + 1;
    const text = encodeShipment(
      {
        format: SHIPMENT_FORMAT,
        sequence,
        dialect: dependencies.dialect,
        previousFile: last.digest,
        createdAt: new Date().toISOString(),
      },
      batch,
      through,
      key,
    );
    const file = shipmentFileName(sequence);
    writeOnce(archiveDir, file, text);
    const digest = shipmentFileDigest(text);
    await db
      .insertInto('log_shipments')
      .values({
        sequence,
        file,
        records: batch.length,
        digest,
        through: JSON.stringify(through),
        shipped_at: new Date().toISOString(),
      })
      .execute();
    last = { sequence, digest, through };
    shipments += 1;
    records += batch.length;
    recoveryPoint = batch.at(-1)?.recordedAt ?? recoveryPoint;
  }
  if (shipments === 0) return null;
  return { shipments, records, through: last.through, recoveryPoint };
}

export interface ArchiveContents {
  readonly shipments: number;
  readonly records: readonly ShippedRecord[];
  readonly dialect: string | null;
  /** Each module's newest counter in the archive. */
  readonly through: Readonly<Record<string, number>>;
}

/**
 * Reads a whole archive, checking every shipment (digest, MAC, numbering, the link from each
 * file to the one before). A damaged or missing shipment is refused, naming the file.
 */
export function readArchive(archiveDir: string, key: Buffer): ArchiveContents {
  let names: string[];
  try {
    names = readdirSync(archiveDir)
      .filter((name) => /^shipment-\d{10}\.jsonl$/.test(name))
      .sort();
  } catch {
    throw new LogShippingError('shipping.archive_missing', `There is no log archive at ${archiveDir}.`);
  }
  const records: ShippedRecord[] = [];
  let previous: string | null = null;
  let dialect: string | null = null;
  let through: Readonly<Record<string, number>> = {};
  for (const [index, name] of names.entries()) {
    const text = readFileSync(join(archiveDir, name), 'utf8');
    let shipment;
    try {
      shipment = decodeShipment(text, key);
    } catch (error) {
      if (!(error instanceof ShipmentDamaged)) throw error;
      throw new LogShippingError(
        'shipping.shipment_damaged',
        `Shipment ${name} in ${archiveDir} cannot be used: ${error.message}.`,
      );
    }
    if (shipment.header.sequence !== index + 1 || shipmentFileName(index + 1) !== name)
      throw new LogShippingError(
        'shipping.shipment_missing',
        `The archive ${archiveDir} lacks shipment ${index + 1} (found ${name} in its place).`,
      );
    if (shipment.header.previousFile !== previous)
      throw new LogShippingError(
        'shipping.shipment_damaged',
        `Shipment ${name} does not follow the shipment before it in ${archiveDir}.`,
      );
    previous = shipmentFileDigest(text);
    dialect = shipment.header.dialect;
    through = shipment.trailer.through;
    records.push(...shipment.records);
  }
  return { shipments: names.length, records, dialect, through };
}
