import type { Kysely } from 'kysely';
import { verifyAuditChain } from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import { createCustodyService } from '../custody/index.ts';
import {
  OPERATOR_MODULE_NUMBER,
  databaseTargetFor,
  hasDatabase,
  installationModuleNumbers,
  moduleOpener,
  openMigratedStore,
  openModulePool,
} from '../main.ts';
import { type Mills, add, formatUsd } from '../money/index.ts';
import { StartupError, recordDatabaseMove } from '../startup/index.ts';
import {
  type DatabaseCopyReport,
  type DatabaseSchema,
  StoreError,
  copyDatabase,
  openStore,
  redactDatabaseUrl,
} from '../store/index.ts';
import type { CheckpointDecision, CryptoModule, ModulePool } from '../vault/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';
import { withEveryModuleStopped } from './installation-module.ts';

/** What the target was checked for on arrival, for the summary. */
interface ArrivalCheck {
  auditEvents: number;
  moduleLogRecords: number;
  meters: number;
  packages: number;
  ascendingTotal: Mills;
  descendingTotal: Mills;
  checkpoints: number;
  /** Modules whose ring was compared with the target's checkpoint, and found as with the source's. */
  modulesInStep: number;
}

/** Whether `indicia migrate` was asked to move the database (`--to URL`) rather than to migrate it. */
export function isMoveToPostgres(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--to' || arg.startsWith('--to='));
}

function notVerified(message: string): StoreError {
  return new StoreError(
    'store.copy_not_verified',
    `${message}. Nothing was kept on the target (the copy was rolled back).`,
  );
}

/**
 * On the copied target, inside its transaction and beside the locked source: the audit chain
 * verifies, the protected module log verifies through a module, every package opens in the
 * module with the source's registers, and the module checkpoints are the source's.
 */
