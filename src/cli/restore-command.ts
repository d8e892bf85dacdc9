import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
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
} from '../main.ts';
import { type RecoveryGap, RecoveryError, assessGap, recordGaps, replayArchive } from '../recovery/index.ts';
import { acquireLockFile } from '../startup/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';
import { officerCredential } from './modules-command.ts';

const usage =
  'usage: indicia restore [--backup FILE] [--log-archive DIR] [--accept-gap]   (see docs/operations.md, "Restoring after losing the database")';

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

function describeGap(gap: RecoveryGap): string {
  const lines = [
    `  module ${gap.moduleSerial}: the restored log ends at record ${gap.restoredCounter ?? 'none'}, the module's own memory at ${gap.moduleCounter ?? 'none'}`,
  ];
  for (const entry of gap.transactions)
    lines.push(
      `    record ${entry.counter}: meter ${entry.meterId} ${entry.type} ${entry.amountMills} mills → AR ${entry.ascendingRegisterMills}, DR ${entry.descendingRegisterMills} (package version ${entry.packageSequence})`,
    );
  if (gap.unknownRecords > 0)
    lines.push(`    ${gap.unknownRecords} more record(s) the module no longer remembers: their meters cannot be named`);
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
  const archiveDir = typeof values['log-archive'] === 'string' ? values['log-archive'] : logArchiveDir(config);
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
    if (backup !== undefined && target.dialect === 'sqlite') placeSqliteBackup(backup, target.file);
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const releaseOperator = acquireLockFile(join(config.dataDir, OPERATOR_MODULE_LOCK));
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
          io.write(`  record ${failure.counter} of module ${failure.module}: its rows could not be written again (${failure.reason})\n`);
        io.write(`Recovery point: ${report.recoveryPoint ?? 'the backup itself (the archive holds nothing newer)'}.\n`);
        const accept = values['accept-gap'] === true;
        // Each module's own memory against the result; with --accept-gap it takes the result as the truth.
        const assess = async (modulePool: typeof pool): Promise<void> => {
          for (const module of modulePool.modules) {
            const gap = await assessGap(store.db, module);
            gaps.push(gap);
            if (gap.decision === 'inhibit' && accept)
              await createCustodyService({ db: store.db, pool: modulePool }).reanchorModule(module.serial, credential);
          }
        };
        for (const moduleNumber of await installationModuleNumbers(config, store)) {
          if (moduleNumber === OPERATOR_MODULE_NUMBER) {
            await assess(pool);
            continue;
          }
          const opened = await openModulePool(config, {
            initializeIfEmpty: false,
            firstModuleNumber: moduleNumber,
            modules: 1,
          });
          try {
            await assess(opened.pool);
          } finally {
            await opened.pool.close();
          }
        }
      } finally {
        await pool.close();
      }
      const open = gaps.filter((gap) => gap.decision === 'inhibit');
      await recordGaps(store.db, open);
      if (open.length === 0) {
        io.write('Every module agrees with the restored database: nothing was committed after the recovery point.\n');
      } else {
        io.write(`The gap: what the modules committed after the recovery point, which the restore could not bring back:\n`);
        for (const gap of open) io.write(`${describeGap(gap)}\n`);
        if (values['accept-gap'] === true) {
          io.write('Accepted (--accept-gap): the modules now take the restored database as the truth; the gap is kept in recovery_gaps, and scans of its pieces are named as such.\n');
        } else {
          io.write('Those modules stay inhibited. Settle the gap with the postal authority, then run indicia restore again with --accept-gap (docs/operations.md).\n');
        }
      }
      io.write(`Restore finished in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
      return open.length === 0 || values['accept-gap'] === true ? 0 : 1;
    } finally {
      await store.close();
      releaseOperator();
    }
  } finally {
    releaseServer();
  }
}
