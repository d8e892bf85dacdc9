import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { ModulePool } from '../vault/index.ts';

export interface RotationReport {
  readonly version: number;
  readonly resealed: number;
  readonly minimumKeyVersion: number;
}

const RESEAL_BATCH = 200;

/**
 * Adds a master key version, re-seals every package under it, and optionally retires older
 * versions once none is left. Commands running meanwhile seal under the new version already; a
 * package they changed under our feet fails the compare-and-swap and comes round again in the next
 * batch (on PostgreSQL the reseal's update waits for a group holding the row, then finds it moved).
 */
export async function rotateMasterKey(
  db: Kysely<DatabaseSchema>,
  pool: ModulePool,
  officerCredential: string,
  options: { retireOlderVersions?: boolean } = {},
): Promise<RotationReport> {
  const version = await pool.withOfficer(officerCredential, (module) => module.rotateMasterKey());
  await pool.refreshKeys();
  let resealed = 0;
  for (let idlePasses = 0; idlePasses < 3;) {
    const stale = await db
      .selectFrom('psd_packages')
      .select(['meter_id', 'sequence', 'sealed', 'key_version'])
      .where('key_version', '<', version)
      .orderBy('meter_id')
      .limit(RESEAL_BATCH)
      .execute();
    if (stale.length === 0) break;
    const updates = await pool.withOfficer(officerCredential, async (module) => {
      const resealedBatch = [];
      for (const row of stale) {
        const expected = { meterId: row.meter_id, sequence: row.sequence };
        resealedBatch.push({
          row,
          next: await module.resealPackage(Buffer.from(row.sealed, 'base64'), expected),
        });
      }
      return resealedBatch;
    });
    const before = resealed;
    await db.transaction().execute(async (trx) => {
      for (const { row, next } of updates) {
        const updated = await trx
          .updateTable('psd_packages')
          .set({
            sealed: next.sealedPackage.toString('base64'),
            key_version: next.keyVersion,
            updated_at: new Date().toISOString(),
          })
          .where('meter_id', '=', row.meter_id)
          .where('sequence', '=', row.sequence)
          .where('key_version', '=', row.key_version)
          .executeTakeFirst();
        if (updated.numUpdatedRows === 1n) resealed += 1;
      }
    });
    idlePasses = resealed === before ? idlePasses + 1 : 0;
  }
  const remaining = await db
    .selectFrom('psd_packages')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('key_version', '<', version)
    .executeTakeFirstOrThrow();
  let minimumKeyVersion = pool.status().modules[0]?.keys.minimumMasterKeyVersion ?? 1;
  if (options.retireOlderVersions === true && Number(remaining.count) === 0) {
    await pool.withOfficer(officerCredential, (module) => module.raiseMinimumKeyVersion(version));
    await pool.refreshKeys();
    minimumKeyVersion = version;
  }
  await db.transaction().execute((trx) =>
    appendAuditEvents(trx, [
      {
        kind: 'vault.master_key_rotated',
        details: { version, resealed, minimumKeyVersion, notYetResealed: Number(remaining.count) },
      },
    ]),
  );
  return { version, resealed, minimumKeyVersion };
}
