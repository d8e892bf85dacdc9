import type { CryptoBackend } from './backend/crypto-backend.ts';
import {
  type CheckpointRecord,
  type DiscardedTransaction,
  openCheckpoint,
  sealCheckpoint,
} from './checkpoint.ts';
import type { CheckpointDecision } from './checkpoint-comparison.ts';
import { CheckpointRing } from './checkpoint-ring.ts';
import { checkCodeIntegrity } from './code-integrity.ts';
import { type KnownAnswerVectors, type SelfTestResult, runKnownAnswerTests } from './known-answer-tests.ts';
import {
  type ModuleRole,
  type ModuleState,
  type ModuleStatus,
  ThroughputMeter,
  describeModule,
} from './module-status.ts';
import { ModuleStateMachine } from './module-state-machine.ts';
import { OpenSigningKeys } from './command-steps.ts';
import { checkGroupRequest, runGroupPass, sealChangedPackages } from './group-pass.ts';
import {
  type PackageExpectation,
  type PsdState,
  readPackageHeader,
  resealUnder,
  unsealPackage,
} from './psd-package.ts';
import { ModuleServices } from './module-services.ts';
import { type ReplayRecordRequest, type ReplayedRecord, replayRecord } from './log-replay.ts';
import { type GapSettlement, type GapSettlementRequest, settleGap } from './gap-settlement.ts';
import { VaultError } from './vault-error.ts';
import {
  type CommandRequest,
  type CommandResult,
  type CryptoModuleOptions,
  type GroupRequest,
  type GroupResult,
  type KeyReplacementRequest,
  type NewPackageRequest,
  type PsdView,
  nextRecord,
  viewOf,
} from './module-commands.ts';

export const DEFAULT_RING_SIZE = 3;
/** How often {@link CryptoModule.inspect} reads a ring that keeps changing before it gives up. */
const INSPECTION_ATTEMPTS = 20;

/** How stale a module's view of the master key versions may get before a command re-reads it. */
const INVENTORY_REFRESH_MS = 2_000;
/**
 * Meter keys a module keeps unwrapped between commands (least recently used closed first): a
 * busy meter's key is not unwrapped again for every piece. Software: key objects in this
 * process's memory, where the master keys already are; PKCS#11: session objects in the token.
 * All are destroyed when the module leaves the crypto-user role, closes or is zeroized.
 */
const OPEN_SIGNING_KEYS = 1024;

/**
 * A cryptographic module: the seed's state machine and roles, power-up self-tests, PSD packages,
 * checkpoints and auto-recovery, over any {@link CryptoBackend}. Stateless towards meters: every
 * command brings the package it acts on. One command at a time; the pool leases modules.
 */
