import type { Kysely, Transaction } from 'kysely';
import { type AuditEventInput, appendAuditEvents } from '../audit/index.ts';
import {
  type CommitParticipant,
  type DatabaseSchema,
  captureWrites,
  currentCommitParticipant,
} from '../store/index.ts';
import type {
  CheckpointDecision,
  CheckpointRecord,
  ClientAuthorization,
  EnrollmentRequest,
  OpenedEnrollment,
  CommandOutcome,
  CommandStep,
  CryptoModule,
  GroupRequest,
  GroupResult,
  ModuleCommand,
  ModulePool,
  NewPackageRequest,
  PoolStatus,
  PsdView,
} from '../vault/index.ts';
import { MAX_GROUP_COMMANDS, VaultError } from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';
import { GroupQueue } from './group-queue.ts';
import { type ModuleLogReport, verifyModuleLog } from './module-log.ts';
import {
  type InstallationModule,
  type ZeroizationReport,
  durableModuleCheckpoint,
  listInstallationModules,
  moduleCheckpoint as readModuleCheckpoint,
  reanchorModule,
  recordInhibition,
  recordModuleInhibition,
  recordedInhibitions,
  registerModules,
  zeroizeModule,
} from './installation-modules.ts';
import {
  appendModuleLog,
  recoveryEvents,
  refusalEvents,
  storePackages,
  transactionEvent,
} from './group-records.ts';

export interface CustodyDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly pool: ModulePool;
}

/** A command the database has durably committed, with the checkpoint record that holds it. */
export interface CommittedCommand extends CommandOutcome {
  readonly record: CheckpointRecord;
  readonly checkpoint: Buffer;
}

/** Work the caller adds to the same database transaction (an indicium record, a receipt). */
export type WithinCommit = (trx: Transaction<DatabaseSchema>, result: CommittedCommand) => Promise<void>;

export interface RotationReport {
  readonly version: number;
  readonly resealed: number;
  readonly minimumKeyVersion: number;
}

export interface CustodyService {
  /** MeterGen's module step: a new PSD package and key pair, committed with its checkpoint. */
  createMeterPackage(request: Omit<NewPackageRequest, 'databaseCheckpoint'>): Promise<CommittedCommand>;
  /**
   * Runs a command on a meter's package; the result returns only after the commit is durable. With
   * an enrolled device's `authorization`, the module checks it first (client-protocol.ts).
   */
  execute(
    meterId: string,
    steps: readonly CommandStep[],
    withinCommit?: WithinCommit,
    authorization?: ClientAuthorization,
  ): Promise<CommittedCommand>;
  /** The device-enrollment public key (SPKI DER) clients pin. */
  enrollmentPublicKey(): Promise<Buffer>;
  /** Decrypts a device's enrollment in a module: its HMK, and the module's confirmation. */
  openEnrollment(request: EnrollmentRequest): Promise<OpenedEnrollment>;
  /** A secret derived under a module's control key for `label` (webhook signing keys); never stored. */
  deriveSecret(label: string): Promise<Buffer>;
  /**
   * Commands on several meters that stand or fall together, in one module pass and one commit
   * (a master PSD funding a mini-PSD); results in the order given.
   */
  executeTogether(
    commands: readonly {
      readonly meterId: string;
      readonly steps: readonly CommandStep[];
      /** A device's signed request, checked by the module on this command's package. */
      readonly authorization?: ClientAuthorization | undefined;
    }[],
    withinCommit?: (trx: Transaction<DatabaseSchema>, results: CommittedCommand[]) => Promise<void>,
  ): Promise<CommittedCommand[]>;
  readMeter(meterId: string): Promise<PsdView>;
  /** A new signing key pair for the meter, made in a module; its certificate serial is cleared. */
  replaceSigningKey(meterId: string, options?: { keyValidityDays?: number }): Promise<CommittedCommand>;
  /** Adds a master key version, re-seals every package under it, optionally retires older ones. */
  rotateMasterKey(
    officerCredential: string,
    options?: { retireOlderVersions?: boolean },
  ): Promise<RotationReport>;
  /**
   * Disaster recovery for an inhibited module of this process: take the database's checkpoint as
   * the truth; the installation's record of its inhibition goes too.
   */
  reanchorModule(serial: string, officerCredential: string): Promise<void>;
  /**
   * Destroys the installation's keys through module `serial` of this process (officer role):
   * every sealed package becomes unreadable, and this process stops serving. `by` is for the audit log.
   */
  zeroizeModule(serial: string, officerCredential: string, by: string): Promise<ZeroizationReport>;
  resumeService(): Promise<void>;
  /**
   * Registers this process's modules in the module table and compares each one's ring with the
   * database before the first command (at start): a module the database cannot account for
   * inhibits now, the installation's record and the audit log say why, and the inhibitions of the
   * whole installation are counted. `verifyLog: false` skips the module log's check.
   */
  assessModules(options?: { readonly verifyLog?: boolean }): Promise<ModuleAssessment>;
  /**
   * Reads the installation's recorded inhibitions (every process's) into the pool, which stops
   * the service when they reach the threshold. Commands do it at most once a second by themselves.
   */
  refreshInstallationInhibitions(): Promise<void>;
  /** Every module the installation has had, from the module table. */
  installationModules(): Promise<InstallationModule[]>;
  /**
   * Checks the protected module log and every package against it (module-log.ts); meters whose
   * package is not the newest logged version are refused from now on, before any signature.
   */
  verifyModuleLog(): Promise<ModuleLogReport>;
  status(): PoolStatus;
  /** Groups committed so far and the commands they held (group commit's batching, for figures). */
  groupCommits(): { readonly groups: number; readonly commands: number };
}

