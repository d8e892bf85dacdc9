import type { Kysely, Transaction } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import {
  type CheckpointDecision,
  type CryptoModule,
  type ModulePool,
  type ModuleStatus,
  OPERATOR_MODULE_NUMBER,
  type RecordedInhibition,
} from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';

type Database = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** One module of the installation as the module table knows it (every module that ever opened). */
export interface InstallationModule {
  readonly serial: string;
  readonly backend: string;
  /** Server modules 1..N, the operator's 100; null for a row no module has registered since 0013. */
  readonly moduleNumber: number | null;
  /** Whose it is: a server's (modules 1..N) or the operator commands' (module 100). */
  readonly owner: 'server' | 'operator' | 'unknown';
  /** When its latest checkpoint was stored; null when it never committed. */
  readonly checkpointAt: string | null;
  readonly inhibited: Omit<RecordedInhibition, 'serial'> | null;
  /** Set when the keys it used were zeroized: the serial is retired. */
  readonly zeroizedAt: string | null;
}

/** A module's latest checkpoint as the database holds it, or null. */
export async function moduleCheckpoint(db: Database, serial: string): Promise<Buffer | null> {
  const row = await db
    .selectFrom('crypto_modules')
    .select('checkpoint')
    .where('serial', '=', serial)
    .executeTakeFirst();
  return row?.checkpoint === undefined || row.checkpoint === null
    ? null
    : Buffer.from(row.checkpoint, 'base64');
}

/**
 * {@link moduleCheckpoint}, read in a transaction that also writes the row (to itself), so the read
 * is confirmed by a commit: with a synchronous standby, that commit returns only once everything
 * the read saw is on the standby too. An old primary that crashed and was restarted by its keeper
 * answers for a while after its standby took over: it can show a commit it recovered locally but
 * never replicated, or miss commits made on the new primary. There such a commit never returns
 * (no standby acknowledges it) and fails when the old primary is stopped.
 */
export async function durableModuleCheckpoint(
  db: Kysely<DatabaseSchema>,
  serial: string,
): Promise<Buffer | null> {
  return db.transaction().execute(async (trx) => {
    await trx
      .updateTable('crypto_modules')
      .set((eb) => ({ checkpoint: eb.ref('checkpoint') }))
      .where('serial', '=', serial)
      .execute();
    return moduleCheckpoint(trx, serial);
  });
}

/** Whose a module number is: the operator commands' (100) or a server's. */
export const ownerOf = (moduleNumber: number | null): InstallationModule['owner'] =>
  moduleNumber === null ? 'unknown' : moduleNumber === OPERATOR_MODULE_NUMBER ? 'operator' : 'server';

const causeOf = (cause: string | null): RecordedInhibition['cause'] =>
  cause === 'module' ? 'module' : 'database';

/** Every module the installation has had, by serial. */
export async function listInstallationModules(db: Database): Promise<InstallationModule[]> {
  const rows = await db.selectFrom('crypto_modules').selectAll().orderBy('serial').execute();
  return rows.map((row) => ({
    serial: row.serial,
    backend: row.backend,
    moduleNumber: row.module_number,
    owner: ownerOf(row.module_number),
    checkpointAt: row.checkpoint === null ? null : row.updated_at,
    inhibited:
      row.inhibited_at === null
        ? null
        : {
            reason: row.inhibited_reason ?? '',
            since: row.inhibited_at,
            cause: causeOf(row.inhibited_cause),
          },
    zeroizedAt: row.zeroized_at,
  }));
}

/** The inhibitions every process of the installation counts (retired serials excepted). */
export async function recordedInhibitions(db: Database): Promise<RecordedInhibition[]> {
  const rows = await db
    .selectFrom('crypto_modules')
    .select(['serial', 'inhibited_reason', 'inhibited_cause', 'inhibited_at'])
    .where('inhibited_at', 'is not', null)
    .where('zeroized_at', 'is', null)
    .execute();
  return rows.map((row) => ({
    serial: row.serial,
    reason: row.inhibited_reason ?? '',
    since: row.inhibited_at ?? '',
    cause: causeOf(row.inhibited_cause),
  }));
}

