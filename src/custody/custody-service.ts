import type { Kysely, Transaction } from 'kysely';
import { type AuditEventInput, appendAuditEvents } from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type {
  CheckpointRecord,
  CommandResult,
  CommandStep,
  CryptoModule,
  ModulePool,
  NewPackageRequest,
  PoolStatus,
  PsdView,
} from '../vault/index.ts';
import { VaultError } from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';

export interface CustodyDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly pool: ModulePool;
}

/** Work the caller adds to the same database transaction (an indicium record, a receipt). */
export type WithinCommit = (trx: Transaction<DatabaseSchema>, result: CommandResult) => Promise<void>;

export interface RotationReport {
  readonly version: number;
  readonly resealed: number;
  readonly minimumKeyVersion: number;
}

export interface CustodyService {
  /** MeterGen's module step: a new PSD package and key pair, committed with its checkpoint. */
  createMeterPackage(request: Omit<NewPackageRequest, 'databaseCheckpoint'>): Promise<CommandResult>;
  /** Runs a command on a meter's package; the result returns only after the commit is durable. */
  execute(
    meterId: string,
    steps: readonly CommandStep[],
    withinCommit?: WithinCommit,
  ): Promise<CommandResult>;
  readMeter(meterId: string): Promise<PsdView>;
  /** A new signing key pair for the meter, made in a module; its certificate serial is cleared. */
  replaceSigningKey(meterId: string, options?: { keyValidityDays?: number }): Promise<CommandResult>;
  /** Adds a master key version, re-seals every package under it, optionally retires older ones. */
  rotateMasterKey(
    officerCredential: string,
    options?: { retireOlderVersions?: boolean },
  ): Promise<RotationReport>;
  /** Disaster recovery for an inhibited module: take the database's checkpoint as the truth. */
  reanchorModule(serial: string, officerCredential: string): Promise<void>;
  resumeService(): Promise<void>;
  status(): PoolStatus;
}

interface StoredPackage {
  readonly sealed: Buffer;
  readonly sequence: number;
}

const RESEAL_BATCH = 200;

/** Stores a command's new package, if the stored one is still the sequence the command started from. */
async function replacePackage(
  trx: Transaction<DatabaseSchema>,
  meterId: string,
  fromSequence: number,
  result: CommandResult,
  now: string,
): Promise<void> {
  const updated = await trx
    .updateTable('psd_packages')
    .set({
      sequence: result.record.packageSequence,
      key_version: result.keyVersion,
      sealed: result.sealedPackage.toString('base64'),
      updated_at: now,
    })
    .where('meter_id', '=', meterId)
    .where('sequence', '=', fromSequence)
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n) {
    throw new CustodyError(
      'custody.concurrent_update',
      `Meter ${meterId} changed during the command; try again.`,
    );
  }
}

function recoveryEvents(moduleSerial: string, discarded: readonly CheckpointRecord[]): AuditEventInput[] {
  return discarded.map((record) => ({
    kind: 'vault.auto_recovery_discarded',
    moduleSerial,
    meterId: record.meterId,
    details: {
      reason: 'the database did not hold this module transaction; the module rolled it back',
      counter: record.counter,
      type: record.type,
      amountMills: record.amountMills,
      packageSequence: record.packageSequence,
      recordedAt: record.at,
    },
  }));
}

/**
 * Custody of PSD packages: each command leases a module, reads that module's checkpoint and the
 * meter's package, lets the module act, and commits — new package (compare-and-swap on its
 * sequence), new module checkpoint, audit events — in one transaction before anything returns.
 *
 * @example const custody = createCustodyService({ db: store.db, pool });
 */
