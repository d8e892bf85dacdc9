import type { Config } from '../config/index.ts';
import {
  OPERATOR_MODULE_NUMBER,
  databaseTargetFor,
  hasDatabase,
  installationModuleNumbers,
  moduleOpener,
  openMigratedStore,
  openModulePool,
} from '../installation/index.ts';
import { formatUsd } from '../money/index.ts';
import { StartupError, recordDatabaseMove } from '../startup/index.ts';
import { type DatabaseCopyReport, copyDatabase, openStore, redactDatabaseUrl } from '../store/index.ts';
import { type ArrivalCheck, verifyArrival } from './arrival-check.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';
import { withEveryModuleStopped } from './installation-module.ts';

/** Whether `indicia migrate` was asked to move the database (`--to URL`) rather than to migrate it. */
export function isMoveToPostgres(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--to' || arg.startsWith('--to='));
}

function summary(
  from: string,
  to: string,
  copy: DatabaseCopyReport,
  check: ArrivalCheck,
  seconds: string,
  dataDir: string,
): string {
  const perTable = [...copy.tables]
    .sort((left, right) => left.name.localeCompare(right.name))
    .map((table) => `${table.name} ${table.rows}`)
    .join(', ');
  return [
    `Copied ${copy.tables.length} tables and ${copy.rows} rows from ${from} to ${to} in ${seconds} s (schema: ${copy.migrations.length} migrations, through ${copy.migrations.at(-1) ?? '-'}).`,
    `  ${perTable}`,
    'Verified on arrival:',
    `  row counts equal in all ${copy.tables.length} tables`,
    `  audit hash chain intact: ${check.auditEvents} event(s)`,
    `  protected module log verified through the installation's module: ${check.moduleLogRecords} record(s)`,
    `  ${check.meters} meter(s); all ${check.packages} sealed package(s) (meters' and the authority's) open in the module with the source's registers (AR ${formatUsd(check.ascendingTotal)}, DR ${formatUsd(check.descendingTotal)} in total)`,
    `  ${check.checkpoints} module checkpoint(s) identical; ${check.modulesInStep} module(s) compared their checkpoint rings with the copy and find it as they find the source`,
    'Next steps:',
    // A URL without a password is shown as given; one with a password only with it masked.
    `  1. Start the server on PostgreSQL: INDICIA_DATABASE_URL='${to}' indicia serve --data-dir ${dataDir}`,
    ...(to.includes(':***@')
      ? ['     (put the password back in place of ***, or give it in PGPASSWORD)']
      : []),
    '     (keep the same data directory: it holds the crypto modules and their checkpoint rings).',
    '  2. Run indicia reconcile with the same INDICIA_DATABASE_URL.',
    `  3. Keep ${from} only as the state before the move: never start a server on it again.`,
    '',
  ].join('\n');
}

/** Marks the data directory as moved, so nothing opens the SQLite file by mistake; says so. */
function recordMove(dataDir: string, to: string): string {
  try {
    const path = recordDatabaseMove(dataDir, { to, at: new Date().toISOString() });
    return `Recorded the move in ${path}: without INDICIA_DATABASE_URL, servers and commands on ${dataDir} now refuse to open the SQLite file.\n`;
  } catch (error) {
    return `WARNING: the move is complete, but it could not be recorded in ${dataDir} (${error instanceof Error ? error.message : String(error)}): take care that nothing starts on the SQLite file again.\n`;
  }
}

/**
 * `indicia migrate --to postgres://…`: moves this installation's SQLite database to an empty
 * PostgreSQL database, with the server and operator commands stopped, and verifies the copy
 * through the installation's crypto module before it commits.
 */
export async function migrateToCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, config } = parseSubcommand(args, { to: { type: 'string' } }, io, {
    allowPositionals: false,
  });
  const url = values['to'];
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url))
    throw new UsageError('--to needs a PostgreSQL URL, e.g. --to postgres://indicia@db.example/indicia');
  return moveToPostgres(config, url, io);
}

async function moveToPostgres(config: Config, url: string, io: CommandIo): Promise<number> {
  if (config.databaseUrl !== undefined)
    throw new UsageError(
      'the configured database is PostgreSQL already (INDICIA_DATABASE_URL / --database-url); --to moves an embedded SQLite installation: unset it',
    );
  if (!hasDatabase(config))
    throw new StartupError(
      'startup.not_installed',
      `There is no Indicia database in ${config.dataDir}: give the --data-dir of the installation to move.`,
    );
  const open = moduleOpener(config); // without the KEK (or token) this fails before anything is opened
  const from = databaseTargetFor(config);
  const to = redactDatabaseUrl(url);
  return withEveryModuleStopped(config, 'moving the database to PostgreSQL', async () => {
    const started = performance.now();
    const { store: source } = await openMigratedStore(config);
    try {
      // Read before the copy holds the source's only connection.
      const moduleNumbers = await installationModuleNumbers(config, source);
      const target = await openStore({ dialect: 'postgres', url });
      try {
        const { pool } = await openModulePool(config, {
          initializeIfEmpty: false,
          firstModuleNumber: OPERATOR_MODULE_NUMBER,
          modules: 1,
        });
        try {
          let arrival: ArrivalCheck | undefined;
          const copy = await copyDatabase(source, target, {
            verify: async ({ source: sourceDb, target: targetDb }) => {
              arrival = await verifyArrival(sourceDb, targetDb, { pool, moduleNumbers, open });
            },
          });
          if (arrival === undefined) throw new Error('the copy committed without its check on arrival');
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          io.write(
            summary(
              from.dialect === 'sqlite' ? from.file : source.location,
              to,
              copy,
              arrival,
              seconds,
              config.dataDir,
            ),
          );
          io.write(recordMove(config.dataDir, to));
          return 0;
        } finally {
          await pool.close();
        }
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  });
}
