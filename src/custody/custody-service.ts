import type { Kysely, Transaction } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import { type DatabaseSchema, currentCommitParticipant } from '../store/index.ts';
import type {
  CheckpointDecision,
  ClientAuthorization,
  EnrollmentRequest,
  OpenedEnrollment,
  CommandStep,
  ModuleCommand,
  ModulePool,
  NewPackageRequest,
  PoolStatus,
  PsdView,
} from '../vault/index.ts';
import { MAX_GROUP_COMMANDS, VaultError } from '../vault/index.ts';
import { CustodyError } from './custody-error.ts';
import {
  type CommittedCommand,
  type GroupCommitCounts,
  type Job,
  createGroupCommitter,
} from './group-commit.ts';
import { GroupQueue } from './group-queue.ts';
import { KnownSequences } from './known-sequences.ts';
import { type RotationReport, rotateMasterKey } from './master-key-rotation.ts';
import { type ModuleLogReport, verifyModuleLog } from './module-log.ts';
import { meterSerializationFor } from './package-locks.ts';
import {
  type InstallationModule,
  type ZeroizationReport,
  listInstallationModules,
  moduleCheckpoint as readModuleCheckpoint,
  reanchorModule,
  recordModuleInhibition,
  registerModules,
  zeroizeModule,
} from './installation-modules.ts';

export type { CommittedCommand, GroupCommitCounts } from './group-commit.ts';
export type { RotationReport } from './master-key-rotation.ts';

export interface CustodyDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly pool: ModulePool;
  /**
   * How long a command waits for a meter another server's group holds (PostgreSQL) before it is
   * refused with `custody.meter_busy`; INDICIA_METER_WAIT_TIMEOUT_MS.
   */
  readonly meterWaitTimeoutMs?: number;
}

/** Work the caller adds to the same database transaction (an indicium record, a receipt). */
export type WithinCommit = (trx: Transaction<DatabaseSchema>, result: CommittedCommand) => Promise<void>;

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
  groupCommits(): GroupCommitCounts;
}

/** What the start-up comparison found: each module's decision, and the module log's check. */
export interface ModuleAssessment {
  readonly modules: readonly { readonly serial: string; readonly decision: CheckpointDecision }[];
  /** Null when the service stopped before the log could be read (a module inhibited). */
  readonly log: ModuleLogReport | null;
}

/** The default of INDICIA_METER_WAIT_TIMEOUT_MS (src/config/settings.ts). */
export const DEFAULT_METER_WAIT_TIMEOUT_MS = 10_000;

/** Lets commands arriving in the same turn of the event loop join the group about to form. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const meterOf = (command: ModuleCommand): string => command.meterId;

/**
 * Custody of PSD packages, with group commit: waiting commands form a group (up to
 * {@link MAX_GROUP_COMMANDS}, commands on one meter in order), one module processes the group in
 * one pass, and the server commits it in one database transaction before any caller hears back
 * (group-commit.ts). A meter is in one group at a time in this process (the queue) and in the
 * whole installation (the database's lock on its package, package-locks.ts); a caller behind
 * another server's group waits up to `meterWaitTimeoutMs`. A single command is a group of one.
 *
 * @example const custody = createCustodyService({ db: store.db, pool });
 */
export function createCustodyService({
  db,
  pool,
  meterWaitTimeoutMs = DEFAULT_METER_WAIT_TIMEOUT_MS,
}: CustodyDependencies): CustodyService {
  const queue = new GroupQueue<Job>();
  const knownSequences = new KnownSequences();
  const committer = createGroupCommitter({
    db,
    pool,
    serialization: meterSerializationFor(db, meterWaitTimeoutMs),
    knownSequences,
  });
  const refreshInhibitions = (): Promise<void> => committer.refreshInhibitions();
  let isLeasing = false;

  const moduleCheckpoint = (serial: string): Promise<Buffer | null> => readModuleCheckpoint(db, serial);

  const loadPackage = async (meterId: string): Promise<{ sealed: Buffer; sequence: number }> => {
    const row = await db
      .selectFrom('psd_packages')
      .select(['sealed', 'sequence'])
      .where('meter_id', '=', meterId)
      .executeTakeFirst();
    if (row === undefined) throw new CustodyError('custody.meter_not_found', `There is no meter ${meterId}.`);
    return { sealed: Buffer.from(row.sealed, 'base64'), sequence: row.sequence };
  };

  const checkModuleLog = async (): Promise<ModuleLogReport> => {
    const report = await pool.withModule((module) =>
      verifyModuleLog(db, (sealed) => module.verifyCheckpoint(sealed)),
    );
    for (const logged of report.newest.values())
      knownSequences.remember(logged.meterId, logged.packageSequence);
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
          await committer.commitGroup(module, group);
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

    rotateMasterKey(officerCredential, options = {}) {
      return rotateMasterKey(db, pool, officerCredential, options);
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
    groupCommits: () => committer.counts(),
  };
}