/** What the start-up comparison found: each module's decision, and the module log's check. */
export interface ModuleAssessment {
  readonly modules: readonly { readonly serial: string; readonly decision: CheckpointDecision }[];
  /** Null when the service stopped before the log could be read (a module inhibited). */
  readonly log: ModuleLogReport | null;
}

const RESEAL_BATCH = 200;
/** How stale this process's view of the installation's inhibitions may be when a group starts. */
const INHIBITIONS_REFRESH_MS = 1_000;
/** Meters whose newest committed package version this process remembers (oldest forgotten first). */
const KNOWN_SEQUENCES = 1_000_000;

/** A waiting command and the caller waiting for it. */
interface Job {
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

const meterOf = (command: ModuleCommand): string => command.meterId;

/** What an inhibition lost, for the audit log: the module's own list, when it gave one. */
const inhibitionDetails = (error: VaultError): Record<string, unknown> =>
  error.details === undefined ? {} : { ...error.details };

/** Lets commands arriving in the same turn of the event loop join the group about to form. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Custody of PSD packages, with group commit: waiting commands form a group (up to
 * {@link MAX_GROUP_COMMANDS}, commands on one meter in order), one module processes the group in
 * one pass, and the server commits it — every new package (compare-and-swap on its sequence), the
 * module checkpoint naming every transaction, each caller's own writes, the audit events — in one
 * database transaction before any caller hears back. A single command is a group of one.
 *
 * @example const custody = createCustodyService({ db: store.db, pool });
 */
export function createCustodyService({ db, pool }: CustodyDependencies): CustodyService {
  const queue = new GroupQueue<Job>();
  // The newest package version of each meter this process saw committed or read in the module
  // log: a row older than that was put back, and is refused before the module signs from it.
  const knownSequences = new Map<string, number>();
  const remember = (meterId: string, sequence: number): void => {
    if ((knownSequences.get(meterId) ?? -1) > sequence) return;
    knownSequences.delete(meterId);
    knownSequences.set(meterId, sequence);
    if (knownSequences.size > KNOWN_SEQUENCES) {
      const oldest = knownSequences.keys().next();
      if (oldest.done !== true) knownSequences.delete(oldest.value);
    }
  };
  const replayedRow = (meterId: string, sequence: number): VaultError | null => {
    const known = knownSequences.get(meterId);
    if (known === undefined || sequence >= known) return null;
    return new VaultError(
      'vault.package_replayed',
      `Meter ${meterId}'s package in the database is version ${sequence}, but version ${known} was committed: an earlier version of the package was put back. The meter is refused until an operator investigates.`,
      { details: { meterId, databaseSequence: sequence, committedSequence: known } },
    );
  };
  let isLeasing = false;
  // Modules whose last group here did not fail. The others, and each module at its first group,
  // read their checkpoint durably (durableModuleCheckpoint) before the module relies on it.
  const settledModules = new Set<string>();
  const commits = { groups: 0, commands: 0 };
  let inhibitionsReadAt = 0;

  const moduleCheckpoint = (serial: string): Promise<Buffer | null> => readModuleCheckpoint(db, serial);

  const refreshInhibitions = async (): Promise<void> => {
    inhibitionsReadAt = Date.now();
    pool.noteRecordedInhibitions(await recordedInhibitions(db));
    pool.reviewInhibitions();
  };

  const loadPackage = async (meterId: string): Promise<{ sealed: Buffer; sequence: number }> => {
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

  /** The stored packages a group needs; jobs naming a missing meter (or creating an existing one) are refused. */
  const packagesFor = async (
    jobs: readonly Job[],
    isDatabaseSuspect: boolean,
  ): Promise<{ runnable: Job[]; packages: GroupRequest['packages'] }> => {
    const commands = jobs.flatMap((job) => job.commands);
    const rows = await db
      .selectFrom('psd_packages')
      .select(['meter_id', 'sealed', 'sequence'])
      .where('meter_id', 'in', [...new Set(commands.map(meterOf))])
      .execute();
    const stored = new Set(rows.map((row) => row.meter_id));
    const created = new Set(commands.filter((command) => command.kind === 'create').map(meterOf));
    const replayed = new Map<string, VaultError>();
    // A database the module cannot account for at all is the module's to refuse (it inhibits).
    for (const row of isDatabaseSuspect ? [] : rows) {
      const refusal = replayedRow(row.meter_id, row.sequence);
      if (refusal !== null) replayed.set(row.meter_id, refusal);
    }
    const runnable: Job[] = [];
    for (const job of jobs) {
      const refusal = job.commands.map((command) => replayed.get(command.meterId)).find(Boolean);
      if (refusal !== undefined) {
        job.reject(refusal);
        continue;
      }
      const duplicate = job.commands.find(
        (command) => command.kind === 'create' && stored.has(command.meterId),
      );
      const missing = job.commands.find(
        (command) =>
          command.kind !== 'create' && !stored.has(command.meterId) && !created.has(command.meterId),
      );
      if (duplicate !== undefined) {
        job.reject(new CustodyError('custody.meter_exists', `Meter ${duplicate.meterId} already exists.`));
      } else if (missing !== undefined) {
        job.reject(new CustodyError('custody.meter_not_found', `There is no meter ${missing.meterId}.`));
      } else {
        runnable.push(job);
      }
    }
    if (replayed.size > 0)
      await db
        .transaction()
        .execute((trx) => appendAuditEvents(trx, refusalEvents(null, [...replayed.values()])));
    const packages = rows
      .filter((row) => !replayed.has(row.meter_id))
      .map((row) => ({
        sealedPackage: Buffer.from(row.sealed, 'base64'),
        expected: { meterId: row.meter_id, sequence: row.sequence },
      }));
    return { runnable, packages };
  };

  /** One group: module pass, one database transaction, then every caller hears back. Never throws. */
  const commitGroup = async (module: CryptoModule, group: readonly Job[]): Promise<void> => {
    let jobs: Job[] = [...group];
    try {
      // Another process's inhibited module may have stopped the installation meanwhile.
      if (Date.now() - inhibitionsReadAt > INHIBITIONS_REFRESH_MS) await refreshInhibitions();
      pool.assertServing(module);
      let databaseCheckpoint = settledModules.has(module.serial)
        ? await moduleCheckpoint(module.serial)
        : await durableModuleCheckpoint(db, module.serial);
      // A checkpoint the module would discard a record for, or inhibit over, is read again the
      // same way: an old primary its keeper restarted answers for a while after a failover.
      if (
        settledModules.has(module.serial) &&
        module.checkpointAgreement(databaseCheckpoint).kind !== 'proceed'
      )
        databaseCheckpoint = await durableModuleCheckpoint(db, module.serial);
      settledModules.add(module.serial);
      const { runnable, packages } = await packagesFor(
        jobs,
        module.checkpointAgreement(databaseCheckpoint).kind === 'inhibit',
      );
      jobs = runnable;
      if (jobs.length === 0) return;
      let result: GroupResult;
      try {
        result = await module.executeGroup({
          databaseCheckpoint,
          packages,
          commands: jobs.flatMap((job) => job.commands),
          units: jobs.flatMap((job, index) => job.commands.map(() => index)),
        });
      } catch (error) {
        await auditFailure(module, error);
        throw error;
      }
      const { committed } = result;
      // Each job's outcomes: all its commands' results, or the first refusal among them.
      let next = 0;
      const settled = jobs.map((job) => {
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
          outcome.ok
            ? [{ ...outcome.outcome, record: committed.record, checkpoint: committed.checkpoint }]
            : [],
        );
        return { job, error: null, results };
      });
      const refusals = refusalEvents(
        module.serial,
        settled.map((entry) => entry.error),
      );
      if (committed === null) {
        await auditFailure(module, null, refusals);
      } else {
        const now = new Date().toISOString();
        await db.transaction().execute(async (trx) => {
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
          await storeCheckpoint(trx, module, databaseCheckpoint, committed.checkpoint, now);
          await appendModuleLog(trx, committed.record, committed.checkpoint, now, {
            packages: committed.packages,
            statements,
          });
          await appendAuditEvents(trx, events, { chain: module.serial });
        });
        commits.groups += 1;
        commits.commands += committed.record.transactions.length;
        for (const stored of committed.packages) remember(stored.meterId, stored.sequence);
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
      settledModules.delete(module.serial);
      for (const job of jobs) job.reject(error);
    }
  };

  const checkModuleLog = async (): Promise<ModuleLogReport> => {
    const report = await pool.withModule((module) =>
      verifyModuleLog(db, (sealed) => module.verifyCheckpoint(sealed)),
    );
    for (const logged of report.newest.values()) remember(logged.meterId, logged.packageSequence);
    return report;
  };

  const pump = (): void => {
    if (isLeasing || !queue.hasReady) return;
    isLeasing = true;
    pool
      .withModule(async (module) => {
        await nextTurn();
        isLeasing = false;
        const group = queue.take(MAX_GROUP_COMMANDS);
        pump();
        if (group.length === 0) return;
        try {
          await commitGroup(module, group);
        } finally {
          queue.release(group);
        }
      })
      .then(pump, (error: unknown) => {
        // No module could be leased (the service is stopped): every waiting command hears why.
        isLeasing = false;
        for (const job of queue.takeAllReady()) job.reject(error);
        pump();
      });
  };

  const enqueue = (
    commands: readonly ModuleCommand[],
    withinCommit?: (trx: Transaction<DatabaseSchema>, results: CommittedCommand[]) => Promise<void>,
  ): Promise<CommittedCommand[]> =>
    new Promise((resolve, reject) => {
      queue.push({
        meterIds: [...new Set(commands.map(meterOf))],
        commands,
        withinCommit,
        participant: currentCommitParticipant(),
        resolve,
        reject,
      });
      pump();
    });

  const one = async (command: ModuleCommand, withinCommit?: WithinCommit): Promise<CommittedCommand> => {
    const [result] = await enqueue(
      [command],
      withinCommit === undefined
        ? undefined
        : (trx, results) => withinCommit(trx, results[0] as CommittedCommand),
    );
    if (result === undefined) throw new VaultError('vault.wrong_state', 'The module skipped a command.');
    return result;
  };

  return {
    createMeterPackage(request) {
      return one({ kind: 'create', ...request });
    },

    execute(meterId, steps, withinCommit, authorization) {
      return one({ kind: 'execute', meterId, steps, authorization }, withinCommit);
    },

    enrollmentPublicKey() {
      return pool.withModule((module) => module.services.enrollmentPublicKey());
    },

    openEnrollment(request) {
      return pool.withModule((module) => module.services.openEnrollment(request));
    },

    deriveSecret(label) {
      return pool.withModule((module) => module.services.deriveSecret(label));
    },

    executeTogether(commands, withinCommit) {
      if (commands.length === 0)
        return Promise.reject(new VaultError('vault.wrong_state', 'Give at least one command.'));
      return enqueue(
        commands.map(({ meterId, steps, authorization }) => ({
          kind: 'execute' as const,
          meterId,
          steps,
          authorization,
        })),
        withinCommit,
      );
    },

    replaceSigningKey(meterId, options = {}) {
      return one({ kind: 'replace-key', meterId, ...options });
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
      await reanchorModule(db, pool, serial, officerCredential);
      // The operator takes the database as the truth: what this process remembers of newer package
      // versions is void; resuming the service reads the newest versions from the module log again.
      knownSequences.clear();
      await refreshInhibitions();
    },

    zeroizeModule(serial, officerCredential, by) {
      return zeroizeModule(db, pool, { serial, officerCredential, by });
    },

    refreshInstallationInhibitions: refreshInhibitions,

    installationModules: () => listInstallationModules(db),

    async resumeService() {
      await refreshInhibitions();
      pool.resume();
      await checkModuleLog();
      await db
        .transaction()
        .execute((trx) => appendAuditEvents(trx, [{ kind: 'vault.service_resumed', details: {} }]));
    },

    verifyModuleLog: checkModuleLog,

    async assessModules(options = {}) {
      await registerModules(db, pool.modules);
      const assessed = [];
      for (const module of pool.modules) {
        if (module.state !== 'user') continue;
        const decision = module.assess(await moduleCheckpoint(module.serial));
        assessed.push({ serial: module.serial, decision });
        // Audited once, when first recorded (a damaged ring inhibits at login, before this).
        await recordModuleInhibition(db, module, {
          lost: decision.kind === 'inhibit' ? decision.lost : [],
          atStart: true,
        });
      }
      await refreshInhibitions();
      const log =
        pool.status().stopped === null && options.verifyLog !== false ? await checkModuleLog() : null;
      return { modules: assessed, log };
    },

    status: () => pool.status(),
    groupCommits: () => ({ ...commits }),
  };
}