export function createCustodyService({ db, pool }: CustodyDependencies): CustodyService {
  // Commands on one meter queue here, so one server does not race itself into CAS conflicts.
  const meterQueues = new Map<string, Promise<unknown>>();
  const serially = <T>(meterId: string, work: () => Promise<T>): Promise<T> => {
    const previous = meterQueues.get(meterId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    meterQueues.set(meterId, settled);
    void settled.then(() => {
      if (meterQueues.get(meterId) === settled) meterQueues.delete(meterId);
    });
    return next;
  };

  const moduleCheckpoint = async (serial: string): Promise<Buffer | null> => {
    const row = await db
      .selectFrom('crypto_modules')
      .select('checkpoint')
      .where('serial', '=', serial)
      .executeTakeFirst();
    return row?.checkpoint === undefined || row.checkpoint === null
      ? null
      : Buffer.from(row.checkpoint, 'base64');
  };

  const loadPackage = async (meterId: string): Promise<StoredPackage> => {
    const row = await db
      .selectFrom('psd_packages')
      .select(['sealed', 'sequence'])
      .where('meter_id', '=', meterId)
      .executeTakeFirst();
    if (row === undefined) throw new CustodyError('custody.meter_not_found', `There is no meter ${meterId}.`);
    return { sealed: Buffer.from(row.sealed, 'base64'), sequence: row.sequence };
  };

  /** Stores the module's new checkpoint, refusing if another writer moved it meanwhile. */
  const storeCheckpoint = async (
    trx: Transaction<DatabaseSchema>,
    module: CryptoModule,
    previous: Buffer | null,
    next: Buffer,
    now: string,
  ): Promise<void> => {
    const checkpoint = next.toString('base64');
    if (previous === null) {
      const existing = await trx
        .selectFrom('crypto_modules')
        .select('checkpoint')
        .where('serial', '=', module.serial)
        .executeTakeFirst();
      if (existing !== undefined && existing.checkpoint !== null) {
        throw new CustodyError(
          'custody.concurrent_update',
          `Module ${module.serial}'s checkpoint changed during the command.`,
        );
      }
      if (existing === undefined) {
        await trx
          .insertInto('crypto_modules')
          .values({ serial: module.serial, backend: module.backendKind, checkpoint, updated_at: now })
          .execute();
        return;
      }
      await trx
        .updateTable('crypto_modules')
        .set({ checkpoint, updated_at: now })
        .where('serial', '=', module.serial)
        .execute();
      return;
    }
    const updated = await trx
      .updateTable('crypto_modules')
      .set({ checkpoint, updated_at: now })
      .where('serial', '=', module.serial)
      .where('checkpoint', '=', previous.toString('base64'))
      .executeTakeFirst();
    if (updated.numUpdatedRows !== 1n) {
      throw new CustodyError(
        'custody.concurrent_update',
        `Module ${module.serial}'s checkpoint changed during the command.`,
      );
    }
  };

  /** After a failed module step: audit what auto-recovery discarded, and an inhibition. */
  const auditFailure = async (module: CryptoModule, error: unknown): Promise<void> => {
    const events = recoveryEvents(module.serial, module.takeUnreportedRecoveries());
    if (error instanceof VaultError && error.code === 'vault.module_inhibited') {
      events.push({
        kind: 'vault.module_inhibited',
        moduleSerial: module.serial,
        details: { reason: error.message },
      });
    }
    if (events.length > 0) await db.transaction().execute((trx) => appendAuditEvents(trx, events));
  };

  const transactionEvent = (meterId: string, result: CommandResult): AuditEventInput => ({
    kind: `psd.${result.record.type}`,
    moduleSerial: result.record.moduleSerial,
    meterId,
    details: {
      amountMills: result.record.amountMills,
      ascendingRegisterMills: result.record.ascendingRegisterMills,
      descendingRegisterMills: result.record.descendingRegisterMills,
      packageSequence: result.record.packageSequence,
      moduleCounter: result.record.counter,
      keyVersion: result.keyVersion,
      signatures: result.signatures.length,
    },
  });

  const runOnModule = async (
    meterId: string,
    act: (module: CryptoModule, checkpoint: Buffer | null) => Promise<CommandResult>,
    persist: (trx: Transaction<DatabaseSchema>, result: CommandResult, now: string) => Promise<void>,
  ): Promise<CommandResult> =>
    pool.withModule(async (module) => {
      const checkpoint = await moduleCheckpoint(module.serial);
      let result: CommandResult;
      try {
        result = await act(module, checkpoint);
      } catch (error) {
        await auditFailure(module, error);
        throw error;
      }
      const now = new Date().toISOString();
      await db.transaction().execute(async (trx) => {
        await persist(trx, result, now);
        await storeCheckpoint(trx, module, checkpoint, result.checkpoint, now);
        await appendAuditEvents(trx, [
          ...recoveryEvents(module.serial, result.recovered?.discarded ?? []),
          transactionEvent(meterId, result),
        ]);
      });
      return result;
    });

  return {
    createMeterPackage(request) {
      return serially(request.meterId, async () => {
        const existing = await db
          .selectFrom('psd_packages')
          .select('meter_id')
          .where('meter_id', '=', request.meterId)
          .executeTakeFirst();
        if (existing !== undefined)
          throw new CustodyError('custody.meter_exists', `Meter ${request.meterId} already exists.`);
        return runOnModule(
          request.meterId,
          (module, databaseCheckpoint) => module.createPackage({ ...request, databaseCheckpoint }),
          async (trx, result, now) => {
            await trx
              .insertInto('psd_packages')
              .values({
                meter_id: request.meterId,
                sequence: result.record.packageSequence,
                key_version: result.keyVersion,
                sealed: result.sealedPackage.toString('base64'),
                created_at: now,
                updated_at: now,
              })
              .execute();
          },
        );
      });
    },

    execute(meterId, steps, withinCommit) {
      return serially(meterId, async () => {
        const stored = await loadPackage(meterId);
        return runOnModule(
          meterId,
          (module, databaseCheckpoint) =>
            module.execute({
              databaseCheckpoint,
              sealedPackage: stored.sealed,
              expected: { meterId, sequence: stored.sequence },
              steps,
            }),
          async (trx, result, now) => {
            await replacePackage(trx, meterId, stored.sequence, result, now);
            await withinCommit?.(trx, result);
          },
        );
      });
    },

    replaceSigningKey(meterId, options = {}) {
      return serially(meterId, async () => {
        const stored = await loadPackage(meterId);
        return runOnModule(
          meterId,
          (module, databaseCheckpoint) =>
            module.replaceSigningKey({
              databaseCheckpoint,
              sealedPackage: stored.sealed,
              expected: { meterId, sequence: stored.sequence },
              ...(options.keyValidityDays === undefined ? {} : { keyValidityDays: options.keyValidityDays }),
            }),
          (trx, result, now) => replacePackage(trx, meterId, stored.sequence, result, now),
        );
      });
    },

    async readMeter(meterId) {
      const stored = await loadPackage(meterId);
      return pool.withModule((module) =>
        module.readPackage(stored.sealed, { meterId, sequence: stored.sequence }),
      );
    },

    async rotateMasterKey(officerCredential, options = {}) {
      const version = await pool.withOfficer(officerCredential, (module) => module.rotateMasterKey());
      await pool.refreshKeys();
      let resealed = 0;
      // Commands running meanwhile seal under the new version already; a package they changed
      // under our feet fails the compare-and-swap and comes round again in the next batch.
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
    },

    async reanchorModule(serial, officerCredential) {
      const checkpoint = await moduleCheckpoint(serial);
      await pool.withOfficer(officerCredential, (module) => module.reanchor(checkpoint), { serial });
      await db.transaction().execute((trx) =>
        appendAuditEvents(trx, [
          {
            kind: 'vault.module_reanchored',
            moduleSerial: serial,
            details: { toDatabaseCheckpoint: checkpoint !== null },
          },
        ]),
      );
    },

    async resumeService() {
      pool.resume();
      await db
        .transaction()
        .execute((trx) => appendAuditEvents(trx, [{ kind: 'vault.service_resumed', details: {} }]));
    },

    status: () => pool.status(),
  };
}