export class CryptoModule {
  readonly #backend: CryptoBackend;
  readonly #vectors: KnownAnswerVectors | undefined;
  readonly #now: () => Date;
  readonly #throughput = new ThroughputMeter();
  readonly #startedAt: Date;
  readonly #machine: ModuleStateMachine;
  /** MACs and key agreement with the module's domain keys, for a crypto user. */
  readonly services: ModuleServices;
  #inhibited: ModuleStatus['inhibited'] = null;
  readonly #ring: CheckpointRing;
  readonly #signingKeys: OpenSigningKeys;
  #keyEntryCredential: string | undefined;
  #inventory = {
    masterKeyVersions: [] as readonly number[],
    minimumMasterKeyVersion: 1,
    zeroizedAt: null as string | null,
  };
  readonly #moduleNumber: number | null;
  readonly #checkCode: () => SelfTestResult;
  #lastSelfTest: { at: string; results: SelfTestResult[] } | null = null;
  #inventoryReadAt = 0;
  #isBusy = false;
  #unreportedRecoveries: DiscardedTransaction[] = [];

  constructor(backend: CryptoBackend, options: CryptoModuleOptions = {}) {
    const ringSize = options.ringSize ?? DEFAULT_RING_SIZE;
    if (!Number.isInteger(ringSize) || ringSize < 3 || ringSize > 5) {
      throw new VaultError(
        'vault.wrong_state',
        `A checkpoint ring holds 3 to 5 records; ${ringSize} was asked for.`,
      );
    }
    this.#backend = backend;
    this.#signingKeys = new OpenSigningKeys(backend, OPEN_SIGNING_KEYS);
    this.#ring = new CheckpointRing(backend, ringSize);
    this.#machine = new ModuleStateMachine(() => backend.serial);
    this.services = new ModuleServices(backend, () => this.#machine.requireRole('crypto-user'));
    this.#vectors = options.vectors;
    this.#now = options.now ?? (() => new Date());
    this.#startedAt = this.#now();
    this.#moduleNumber = options.moduleNumber ?? null;
    this.#checkCode = options.checkCode ?? (() => checkCodeIntegrity());
  }

  get serial(): string {
    return this.#backend.serial;
  }

  get backendKind(): CryptoBackend['kind'] {
    return this.#backend.kind;
  }

  get state(): ModuleState {
    return this.#machine.state;
  }

  /** Its number in the backend (server modules 1..N, the operator's 100), when the opener said. */
  get moduleNumber(): number | null {
    return this.#moduleNumber;
  }

  get isInhibited(): boolean {
    return this.#inhibited !== null;
  }

  /** The newest package version of `meterId` this module's ring remembers making, or null. */
  rememberedSequence(meterId: string): number | null {
    return this.#ring.newestOf(meterId)?.packageSequence ?? null;
  }

  /**
   * Power-up: the code's check-sums, known-answer and pairwise tests, then idle, or without keys
   * uninitialized (never had any) or zeroized (an officer destroyed them).
   */
  async start(): Promise<ModuleStatus> {
    this.#machine.moveTo('self-test');
    if (await this.#passesSelfTests()) {
      await this.#refreshInventory();
      this.#machine.moveTo(this.#inventory.masterKeyVersions.length === 0 ? this.#keylessState() : 'idle');
    }
    return this.status();
  }

  /** Re-runs the power-up tests on demand; a failure puts the module in the error state. */
  async selfTest(): Promise<readonly SelfTestResult[]> {
    this.#machine.refuseInError();
    await this.#passesSelfTests();
    return this.#lastSelfTest?.results ?? [];
  }

  status(): ModuleStatus {
    return describeModule({
      serial: this.serial,
      backend: this.#backend.kind,
      moduleNumber: this.#moduleNumber,
      zeroizedAt: this.#inventory.zeroizedAt,
      machine: this.#machine,
      inhibited: this.#inhibited,
      inventory: this.#inventory,
      startedAt: this.#startedAt,
      now: this.#now(),
      throughput: this.#throughput,
      isBusy: this.#isBusy,
      ringLength: this.#ring.length,
      lastSelfTest: this.#lastSelfTest,
    });
  }

  /**
   * Assumes a role. crypto-user: the backend was opened with the user's credential (the KEK, or
   * the token's user PIN). crypto-officer: the backend checks the officer credential against the
   * argon2id hash it keeps with the keys; on an uninitialized or zeroized module the credential
   * given leads to key entry and becomes the officer credential.
   */
  async login(role: ModuleRole, credential = ''): Promise<void> {
    this.#machine.refuseInError();
    if (role === 'crypto-user') {
      this.#machine.requireState(['idle'], 'take the crypto-user role');
      const damage = await this.#ring.load();
      if (damage !== null)
        this.#inhibited = { reason: damage, since: this.#now().toISOString(), cause: 'module' };
      this.#machine.moveTo('user');
      return;
    }
    this.#machine.requireState(['idle', 'uninitialized', 'zeroized'], 'take the crypto-officer role');
    if (this.#machine.state !== 'idle') {
      if (credential.length < 8) {
        throw new VaultError(
          'vault.authentication_failed',
          'A crypto-officer credential has at least 8 characters.',
        );
      }
      this.#keyEntryCredential = credential;
      this.#machine.moveTo('key-entry');
      return;
    }
    if (!(await this.#backend.verifyOfficerCredential(credential))) {
      throw new VaultError('vault.authentication_failed', 'The crypto-officer credential is wrong.');
    }
    this.#machine.moveTo('crypto-officer');
  }

  logout(): void {
    void this.#signingKeys.close();
    if (this.#machine.state === 'user' || this.#machine.state === 'crypto-officer')
      this.#machine.moveTo('idle');
    if (this.#machine.state === 'key-entry') this.#machine.moveTo(this.#keylessState());
    this.#keyEntryCredential = undefined;
  }

  /**
   * Key entry: creates master key version 1 and the MAC keys. After zeroization the module comes
   * out of it under a new serial with an empty ring: a new checkpoint chain, which cannot collide
   * with the old serial's records in the module log.
   */
  async initializeKeys(): Promise<void> {
    this.#machine.refuseInError();
    this.#machine.requireState(['key-entry'], 'initialize keys');
    await this.#backend.initializeKeys(this.#keyEntryCredential ?? '');
    this.#keyEntryCredential = undefined;
    this.#ring.forget();
    await this.#refreshInventory();
    this.#machine.moveTo('crypto-officer');
  }

  /** Re-reads which master key versions exist (another module or process may have rotated). */
  async refreshKeys(): Promise<void> {
    this.#machine.refuseInError();
    await this.#refreshInventory();
  }

  /** Adds a master key version; new packages are sealed under it, old ones stay readable. */
  async rotateMasterKey(): Promise<number> {
    this.#machine.requireRole('crypto-officer');
    const version = await this.#backend.addMasterKeyVersion();
    await this.#refreshInventory();
    return version;
  }

  /** Refuses packages sealed under versions below this one from now on. */
  async raiseMinimumKeyVersion(version: number): Promise<void> {
    this.#machine.requireRole('crypto-officer');
    const current = this.#currentVersion();
    if (
      !Number.isInteger(version) ||
      version < this.#inventory.minimumMasterKeyVersion ||
      version > current
    ) {
      throw new VaultError(
        'vault.wrong_state',
        `The minimum key version must be between ${this.#inventory.minimumMasterKeyVersion} and ${current}; got ${version}.`,
      );
    }
    await this.#backend.setMinimumMasterKeyVersion(version);
    await this.#refreshInventory();
  }

  /** Re-seals a package (and re-wraps its signing key) under the current master key version. */
  async resealPackage(
    sealed: Buffer,
    expected: PackageExpectation,
  ): Promise<{ sealedPackage: Buffer; keyVersion: number }> {
    this.#machine.requireRole('crypto-officer');
    return this.#busy(async () => {
      const { state } = await this.#unseal(sealed, expected);
      const current = this.#currentVersion();
      return { sealedPackage: await resealUnder(this.#backend, state, current), keyVersion: current };
    });
  }

  /**
   * Restore: re-applies one record of the shipped protected log to the restored database's
   * packages under the module's rules, and seals the resulting packages again (log-replay.ts).
   * Officer role: only a recovery replays.
   */
  async replayLogRecord(request: ReplayRecordRequest): Promise<ReplayedRecord> {
    this.#machine.requireRole('crypto-officer');
    return this.#busy(() =>
      replayRecord(
        {
          backend: this.#backend,
          version: this.#currentVersion(),
          unseal: (sealed, expected) => this.#unseal(sealed, expected),
        },
        request,
      ),
    );
  }

  /**
   * The confirmed records this module committed after `databaseCheckpoint` (a restored database's
   * last record of it), oldest first, and whether its memory reaches back that far.
   */
  recordsAfter(databaseCheckpoint: Buffer | null): { covered: boolean; records: Buffer[] } {
    this.#machine.requireRole('crypto-user');
    const { covered, records } = this.#ring.confirmedAfter(databaseCheckpoint);
    return { covered, records: records.map((entry) => entry.sealed) };
  }

  /** Restore: brings packages level with records the modules committed after the restored ones (gap-settlement.ts). */
  async settleGap(request: GapSettlementRequest): Promise<GapSettlement> {
    this.#machine.requireRole('crypto-officer');
    return this.#busy(() =>
      settleGap(
        {
          backend: this.#backend,
          version: this.#currentVersion(),
          unseal: (sealed, expected) => this.#unseal(sealed, expected),
        },
        request,
      ),
    );
  }

  /**
   * Disaster recovery, after an operator has investigated an inhibited module: take the
   * database's checkpoint as the truth, restart the ring from it, lift the inhibition. Records
   * the database lost are not brought back by this: their register values will be signed again
   * unless the lost records are first restored (docs/operations.md, "A module inhibited itself").
   */
  async reanchor(databaseCheckpoint: Buffer | null): Promise<void> {
    this.#machine.requireRole('crypto-officer');
    await this.#ring.restartFrom(databaseCheckpoint);
    this.#inhibited = null;
  }

  /**
   * Destroys every key and the ring; the module is zeroized. The keys are the installation's (one
   * keystore or token for all its modules), so every module of it loses them and every sealed
   * package becomes unreadable.
   */
  async zeroize(): Promise<void> {
    this.#machine.requireRole('crypto-officer');
    await this.#signingKeys.close();
    await this.#backend.zeroize();
    this.#ring.forget();
    this.#inhibited = null;
    await this.#refreshInventory();
    this.#machine.moveTo('zeroized');
  }

  /** MeterGen's module step: a new PSD with a fresh signing key pair, checked pairwise. */
  async createPackage(request: NewPackageRequest): Promise<CommandResult> {
    const { databaseCheckpoint, ...command } = request;
    return this.#single({ databaseCheckpoint, packages: [], commands: [{ kind: 'create', ...command }] });
  }

  /**
   * Replaces a meter's signing key (it expires, or is suspected): a new pair made and checked
   * pairwise here; the certificate serial is cleared until the new certificate is sealed in.
   * Registers do not move; indicia signed with the old key stay verifiable by its certificate.
   */
  async replaceSigningKey(request: KeyReplacementRequest): Promise<CommandResult> {
    const { databaseCheckpoint, sealedPackage, expected, ...options } = request;
    return this.#single({
      databaseCheckpoint,
      packages: [{ sealedPackage, expected }],
      commands: [{ kind: 'replace-key', meterId: expected.meterId, ...options }],
    });
  }

  /** Runs a command's steps on a package: checkpoint check, unseal, register rules, signatures, seal. */
  async execute(request: CommandRequest): Promise<CommandResult> {
    const { databaseCheckpoint, sealedPackage, expected, steps } = request;
    return this.#single({
      databaseCheckpoint,
      packages: [{ sealedPackage, expected }],
      commands: [{ kind: 'execute', meterId: expected.meterId, steps }],
    });
  }

  /**
   * Group commit's module pass: one checkpoint comparison, every command applied in order (commands
   * on one meter chain; a refused command changes nothing and does not stop the others), each
   * changed package sealed once, one checkpoint record naming every transaction, one durable ring
   * write. The caller commits the whole group in one database transaction, or none of it.
   */
  async executeGroup(request: GroupRequest): Promise<GroupResult> {
    this.#machine.requireRole('crypto-user');
    checkGroupRequest(request);
    return this.#busy(async () => {
      if (this.#inhibited !== null) {
        throw new VaultError(
          'vault.module_inhibited',
          `Module ${this.serial} is inhibited: ${this.#inhibited.reason}.`,
        );
      }
      await this.#reconcile(request.databaseCheckpoint);
      // Another module or process may have rotated the master key: seal under the newest version.
      if (this.#now().getTime() - this.#inventoryReadAt > INVENTORY_REFRESH_MS)
        await this.#refreshInventory();
      const version = this.#currentVersion();
      const now = this.#now();
      const { outcomes, transactions, working } = await runGroupPass(
        {
          backend: this.#backend,
          keys: this.#signingKeys,
          version,
          now,
          unseal: (sealed, expected) => {
            this.#refuseReplayed(expected);
            return this.#unseal(sealed, expected);
          },
          enterError: (reason) => this.#machine.enterError(reason),
          isInError: () => this.#machine.state === 'error',
        },
        request,
      );
      if (transactions.length === 0) return { outcomes, committed: null };
      const packages = await sealChangedPackages(this.#backend, working, version);
      const record = nextRecord(this.#ring.newest, {
        moduleSerial: this.serial,
        at: now.toISOString(),
        previous: this.#ring.newestDigest,
        transactions,
      });
      const checkpoint = await sealCheckpoint(this.#backend, record);
      // The module's own memory moves first; the caller's database commit follows. If that commit
      // fails, the next command finds the database one record behind and recovers.
      await this.#ring.push(checkpoint, record);
      this.#throughput.record(now.getTime(), transactions.length);
      const discarded = this.takeUnreportedRecoveries();
      return {
        outcomes,
        committed: { checkpoint, record, packages, recovered: discarded.length === 0 ? null : { discarded } },
      };
    });
  }

  /**
   * The caller's word that the database durably committed record `counter` (the newest). Written
   * to the module's memory before any of the record's indicia or receipts leave the server, so
   * that a database rolled back past it later inhibits the module instead of discarding it.
   */
  async confirmCommitted(counter: number): Promise<void> {
    this.#machine.requireRole('crypto-user');
    return this.#busy(() => this.#ring.confirm(counter));
  }

  /**
   * Compares the database's checkpoint with the ring at start, before any command: a mismatch
   * that would inhibit inhibits now (readiness and status show it at once); a record that never
   * committed is left for the first command to discard and report.
   */
  assess(databaseCheckpoint: Buffer | null): CheckpointDecision {
    this.#machine.requireRole('crypto-user');
    const decision = this.checkpointAgreement(databaseCheckpoint);
    if (decision.kind === 'inhibit' && this.#inhibited === null)
      this.#inhibited = { reason: decision.reason, since: this.#now().toISOString(), cause: decision.cause };
    return decision;
  }

  /**
   * {@link assess} for a module another process may be running: reads the ring from the module's
   * store, the database's checkpoint, and the ring again, until both ring reads agree (the owner
   * writes its ring before its commit and confirms after it), so a command in flight there is
   * never taken for a rollback. Never writes to the module.
   */
  async inspect(readDatabaseCheckpoint: () => Promise<Buffer | null>): Promise<CheckpointDecision> {
    this.#machine.requireRole('crypto-user');
    for (let attempt = 0; attempt < INSPECTION_ATTEMPTS; attempt += 1) {
      const before = await this.#backend.readRing();
      const database = await readDatabaseCheckpoint();
      const after = await this.#backend.readRing();
      const isSame = before === undefined ? after === undefined : after !== undefined && before.equals(after);
      if (!isSame) continue;
      const damage = await this.#ring.adopt(after);
      if (damage !== null) {
        this.#inhibited ??= { reason: damage, since: this.#now().toISOString(), cause: 'module' };
        return { kind: 'inhibit', reason: damage, cause: 'module', lost: [] };
      }
      return this.assess(database);
    }
    throw new VaultError(
      'vault.backend_unavailable',
      `Module ${this.serial}'s ring changed on every one of ${INSPECTION_ATTEMPTS} reads: its owner is busy; try again.`,
    );
  }

  /** Opens a package to read it; moves nothing and leaves no checkpoint. */
  async readPackage(sealed: Buffer, expected: PackageExpectation): Promise<PsdView> {
    this.#machine.requireRole('crypto-user');
    return viewOf((await this.#unseal(sealed, expected)).state);
  }

  /** Checks a sealed checkpoint record (say, a module-table row) and returns what it says. */
  async verifyCheckpoint(sealed: Buffer): Promise<CheckpointRecord> {
    this.#machine.requireRole('crypto-user');
    return openCheckpoint(this.#backend, sealed);
  }

  async randomBytes(length: number): Promise<Buffer> {
    this.#machine.requireRole('crypto-user');
    if (!Number.isInteger(length) || length < 1 || length > 1024) {
      throw new VaultError(
        'vault.wrong_state',
        `Random bytes come 1 to 1024 at a time; ${length} were asked for.`,
      );
    }
    return this.#backend.randomBytes(length);
  }

  async close(): Promise<void> {
    this.logout();
    await this.#signingKeys.close();
    await this.#backend.close();
  }

  /** A group of one command, for callers that hold one package: its result, or its refusal thrown. */
  async #single(request: GroupRequest): Promise<CommandResult> {
    const { outcomes, committed } = await this.executeGroup(request);
    const [result] = outcomes;
    if (result === undefined || !result.ok) throw result?.error;
    const [stored] = committed?.packages ?? [];
    if (committed === null || stored === undefined)
      throw new VaultError('vault.wrong_state', 'The module committed nothing.');
    return {
      ...result.outcome,
      sealedPackage: stored.sealedPackage,
      checkpoint: committed.checkpoint,
      record: committed.record,
      recovered: committed.recovered,
    };
  }

  /** The counter of the newest record this module sealed (its ring's newest), or null. */
  newestRecordCounter(): number | null {
    return this.#ring.newest?.counter ?? null;
  }

  /** How the database's checkpoint compares with this module's ring, without acting on it. */
  checkpointAgreement(databaseCheckpoint: Buffer | null): CheckpointDecision {
    return this.#ring.agreement(databaseCheckpoint);
  }

  /**
   * Records discarded by auto-recovery that no result has reported yet: a command that recovered
   * and then failed (say, insufficient funds) leaves them here for the caller's audit log.
   */
  takeUnreportedRecoveries(): DiscardedTransaction[] {
    const discarded = this.#unreportedRecoveries;
    this.#unreportedRecoveries = [];
    return discarded;
  }

  /** Compares the database's checkpoint with the ring; recovers or inhibits as seed 001 says. */
  async #reconcile(databaseCheckpoint: Buffer | null): Promise<void> {
    const decision = this.checkpointAgreement(databaseCheckpoint);
    switch (decision.kind) {
      case 'proceed':
        return;
      case 'recover':
        this.#unreportedRecoveries.push(...(await this.#ring.discardNewest(decision.discardCount)));
        return;
      case 'inhibit':
        this.#inhibited = {
          reason: decision.reason,
          since: this.#now().toISOString(),
          cause: decision.cause,
        };
        throw new VaultError(
          'vault.module_inhibited',
          `Module ${this.serial} inhibited itself: ${decision.reason}.`,
          { details: { lost: decision.lost } },
        );
    }
  }

  /**
   * A package older than the newest version this module's ring remembers of its meter was put
   * back in the database (a replayed row): signing from it would sign released values again.
   */
  #refuseReplayed(expected: PackageExpectation): void {
    const remembered = this.#ring.newestOf(expected.meterId);
    if (remembered !== null && expected.sequence < remembered.packageSequence) {
      throw new VaultError(
        'vault.package_replayed',
        `Meter ${expected.meterId}'s package in the database is version ${expected.sequence}, but module ${this.serial} made version ${remembered.packageSequence} (record ${remembered.counter}): an earlier version of the package was put back. The meter is refused until an operator investigates.`,
        {
          details: {
            meterId: expected.meterId,
            databaseSequence: expected.sequence,
            moduleSequence: remembered.packageSequence,
          },
        },
      );
    }
  }

  async #unseal(
    sealed: Buffer,
    expected: PackageExpectation,
  ): Promise<{ state: PsdState; keyVersion: number }> {
    const header = readPackageHeader(sealed);
    if (!this.#inventory.masterKeyVersions.includes(header.keyVersion)) await this.#refreshInventory();
    return unsealPackage(this.#backend, sealed, expected, this.#inventory.minimumMasterKeyVersion);
  }

  /** Without keys: zeroized when an officer destroyed them, else uninitialized. */
  #keylessState(): ModuleState {
    return this.#inventory.zeroizedAt === null ? 'uninitialized' : 'zeroized';
  }

  async #passesSelfTests(): Promise<boolean> {
    // Seed 004: the code's check-sums first, then the algorithms.
    const results = [this.#checkCode(), ...(await runKnownAnswerTests(this.#backend, this.#vectors))];
    this.#lastSelfTest = { at: this.#now().toISOString(), results };
    const failed = results.filter((result) => !result.passed);
    if (failed.length > 0) {
      this.#machine.enterError(
        `self-test failed: ${failed.map((result) => `${result.test} (${result.detail ?? 'failed'})`).join(', ')}`,
      );
      return false;
    }
    return true;
  }

  async #refreshInventory(): Promise<void> {
    const inventory = await this.#backend.inventory();
    this.#inventoryReadAt = this.#now().getTime();
    this.#inventory = {
      masterKeyVersions: inventory.masterKeyVersions,
      minimumMasterKeyVersion: inventory.minimumMasterKeyVersion,
      zeroizedAt: inventory.zeroizedAt,
    };
  }

  #currentVersion(): number {
    const versions = this.#inventory.masterKeyVersions;
    if (versions.length === 0)
      throw new VaultError('vault.wrong_state', `Module ${this.serial} has no keys yet.`);
    return Math.max(...versions);
  }

  async #busy<T>(work: () => Promise<T>): Promise<T> {
    if (this.#isBusy)
      throw new VaultError('vault.wrong_state', `Module ${this.serial} is already processing a command.`);
    this.#isBusy = true;
    try {
      return await work();
    } finally {
      this.#isBusy = false;
    }
  }
}
