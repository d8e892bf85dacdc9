import type { Kysely, Transaction } from 'kysely';
import type { DatabaseSchema } from './schema.ts';
import type { CapturedStatement } from './statement-capture.ts';

/** A sealed package version a module made, to be stored (the vault's StoredPackage shape). */
export interface PackageVersion {
  readonly meterId: string;
  readonly sequence: number;
  readonly keyVersion: number;
  readonly sealedPackage: Buffer;
  /** The version it replaces; null for a meter's first package. */
  readonly fromSequence: number | null;
}

/** A meter's stored package: the sealed bytes and their version. */
export interface CurrentPackage {
  readonly sealed: Buffer;
  readonly sequence: number;
}

/** Meters read per query. */
const METERS_PER_READ = 500;

/** The current packages of `meterIds` (meters without a package are absent from the map). */
export async function readCurrentPackages(
  db: Kysely<DatabaseSchema>,
  meterIds: readonly string[],
): Promise<Map<string, CurrentPackage>> {
  const current = new Map<string, CurrentPackage>();
  for (let index = 0; index < meterIds.length; index += METERS_PER_READ) {
    const rows = await db
      .selectFrom('psd_packages')
      .select(['meter_id', 'sealed', 'sequence'])
      .where('meter_id', 'in', meterIds.slice(index, index + METERS_PER_READ))
      .execute();
    for (const row of rows)
      current.set(row.meter_id, { sealed: Buffer.from(row.sealed, 'base64'), sequence: row.sequence });
  }
  return current;
}

/** The stored package versions of `meterIds` (meters without a package are absent from the map). */
export async function readPackageSequences(
  db: Kysely<DatabaseSchema>,
  meterIds: readonly string[],
): Promise<Map<string, number>> {
  const sequences = new Map<string, number>();
  for (let index = 0; index < meterIds.length; index += METERS_PER_READ) {
    const rows = await db
      .selectFrom('psd_packages')
      .select(['meter_id', 'sequence'])
      .where('meter_id', 'in', meterIds.slice(index, index + METERS_PER_READ))
      .execute();
    for (const row of rows) sequences.set(row.meter_id, row.sequence);
  }
  return sequences;
}

/**
 * Stores package versions: a first package inserted, a changed one compare-and-swapped on the
 * version it replaces. Returns the first meter whose stored version had moved on (nothing after it
 * is written; the caller refuses and rolls the transaction back), or null when all were stored.
 */
export async function writePackageVersions(
  trx: Transaction<DatabaseSchema>,
  versions: readonly PackageVersion[],
  now: string,
): Promise<string | null> {
  for (const version of versions) {
    const sealed = version.sealedPackage.toString('base64');
    if (version.fromSequence === null) {
      await trx
        .insertInto('psd_packages')
        .values({
          meter_id: version.meterId,
          sequence: version.sequence,
          key_version: version.keyVersion,
          sealed,
          created_at: now,
          updated_at: now,
        })
        .execute();
      continue;
    }
    const updated = await trx
      .updateTable('psd_packages')
      .set({ sequence: version.sequence, key_version: version.keyVersion, sealed, updated_at: now })
      .where('meter_id', '=', version.meterId)
      .where('sequence', '=', version.fromSequence)
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n) return version.meterId;
  }
  return null;
}

/** One record of the protected module log, as stored (see docs/log-shipping.md). */
export interface ModuleLogEntry {
  readonly moduleSerial: string;
  readonly counter: number;
  readonly previousDigest: string | null;
  readonly digest: string;
  /** The sealed checkpoint record, base64. */
  readonly sealed: string;
  readonly recordedAt: string;
  /** The package versions the record made (each meter's newest of the record). */
  readonly packages: readonly Pick<PackageVersion, 'meterId' | 'sequence' | 'sealedPackage'>[];
  /** The write statements of the same commit. */
  readonly statements: readonly CapturedStatement[];
}

/** Inserts one module log row. */
export async function insertModuleLogEntry(
  trx: Transaction<DatabaseSchema>,
  entry: ModuleLogEntry,
): Promise<void> {
  await trx
    .insertInto('module_log')
    .values({
      module_serial: entry.moduleSerial,
      counter: entry.counter,
      previous_digest: entry.previousDigest,
      digest: entry.digest,
      sealed: entry.sealed,
      recorded_at: entry.recordedAt,
      packages: JSON.stringify(
        entry.packages.map((version) => ({
          meterId: version.meterId,
          sequence: version.sequence,
          sealed: version.sealedPackage.toString('base64'),
        })),
      ),
      statements: entry.statements.length === 0 ? null : JSON.stringify(entry.statements),
    })
    .execute();
}
