import type { Kysely } from 'kysely';
import { verifyAuditChain } from '../audit/index.ts';
import { createCustodyService } from '../custody/index.ts';
import { OPERATOR_MODULE_NUMBER } from '../installation/index.ts';
import { type Mills, add } from '../money/index.ts';
import { type DatabaseSchema, StoreError } from '../store/index.ts';
import type { CheckpointDecision, CryptoModule, ModulePool } from '../vault/index.ts';

/** What the copied target was found to hold on arrival, for the summary. */
export interface ArrivalCheck {
  readonly auditEvents: number;
  readonly moduleLogRecords: number;
  readonly meters: number;
  readonly packages: number;
  readonly ascendingTotal: Mills;
  readonly descendingTotal: Mills;
  readonly checkpoints: number;
  /** Modules whose ring was compared with the target's checkpoint, and found as with the source's. */
  readonly modulesInStep: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

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
async function checkRecords(
  source: Kysely<DatabaseSchema>,
  target: Kysely<DatabaseSchema>,
  pool: ModulePool,
  check: Mutable<ArrivalCheck>,
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
  check: Mutable<ArrivalCheck>,
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

/** How the check reaches the installation's modules. */
export interface ArrivalModules {
  /** The pool the check reads packages and the module log through (the operator's module). */
  readonly pool: ModulePool;
  /** Every module number of the installation, read before the copy locked the source. */
  readonly moduleNumbers: readonly number[];
  readonly open: (moduleNumber: number) => Promise<CryptoModule>;
}

/**
 * Checks the copied target beside the source, through the installation's crypto modules: the
 * audit hash chain verifies, the protected module log verifies, every sealed package opens with
 * the source's registers, the module checkpoints are the source's, and every module compares its
 * ring with the copy as with the source. Throws `store.copy_not_verified` naming what differs.
 *
 * @example const arrival = await verifyArrival(sourceDb, targetDb, { pool, moduleNumbers, open });
 */
export async function verifyArrival(
  source: Kysely<DatabaseSchema>,
  target: Kysely<DatabaseSchema>,
  modules: ArrivalModules,
): Promise<ArrivalCheck> {
  const check: Mutable<ArrivalCheck> = {
    auditEvents: 0,
    moduleLogRecords: 0,
    meters: 0,
    packages: 0,
    ascendingTotal: 0 as Mills,
    descendingTotal: 0 as Mills,
    checkpoints: 0,
    modulesInStep: 0,
  };
  await checkRecords(source, target, modules.pool, check);
  await checkModulesAgree(source, target, modules.moduleNumbers, modules.open, modules.pool, check);
  return check;
}
