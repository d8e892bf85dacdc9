import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { backupBackendFor } from '../backup/index.ts';
import { createCustodyService } from '../custody/index.ts';
import { SHIPMENT_KEY_LABEL, readArchive } from '../log-shipping/index.ts';
import {
  OPERATOR_MODULE_LOCK,
  OPERATOR_MODULE_NUMBER,
  databaseTargetFor,
  installationModuleNumbers,
  logArchiveDir,
  openMigratedStore,
  openModulePool,
  takeServerModulesLock,
} from '../installation/index.ts';
import {
  type RecoveryGap,
  RecoveryError,
  assessGap,
  recordGaps,
  replayArchive,
  settleGaps,
} from '../recovery/index.ts';
import { type ModulePool, VaultError } from '../vault/index.ts';
import { acquireLockFile } from '../startup/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';
import { officerCredential } from './modules-command.ts';

const usage =
  'usage: indicia restore [--backup FILE|ID|latest] [--log-archive DIR] [--accept-gap]   (see docs/operations.md, "Restoring after losing the database")';

/** Puts a SQLite backup file where the configured database goes, after checking it opens whole. */
function placeSqliteBackup(backup: string, target: string): void {
  if (existsSync(target))
    throw new RecoveryError(
      'recovery.database_exists',
      `There is a database at ${target} already. A restore never overwrites one: move it away (keep it for the investigation), then restore again.`,
    );
  if (!existsSync(backup))
    throw new RecoveryError('recovery.backup_invalid', `There is no backup file ${backup}.`);
  try {
    const check = new DatabaseSync(backup, { readOnly: true });
    try {
      const [row] = check.prepare('pragma integrity_check').all() as { integrity_check: string }[];
      if (row?.integrity_check !== 'ok') throw new Error(row?.integrity_check ?? 'no answer');
    } finally {
      check.close();
    }
  } catch (error) {
    throw new RecoveryError(
      'recovery.backup_invalid',
      `The backup ${backup} is not a whole SQLite database (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  copyFileSync(backup, target);
}

/**
 * The anchor writer remembers its newest audit anchor outside the database (a deleted anchor shows
 * so); a restored database is older on purpose, so that memory is set aside, kept for the record.
 */
function setAnchorMemoryAside(dataDir: string, io: CommandIo): void {
  const memory = join(dataDir, 'audit-anchor.json');
  if (!existsSync(memory)) return;
  const aside = `${memory}.before-restore-${new Date().toISOString().replaceAll(':', '-')}`;
  renameSync(memory, aside);
  io.write(`The audit anchor writer's memory of the lost database was set aside as ${aside}.\n`);
}

function describeGap(gap: RecoveryGap): string {
  const lines = [
    `  module ${gap.moduleSerial}: the restored log ends at record ${gap.restoredCounter ?? 'none'}, the module's own memory at ${gap.moduleCounter ?? 'none'}`,
  ];
  for (const entry of gap.transactions)
    lines.push(
      `    record ${entry.counter}: meter ${entry.meterId} ${entry.type} ${entry.amountMills} mills → AR ${entry.ascendingRegisterMills}, DR ${entry.descendingRegisterMills} (package version ${entry.packageSequence})`,
    );
  if (gap.unknownRecords > 0)
    lines.push(
      `    ${gap.unknownRecords} more record(s) the module no longer remembers: their meters cannot be named`,
    );
  return lines.join('\n');
}

/**
 * `indicia restore`: puts a backup in place (SQLite; PostgreSQL is restored with pgBackRest
 * first), replays the shipped protected log through a crypto module, then compares every module's
 * own memory with the result and lists what was committed after the last shipped record (the gap).
 */
export async function restoreCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, config } = parseSubcommand(
    args,
    { backup: { type: 'string' }, 'log-archive': { type: 'string' }, 'accept-gap': { type: 'boolean' } },
    io,
    { allowPositionals: false },
  );
  const started = performance.now();
  const backup = typeof values['backup'] === 'string' ? values['backup'] : undefined;
  const archiveDir =
    typeof values['log-archive'] === 'string' ? values['log-archive'] : logArchiveDir(config);
  const target = databaseTargetFor(config);
  if (backup !== undefined && target.dialect !== 'sqlite')
    throw new UsageError(
      `--backup is for SQLite; restore PostgreSQL with pgBackRest first (docs/operations.md), then run indicia restore --log-archive ${archiveDir}. ${usage}`,
    );
  const releaseServer = takeServerModulesLock(
    config.dataDir,
    'the server is running on this data directory: stop it before restoring',
  );
  try {
    if (backup !== undefined && target.dialect === 'sqlite') {
      if (existsSync(backup) || backup.includes('/')) placeSqliteBackup(backup, target.file);
      else {
        // A backup id (or `latest`) of the installation's backups (INDICIA_BACKUP_DIR).
        if (existsSync(target.file))
          throw new RecoveryError(
            'recovery.database_exists',
            `There is a database at ${target.file} already. A restore never overwrites one: move it away (keep it for the investigation), then restore again.`,
          );
        const restored = await backupBackendFor(config, target.file).restore(backup, target.file);
        io.write(`Restored backup ${restored.backupId} (taken ${restored.takenAt}) to ${target.file}.\n`);
      }
    }
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const releaseOperator = acquireLockFile(join(config.dataDir, OPERATOR_MODULE_LOCK));
    setAnchorMemoryAside(config.dataDir, io);
    const { store } = await openMigratedStore(config);
    try {
      const credential = await officerCredential(config);
      const { pool } = await openModulePool(config, {
        initializeIfEmpty: false,
        firstModuleNumber: OPERATOR_MODULE_NUMBER,
        modules: 1,
      });
      const gaps: RecoveryGap[] = [];
      try {
        const key = await pool.withModule((module) => module.services.deriveSecret(SHIPMENT_KEY_LABEL));
        const archive = readArchive(archiveDir, key);
        const report = await pool.withOfficer(credential, (module) =>
          replayArchive(store.db, module, archive, store.dialect),
        );
        io.write(
          `Replayed the log archive ${archiveDir}: ${archive.shipments} shipment(s), ${report.records} record(s); ${report.present} already in the restored database, ${report.replayed} re-applied (${report.movements} movements) in ${report.seconds.toFixed(1)} s.\n`,
        );
        for (const failure of report.rowFailures)
          io.write(
            `  record ${failure.counter} of module ${failure.module}: its rows could not be written again (${failure.reason})\n`,
          );
        io.write(
          `Recovery point: ${report.recoveryPoint ?? 'the backup itself (the archive holds nothing newer)'}.\n`,
        );
        // Each module's own memory against the result.
        const forEachModule = async (work: (modulePool: ModulePool) => Promise<void>): Promise<void> => {
          for (const moduleNumber of await installationModuleNumbers(config, store)) {
            if (moduleNumber === OPERATOR_MODULE_NUMBER) {
              await work(pool);
              continue;
            }
            const opened = await openModulePool(config, {
              initializeIfEmpty: false,
              firstModuleNumber: moduleNumber,
              modules: 1,
            });
            try {
              await work(opened.pool);
            } finally {
              await opened.pool.close();
            }
          }
        };
        await forEachModule(async (modulePool) => {
          for (const module of modulePool.modules) gaps.push(await assessGap(store.db, module));
        });
        const open = gaps.filter((gap) => gap.decision === 'inhibit');
        if (open.length === 0) {
          io.write(
            'Every module agrees with the restored database: nothing was committed after the recovery point.\n',
          );
          return 0;
        }
        io.write('The gap: what the modules committed after the recovery point, beyond the shipped log:\n');
        for (const gap of open) io.write(`${describeGap(gap)}\n`);
        let unsettled: string | null = open.every((gap) => gap.covered)
          ? null
          : 'the modules no longer remember every record after the recovery point';
        if (unsettled === null) {
          try {
            const settlement = await pool.withOfficer(credential, (module) =>
              settleGaps(
                store.db,
                module,
                open.map((gap) => ({ serial: gap.moduleSerial, covered: gap.covered, records: gap.records })),
              ),
            );
            io.write(
              `Settled from the modules' own memory: ${settlement.records.length} record(s) added to the log, ${settlement.packages.length} meter(s) brought level with what they printed and were funded after the recovery point. Their devices sign again after fetching their current challenge.\n`,
            );
          } catch (error) {
            if (!(error instanceof VaultError && error.code === 'vault.gap_unsettleable')) throw error;
            unsettled = error.message;
          }
        }
        await recordGaps(store.db, open, unsettled === null ? 'settled' : 'open');
        if (unsettled === null) return 0;
        io.write(`The gap cannot be settled: ${unsettled}.\n`);
        if (values['accept-gap'] !== true) {
          io.write(
            'Those modules stay inhibited. Settle the gap with the postal authority, then run indicia restore again with --accept-gap (docs/operations.md).\n',
          );
          return 1;
        }
        const serials = new Set(open.map((gap) => gap.moduleSerial));
        await forEachModule(async (modulePool) => {
          for (const module of modulePool.modules)
            if (serials.has(module.serial))
              await createCustodyService({ db: store.db, pool: modulePool }).reanchorModule(
                module.serial,
                credential,
              );
        });
        io.write(
          'Accepted (--accept-gap): the modules now take the restored database as the truth; the gap is kept in recovery_gaps, and scans of its pieces are named as such.\n',
        );
        return 0;
      } finally {
        await pool.close();
        io.write(`Restore finished in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
      }
    } finally {
      await store.close();
      releaseOperator();
    }
  } finally {
    releaseServer();
  }
}
