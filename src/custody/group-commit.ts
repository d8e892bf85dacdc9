import type { Kysely, Transaction } from 'kysely';
import { type AuditEventInput, appendAuditEvents } from '../audit/index.ts';
import { type CommitParticipant, type DatabaseSchema, captureWrites } from '../store/index.ts';
import type {
  CheckpointRecord,
  CommandOutcome,
  CryptoModule,
  GroupRequest,
  GroupResult,
  ModuleCommand,
  ModulePool,
} from '../vault/index.ts';
import { VaultError } from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';
import {
  appendModuleLog,
  recoveryEvents,
  refusalEvents,
  storePackages,
  transactionEvent,
} from './group-records.ts';
import {
  durableModuleCheckpoint,
  moduleCheckpoint,
  recordInhibition,
  recordedInhibitions,
} from './installation-modules.ts';
import type { KnownSequences } from './known-sequences.ts';
import type { CommitWrites, MeterSerialization, PackageRow } from './package-locks.ts';

/** A command the database has durably committed, with the checkpoint record that holds it. */
export interface CommittedCommand extends CommandOutcome {
  readonly record: CheckpointRecord;
  readonly checkpoint: Buffer;
}

/** A waiting command and the caller waiting for it. */
export interface Job {
  readonly meterIds: readonly string[];
  /** One command, or several that stand or fall together (a transfer between two PSDs). */
  readonly commands: readonly ModuleCommand[];
  readonly withinCommit:
    ((trx: Transaction<DatabaseSchema>, results: CommittedCommand[]) => Promise<void>) | undefined;
  /** Taken from the caller's context when queued: it joins the commit (an idempotency key's outcome). */
  readonly participant: CommitParticipant | undefined;
  readonly resolve: (results: CommittedCommand[]) => void;
  readonly reject: (error: unknown) => void;
}

/** How a group's commands came out: every result of a job, or its first refusal. */
type Settled = { readonly job: Job } & (
  | { readonly error: unknown; readonly results: null }
  | { readonly error: null; readonly results: CommittedCommand[] }
);

/** What a group pass gave, back outside the transaction that held its meters. */
type Pass =
  | { readonly kind: 'empty' }
  | { readonly kind: 'module-failed'; readonly error: unknown }
  | {
      readonly kind: 'done';
      readonly settled: readonly Settled[];
      readonly committed: GroupResult['committed'];
      readonly refusals: AuditEventInput[];
    };

export interface GroupCommitDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly pool: ModulePool;
  readonly serialization: MeterSerialization;
  readonly knownSequences: KnownSequences;
}

export interface GroupCommitter {
  /** One group: module pass, one database transaction, then every caller hears back. Never throws. */
  commitGroup(module: CryptoModule, group: readonly Job[]): Promise<void>;
  refreshInhibitions(): Promise<void>;
  counts(): GroupCommitCounts;
}

/** Group commit's figures since start (for metrics and the farm benchmark). */
export interface GroupCommitCounts {
  readonly groups: number;
  readonly commands: number;
  /** Time spent taking the meters' locks (PostgreSQL), and takings that waited for another group. */
  readonly lockedMs: number;
  readonly lockWaits: number;
  /** Groups passed again after a compare-and-swap or deadlock refusal, rather than refused. */
  readonly conflictRetries: number;
}

/** How stale this process's view of the installation's inhibitions may be when a group starts. */
const INHIBITIONS_REFRESH_MS = 1_000;
/** Passes of one group that a conflicting writer may undo before its callers hear of it. */
const CONFLICT_ATTEMPTS = 4;
/** PostgreSQL refusals a new pass of the group answers (deadlock, serialization). */
const RETRIED_SQLSTATES = new Set(['40P01', '40001']);

const meterOf = (command: ModuleCommand): string => command.meterId;

/** A refusal another writer caused: the group's next pass reads the packages again. */
const isConflict = (error: unknown): boolean =>
  (error instanceof CustodyError && error.code === 'custody.concurrent_update') ||
  (typeof error === 'object' &&
    error !== null &&
    RETRIED_SQLSTATES.has(String((error as { code?: unknown }).code)));

/** What an inhibition lost, for the audit log: the module's own list, when it gave one. */
const inhibitionDetails = (error: VaultError): Record<string, unknown> =>
  error.details === undefined ? {} : { ...error.details };