type ModuleIdentity = Pick<CryptoModule, 'serial' | 'backendKind' | 'moduleNumber'>;

/** Makes sure each module has its row and its number: the module table lists the whole installation. */
export async function registerModules(db: Database, modules: readonly ModuleIdentity[]): Promise<void> {
  for (const module of modules) {
    const now = new Date().toISOString();
    await db
      .insertInto('crypto_modules')
      .values({
        serial: module.serial,
        backend: module.backendKind,
        checkpoint: null,
        updated_at: now,
        module_number: module.moduleNumber,
      })
      .onConflict((conflict) =>
        module.moduleNumber === null
          ? conflict.column('serial').doNothing()
          : conflict.column('serial').doUpdateSet({ module_number: module.moduleNumber }),
      )
      .execute();
  }
}

/**
 * Records a module's inhibition for the installation (the first reason stays); true when it was
 * not recorded before, so the caller audits it once.
 */
export async function recordInhibition(
  trx: Transaction<DatabaseSchema>,
  module: ModuleIdentity,
  inhibited: NonNullable<ModuleStatus['inhibited']>,
): Promise<boolean> {
  await registerModules(trx, [module]);
  const updated = await trx
    .updateTable('crypto_modules')
    .set({
      inhibited_reason: inhibited.reason,
      inhibited_cause: inhibited.cause,
      inhibited_at: inhibited.since,
    })
    .where('serial', '=', module.serial)
    .where('inhibited_at', 'is', null)
    .executeTakeFirst();
  return updated.numUpdatedRows === 1n;
}

/** Records `module`'s inhibition, if it has one, with its audit event the first time. */
export async function recordModuleInhibition(
  db: Kysely<DatabaseSchema>,
  module: CryptoModule,
  details: Readonly<Record<string, unknown>>,
): Promise<void> {
  const inhibited = module.status().inhibited;
  if (inhibited === null) return;
  await db.transaction().execute(async (trx) => {
    if (!(await recordInhibition(trx, module, inhibited))) return;
    await appendAuditEvents(trx, [
      {
        kind: 'vault.module_inhibited',
        moduleSerial: module.serial,
        details: { reason: inhibited.reason, cause: inhibited.cause, ...details },
      },
    ]);
  });
}

/**
 * Compares a module's ring with the database without disturbing the process that owns the module
 * (CryptoModule.inspect), and records an inhibition it finds. `module` is in the crypto-user role.
 */
export async function inspectModule(
  db: Kysely<DatabaseSchema>,
  module: CryptoModule,
  detectedBy: string,
): Promise<CheckpointDecision> {
  const decision = await module.inspect(() => moduleCheckpoint(db, module.serial));
  const lost = decision.kind === 'inhibit' ? decision.lost : [];
  await recordModuleInhibition(db, module, { detectedBy, lost });
  return decision;
}

/** What inspecting one module found: its status after power-up, and its ring's agreement. */
export interface InspectedModule {
  readonly moduleNumber: number;
  /** Null when the module could not be opened (see `problem`). */
  readonly status: ModuleStatus | null;
  /** Null when the module could not take the crypto-user role (no keys, error state). */
  readonly decision: CheckpointDecision | null;
  readonly problem: string | null;
}

/**
 * Powers up each module number (self-tests included), inspects it against the database when it
 * can take the crypto-user role, records an inhibition found, and closes it again. `open` makes
 * the (unstarted) module of a number; a module that fails to open is reported, not thrown.
 */