async function checkArrival(
  source: Kysely<DatabaseSchema>,
  target: Kysely<DatabaseSchema>,
  pool: ModulePool,
  check: ArrivalCheck,
): Promise<void> {
  const [sourceChain, targetChain] = [await verifyAuditChain(source), await verifyAuditChain(target)];
  if (!sourceChain.isIntact)
    throw notVerified(
      `the source's audit chain is broken at event ${sourceChain.firstBrokenSequence ?? '?'}: investigate (indicia reconcile) before moving it`,
    );
  if (!targetChain.isIntact || targetChain.events !== sourceChain.events)
    throw notVerified(
      `the copied audit chain does not verify (${targetChain.events} of ${sourceChain.events} event(s), broken at ${targetChain.firstBrokenSequence ?? '-'})`,
    );
  check.auditEvents = targetChain.events;

  const sourceCustody = createCustodyService({ db: source, pool });
  const targetCustody = createCustodyService({ db: target, pool });
  const [sourceLog, targetLog] = [
    await sourceCustody.verifyModuleLog(),
    await targetCustody.verifyModuleLog(),
  ];
  const problems = [...targetLog.chainProblems, ...targetLog.mismatches.map((mismatch) => mismatch.reason)];
  if (problems.length > 0) {
    const where = sourceLog.chainProblems.length + sourceLog.mismatches.length > 0 ? 'source' : 'copied';
    throw notVerified(
      `the ${where} protected module log does not verify: ${problems.slice(0, 3).join('; ')}`,
    );
  }
  if (targetLog.records !== sourceLog.records)
    throw notVerified(
      `the copied module log has ${targetLog.records} record(s), the source ${sourceLog.records}`,
    );
  check.moduleLogRecords = targetLog.records;

  const packages = await source.selectFrom('psd_packages').select('meter_id').orderBy('meter_id').execute();
  for (const { meter_id: meterId } of packages) {
    const before = await sourceCustody.readMeter(meterId);
    let after;
    try {
      after = await targetCustody.readMeter(meterId);
    } catch (error) {
      throw notVerified(
        `meter ${meterId}'s copied package does not open in module ${pool.modules[0]?.serial ?? ''}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const registers = (view: typeof before): string =>
      [
        view.sequence,
        view.state,
        view.ascendingRegister,
        view.descendingRegister,
        view.maxDescendingRegister,
        view.refundRegister,
      ].join(' ');
    if (registers(before) !== registers(after))
      throw notVerified(
        `meter ${meterId}'s copied package differs (sequence, state, AR, DR, max DR, refund: ${registers(after)} instead of ${registers(before)})`,
      );
    check.ascendingTotal = add(check.ascendingTotal, after.ascendingRegister);
    check.descendingTotal = add(check.descendingTotal, after.descendingRegister);
  }
  check.packages = packages.length;
  check.meters = (await target.selectFrom('meters').select('meter_id').execute()).length;

  const checkpoints = async (db: Kysely<DatabaseSchema>): Promise<string> =>
    JSON.stringify(
      await db.selectFrom('crypto_modules').select(['serial', 'checkpoint']).orderBy('serial').execute(),
    );
  const [sourceCheckpoints, targetCheckpoints] = [await checkpoints(source), await checkpoints(target)];
  if (sourceCheckpoints !== targetCheckpoints)
    throw notVerified("the copied module checkpoints are not the source's");
  check.checkpoints = (JSON.parse(targetCheckpoints) as unknown[]).length;
}

const checkpointOf = async (db: Kysely<DatabaseSchema>, serial: string): Promise<Buffer | null> => {
  const row = await db
    .selectFrom('crypto_modules')
    .select('checkpoint')
    .where('serial', '=', serial)
    .executeTakeFirst();
  return row?.checkpoint === undefined || row.checkpoint === null
    ? null
    : Buffer.from(row.checkpoint, 'base64');
};

const decisionText = (decision: CheckpointDecision): string =>
  decision.kind === 'proceed'
    ? 'in step'
    : decision.kind === 'recover'
      ? `${decision.discardCount} record(s) ahead`
      : `inhibit: ${decision.reason}`;

/**
 * Each module of the installation compares its own checkpoint ring with the target's module
 * table, as the server does at start, and must find what it finds with the source's. Reads only.
 */
async function checkModulesAgree(
  source: Kysely<DatabaseSchema>,
  target: Kysely<DatabaseSchema>,
  moduleNumbers: readonly number[],
  open: (moduleNumber: number) => Promise<CryptoModule>,
  pool: ModulePool,
  check: ArrivalCheck,
): Promise<void> {
  for (const moduleNumber of moduleNumbers) {
    const own = moduleNumber === OPERATOR_MODULE_NUMBER ? pool.modules[0] : undefined;
    const module = own ?? (await open(moduleNumber));
    try {
      if (own === undefined) {
        await module.start();
        // A zeroized or failed module signs nothing on either database.
        if (module.state !== 'idle') continue;
        await module.login('crypto-user');
      }
      const before = await module.inspect(() => checkpointOf(source, module.serial));
      const after = await module.inspect(() => checkpointOf(target, module.serial));
      if (decisionText(before) !== decisionText(after))
        throw notVerified(
          `module ${module.serial} finds the copied checkpoint ${decisionText(after)}, the source's ${decisionText(before)}`,
        );
      check.modulesInStep += 1;
    } finally {
      if (own === undefined) await module.close();
    }
  }
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
    `  1. Start the server on PostgreSQL: INDICIA_DATABASE_URL='<the URL you gave, with its password>' indicia serve --data-dir ${dataDir}`,
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
          const check: ArrivalCheck = {
            auditEvents: 0,
            moduleLogRecords: 0,
            meters: 0,
            packages: 0,
            ascendingTotal: 0 as Mills,
            descendingTotal: 0 as Mills,
            checkpoints: 0,
            modulesInStep: 0,
          };
          const copy = await copyDatabase(source, target, {
            verify: async ({ source: sourceDb, target: targetDb }) => {
              await checkArrival(sourceDb, targetDb, pool, check);
              await checkModulesAgree(sourceDb, targetDb, moduleNumbers, open, pool, check);
            },
          });
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          io.write(
            summary(
              from.dialect === 'sqlite' ? from.file : source.location,
              to,
              copy,
              check,
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