/** Stores the module's new checkpoint, refusing if another writer moved it meanwhile. */
async function storeCheckpoint(
  trx: Transaction<DatabaseSchema>,
  module: CryptoModule,
  previous: Buffer | null,
  next: Buffer,
  now: string,
): Promise<void> {
  const checkpoint = next.toString('base64');
  const moved = new CustodyError(
    'custody.concurrent_update',
    `Module ${module.serial}'s checkpoint changed during the command.`,
  );
  if (previous === null) {
    const existing = await trx
      .selectFrom('crypto_modules')
      .select('checkpoint')
      .where('serial', '=', module.serial)
      .executeTakeFirst();
    if (existing !== undefined && existing.checkpoint !== null) throw moved;
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
  if (updated.numUpdatedRows !== 1n) throw moved;
}

/** Each job's outcomes: all its commands' results, or the first refusal among them. */
function settle(jobs: readonly Job[], result: GroupResult): Settled[] {
  const { committed } = result;
  let next = 0;
  return jobs.map((job): Settled => {
    const own = result.outcomes.slice(next, next + job.commands.length);
    next += job.commands.length;
    for (const outcome of own) if (!outcome.ok) return { job, error: outcome.error, results: null };
    if (committed === null || own.length !== job.commands.length)
      return {
        job,
        error: new VaultError('vault.wrong_state', 'The module skipped a command.'),
        results: null,
      };
    const results = own.flatMap((outcome) =>
      outcome.ok ? [{ ...outcome.outcome, record: committed.record, checkpoint: committed.checkpoint }] : [],
    );
    return { job, error: null, results };
  });
}

/**
 * Group commit: one module processes a group of waiting commands in one pass, and the group
 * commits — every new package, the module checkpoint naming every transaction, each caller's own
 * writes, the audit events — in one database transaction before any caller hears back. The
 * meters' packages are read under the database's per-meter serialization (package-locks.ts).
 */
export function createGroupCommitter({
  db,
  pool,
  serialization,
  knownSequences,
}: GroupCommitDependencies): GroupCommitter {
  // Modules whose last group here did not fail. The others, and each module at its first group,
  // read their checkpoint durably (durableModuleCheckpoint) before the module relies on it.
  const settledModules = new Set<string>();
  const commits = { groups: 0, commands: 0, conflictRetries: 0 };
  let inhibitionsReadAt = 0;

  const refreshInhibitions = async (): Promise<void> => {
    inhibitionsReadAt = Date.now();
    pool.noteRecordedInhibitions(await recordedInhibitions(db));
    pool.reviewInhibitions();
  };

  /** After a pass that committed nothing: audit what auto-recovery discarded, and an inhibition. */
  const auditFailure = async (
    module: CryptoModule,
    error: unknown,
    refusals: readonly AuditEventInput[] = [],
  ): Promise<void> => {
    const events = [...recoveryEvents(module.serial, module.takeUnreportedRecoveries()), ...refusals];
    if (error instanceof VaultError && error.code === 'vault.module_inhibited') {
      events.push({
        kind: 'vault.module_inhibited',
        moduleSerial: module.serial,
        details: { reason: error.message, ...inhibitionDetails(error) },
      });
    }
    const inhibited = module.status().inhibited;
    if (events.length === 0 && inhibited === null) return;
    await db.transaction().execute(async (trx) => {
      // Every process of the installation counts it; the event above says what was lost.
      if (inhibited !== null) await recordInhibition(trx, module, inhibited);
      await appendAuditEvents(trx, events);
    });
  };

  /**
   * The jobs the stored packages let run, and those packages; jobs naming a missing meter (or
   * creating an existing one), or a meter whose row was put back, are refused at once.
   */
  const runnableJobs = (
    jobs: readonly Job[],
    rows: readonly PackageRow[],
    isDatabaseSuspect: boolean,
  ): { runnable: Job[]; packages: GroupRequest['packages']; replayed: VaultError[] } => {
    const commands = jobs.flatMap((job) => job.commands);
    const stored = new Set(rows.map((row) => row.meter_id));
    const created = new Set(commands.filter((command) => command.kind === 'create').map(meterOf));
    const replayed = new Map<string, VaultError>();
    // A database the module cannot account for at all is the module's to refuse (it inhibits).
    for (const row of isDatabaseSuspect ? [] : rows) {
      const refusal = knownSequences.replayedRow(row.meter_id, row.sequence);
      if (refusal !== null) replayed.set(row.meter_id, refusal);
    }
    const runnable: Job[] = [];
    for (const job of jobs) {
      const refusal = job.commands.map((command) => replayed.get(command.meterId)).find(Boolean);
      const duplicate = job.commands.find(
        (command) => command.kind === 'create' && stored.has(command.meterId),
      );
      const missing = job.commands.find(
        (command) =>
          command.kind !== 'create' && !stored.has(command.meterId) && !created.has(command.meterId),
      );
      if (refusal !== undefined) job.reject(refusal);
      else if (duplicate !== undefined)
        job.reject(new CustodyError('custody.meter_exists', `Meter ${duplicate.meterId} already exists.`));
      else if (missing !== undefined)
        job.reject(new CustodyError('custody.meter_not_found', `There is no meter ${missing.meterId}.`));
      else runnable.push(job);
    }
    const packages = rows
      .filter((row) => !replayed.has(row.meter_id))
      .map((row) => ({
        sealedPackage: Buffer.from(row.sealed, 'base64'),
        expected: { meterId: row.meter_id, sequence: row.sequence },
      }));
    return { runnable, packages, replayed: [...replayed.values()] };
  };

  /** Writes a committed group: packages, callers' rows, checkpoint, module log, audit events. */
  const writeGroup = async (
    trx: Transaction<DatabaseSchema>,
    module: CryptoModule,
    previous: Buffer | null,
    committed: NonNullable<GroupResult['committed']>,
    settled: readonly Settled[],
    refusals: readonly AuditEventInput[],
  ): Promise<void> => {
    const now = new Date().toISOString();
    await storePackages(trx, committed.packages, now);
    const events = recoveryEvents(module.serial, committed.recovered?.discarded ?? []);
    events.push(...refusals);
    // What the callers write is recorded too: a restore writes the same rows again.
    const { trx: recorded, statements } = captureWrites(trx);
    for (const { job, results } of settled) {
      if (results === null) continue;
      await job.withinCommit?.(recorded, results);
      await job.participant?.(
        recorded,
        results.map(({ transaction }) => transaction),
      );
      events.push(...results.map((outcome) => transactionEvent(committed.record, outcome)));
    }
    await storeCheckpoint(trx, module, previous, committed.checkpoint, now);
    await appendModuleLog(trx, committed.record, committed.checkpoint, now, {
      packages: committed.packages,
      statements,
    });
    await appendAuditEvents(trx, events, { chain: module.serial });
  };

  const commitGroup = async (module: CryptoModule, group: readonly Job[]): Promise<void> => {
    let jobs: Job[] = [...group];
    try {
      // Another process's inhibited module may have stopped the installation meanwhile.
      if (Date.now() - inhibitionsReadAt > INHIBITIONS_REFRESH_MS) await refreshInhibitions();
      pool.assertServing(module);
      let databaseCheckpoint = settledModules.has(module.serial)
        ? await moduleCheckpoint(db, module.serial)
        : await durableModuleCheckpoint(db, module.serial);
      // A checkpoint the module would discard a record for, or inhibit over, is read again the
      // same way: an old primary its keeper restarted answers for a while after a failover.
      if (
        settledModules.has(module.serial) &&
        module.checkpointAgreement(databaseCheckpoint).kind !== 'proceed'
      )
        databaseCheckpoint = await durableModuleCheckpoint(db, module.serial);
      settledModules.add(module.serial);
      const meterIds = [...new Set(jobs.flatMap((job) => job.commands.map(meterOf)))].sort();
      let replayed: VaultError[] = [];
      const pass = async (rows: readonly PackageRow[], commit: CommitWrites): Promise<Pass> => {
        const sorted = runnableJobs(
          jobs,
          rows,
          module.checkpointAgreement(databaseCheckpoint).kind === 'inhibit',
        );
        jobs = sorted.runnable;
        replayed = sorted.replayed;
        if (jobs.length === 0) return { kind: 'empty' };
        let result: GroupResult;
        try {
          result = await module.executeGroup({
            databaseCheckpoint,
            packages: sorted.packages,
            commands: jobs.flatMap((job) => job.commands),
            units: jobs.flatMap((job, index) => job.commands.map(() => index)),
          });
        } catch (error) {
          return { kind: 'module-failed', error };
        }
        const settled = settle(jobs, result);
        const refusals = refusalEvents(
          module.serial,
          settled.map((entry) => entry.error),
        );
        const { committed } = result;
        if (committed !== null)
          await commit((trx) => writeGroup(trx, module, databaseCheckpoint, committed, settled, refusals));
        return { kind: 'done', settled, committed, refusals };
      };
      let outcome: Pass;
      for (let attempt = 1; ; attempt += 1) {
        try {
          outcome = await serialization.withPackages(meterIds, pass);
          break;
        } catch (error) {
          // The module signed a record the rollback undid: its next pass discards it (auto-recovery).
          if (!isConflict(error) || attempt >= CONFLICT_ATTEMPTS || jobs.length === 0) throw error;
          commits.conflictRetries += 1;
        } finally {
          if (replayed.length > 0) {
            const events = refusalEvents(null, replayed);
            replayed = [];
            await db.transaction().execute((trx) => appendAuditEvents(trx, events));
          }
        }
      }
      if (outcome.kind === 'empty') return;
      if (outcome.kind === 'module-failed') {
        await auditFailure(module, outcome.error);
        throw outcome.error;
      }
      const { settled, committed, refusals } = outcome;
      if (committed === null) {
        await auditFailure(module, null, refusals);
      } else {
        commits.groups += 1;
        commits.commands += committed.record.transactions.length;
        for (const stored of committed.packages) knownSequences.remember(stored.meterId, stored.sequence);
        // The module remembers the commit before anything leaves: a database later rolled back
        // past this record makes it inhibit, never sign these register values again.
        await module.confirmCommitted(committed.record.counter);
      }
      // Durable: now, and only now, every caller hears back.
      for (const { job, error, results } of settled) {
        if (results === null) job.reject(error);
        else job.resolve(results);
      }
    } catch (error) {
      // A protected log that does not verify as written stops the writer: nothing more is signed.
      if (error instanceof CustodyError && error.code === 'custody.module_log_broken')
        pool.stop(error.message);
      if (!(error instanceof CustodyError && error.code === 'custody.meter_busy'))
        settledModules.delete(module.serial);
      for (const job of jobs) job.reject(error);
    }
  };

  return {
    commitGroup,
    refreshInhibitions,
    counts: () => ({
      ...commits,
      lockedMs: serialization.waits.lockedMs,
      lockWaits: serialization.waits.waited,
    }),
  };
}