export async function inspectModules(
  db: Kysely<DatabaseSchema>,
  numbers: readonly number[],
  open: (moduleNumber: number) => Promise<CryptoModule>,
  detectedBy: string,
): Promise<InspectedModule[]> {
  const inspected: InspectedModule[] = [];
  for (const moduleNumber of numbers) {
    let module: CryptoModule | undefined;
    try {
      module = await open(moduleNumber);
      await module.start();
      let decision: CheckpointDecision | null = null;
      if (module.state === 'idle') {
        await module.login('crypto-user');
        await registerModules(db, [module]);
        decision = await inspectModule(db, module, detectedBy);
      }
      inspected.push({ moduleNumber, status: module.status(), decision, problem: null });
    } catch (error) {
      inspected.push({
        moduleNumber,
        status: module?.status() ?? null,
        decision: null,
        problem: error instanceof Error ? error.message : String(error),
      });
    } finally {
      await module?.close();
    }
  }
  return inspected;
}

const moduleOf = (pool: ModulePool, serial: string): CryptoModule => {
  const module = pool.modules.find((candidate) => candidate.serial === serial);
  if (module === undefined)
    throw new CustodyError('custody.module_not_found', `There is no module ${serial} in this process.`);
  return module;
};

/**
 * Disaster recovery for an inhibited module: its ring restarts from the database's checkpoint,
 * the installation's record of its inhibition goes, and the audit log says so.
 */
export async function reanchorModule(
  db: Kysely<DatabaseSchema>,
  pool: ModulePool,
  serial: string,
  officerCredential: string,
): Promise<void> {
  moduleOf(pool, serial);
  const checkpoint = await moduleCheckpoint(db, serial);
  await pool.withOfficer(officerCredential, (module) => module.reanchor(checkpoint), { serial });
  await db.transaction().execute(async (trx) => {
    const cleared = await trx
      .updateTable('crypto_modules')
      .set({ inhibited_reason: null, inhibited_cause: null, inhibited_at: null })
      .where('serial', '=', serial)
      .where('inhibited_at', 'is not', null)
      .executeTakeFirst();
    await appendAuditEvents(trx, [
      {
        kind: 'vault.module_reanchored',
        moduleSerial: serial,
        details: {
          toDatabaseCheckpoint: checkpoint !== null,
          clearedRecordedInhibition: cleared.numUpdatedRows === 1n,
        },
      },
    ]);
  });
}

export interface ZeroizationReport {
  readonly serial: string;
  readonly zeroizedAt: string;
  /** Every serial of the installation on the same keys, now retired (the one named included). */
  readonly retiredSerials: readonly string[];
}

/**
 * Destroys the installation's keys through module `serial` (officer role) and retires every
 * serial that used them: their inhibitions stop counting, and a module re-initialized later gets
 * a new serial. `by` names who asked, for the audit log.
 */
export async function zeroizeModule(
  db: Kysely<DatabaseSchema>,
  pool: ModulePool,
  request: { readonly serial: string; readonly officerCredential: string; readonly by: string },
): Promise<ZeroizationReport> {
  const module = moduleOf(pool, request.serial);
  await registerModules(db, [module]);
  await pool.withOfficer(request.officerCredential, (officer) => officer.zeroize(), {
    serial: request.serial,
  });
  const zeroizedAt = module.status().zeroizedAt ?? new Date().toISOString();
  const retiredSerials = await db.transaction().execute(async (trx) => {
    const retired = await trx
      .selectFrom('crypto_modules')
      .select('serial')
      .where('backend', '=', module.backendKind)
      .where('zeroized_at', 'is', null)
      .orderBy('serial')
      .execute();
    await trx
      .updateTable('crypto_modules')
      .set({ zeroized_at: zeroizedAt, inhibited_reason: null, inhibited_cause: null, inhibited_at: null })
      .where('backend', '=', module.backendKind)
      .where('zeroized_at', 'is', null)
      .execute();
    const serials = retired.map((row) => row.serial);
    // The fingerprint of the destroyed keys: the keys an officer makes next are recorded anew (fleet/).
    await trx.deleteFrom('installation_keys').execute();
    await appendAuditEvents(trx, [
      {
        kind: 'vault.module_zeroized',
        moduleSerial: request.serial,
        details: { by: request.by, backend: module.backendKind, zeroizedAt, retiredSerials: serials },
      },
    ]);
    return serials;
  });
  pool.reviewInhibitions();
  return { serial: request.serial, zeroizedAt, retiredSerials };
}
