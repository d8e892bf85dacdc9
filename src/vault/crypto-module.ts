import { type Mills, add } from '../money/index.ts';
import type { CryptoBackend, SigningAlgorithm } from './backend/crypto-backend.ts';
import {
  type CheckpointRecord,
  decodeRing,
  encodeRing,
  openCheckpoint,
  sealCheckpoint,
} from './checkpoint.ts';
import { type CheckpointDecision, compareCheckpoints } from './checkpoint-comparison.ts';
import {
  type KnownAnswerVectors,
  type SelfTestResult,
  runKnownAnswerTests,
  verifySignature,
} from './known-answer-tests.ts';
import { type ModuleRole, type ModuleState, type ModuleStatus, ThroughputMeter } from './module-status.ts';
import { type PsdOperation, amountOf, applyOperation } from './psd-operations.ts';
import {
  type PackageExpectation,
  type PsdState,
  readPackageHeader,
  sealPackage,
  unsealPackage,
} from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/** A PSD as callers may see it: registers and public facts, no key material, no client secrets. */
export type PsdView = Omit<PsdState, 'signingKey' | 'hmk' | 'passphraseHistory'> & {
  readonly signingKey: {
    readonly algorithm: SigningAlgorithm;
    readonly publicKey: string;
    readonly expiresAt: string;
  };
  readonly hasHmk: boolean;
};

/** One step of a command; a debit may ask the module to sign data built from the state after it. */
export interface CommandStep {
  readonly operation: PsdOperation;
  readonly sign?: (after: PsdView) => Buffer;
}

export interface CommandRequest {
  /** The module table's latest checkpoint for this module, exactly as stored, or null. */
  readonly databaseCheckpoint: Buffer | null;
  readonly sealedPackage: Buffer;
  readonly expected: PackageExpectation;
  readonly steps: readonly CommandStep[];
}

export interface CommandResult {
  readonly sealedPackage: Buffer;
  readonly keyVersion: number;
  readonly view: PsdView;
  /** The new checkpoint, to store in the module table in the same commit as the package. */
  readonly checkpoint: Buffer;
  readonly record: CheckpointRecord;
  /** One entry per step that asked for a signature, in order. */
  readonly signatures: readonly {
    readonly step: number;
    readonly data: Buffer;
    readonly signature: Buffer;
  }[];
  /** Present when the module rolled back records the database never kept (seed 001 auto-recovery). */
  readonly recovered: { readonly discarded: readonly CheckpointRecord[] } | null;
}

export interface NewPackageRequest {
  readonly databaseCheckpoint: Buffer | null;
  readonly meterId: string;
  readonly maxDescendingRegister: Mills;
  readonly licensingZip: string | null;
  readonly algorithm?: SigningAlgorithm;
  readonly keyValidityDays?: number;
}

export interface CryptoModuleOptions {
  /** How many transaction records the module keeps (3 to 5). */
  readonly ringSize?: number;
  /** Known-answer vectors; the real ones unless a test forces a failure. */
  readonly vectors?: KnownAnswerVectors;
  readonly now?: () => Date;
}

interface RingEntry {
  readonly sealed: Buffer;
  readonly record: CheckpointRecord;
}

export const DEFAULT_RING_SIZE = 3;
/** How stale a module's view of the master key versions may get before a command re-reads it. */
const INVENTORY_REFRESH_MS = 2_000;
const DEFAULT_KEY_VALIDITY_DAYS = 3 * 365;

/** The view of a state, without secrets. */
export function viewOf(state: PsdState): PsdView {
  const { signingKey, hmk, passphraseHistory: _history, ...rest } = state;
  return {
    ...rest,
    signingKey: {
      algorithm: signingKey.algorithm,
      publicKey: signingKey.publicKey,
      expiresAt: signingKey.expiresAt,
    },
    hasHmk: hmk !== null,
  };
}

/**
 * A cryptographic module: the seed's state machine and roles, power-up self-tests, PSD packages,
 * checkpoints and auto-recovery, over any {@link CryptoBackend}. Stateless towards meters: every
 * command brings the package it acts on. One command at a time; the pool leases modules.
 */
export class CryptoModule {
  readonly #backend: CryptoBackend;
  readonly #ringSize: number;
  readonly #vectors: KnownAnswerVectors | undefined;
  readonly #now: () => Date;
  readonly #throughput = new ThroughputMeter();
  readonly #startedAt: Date;
  #state: ModuleState = 'self-test';
  #errorReason: string | null = null;
  #inhibited: { reason: string; since: string } | null = null;
  #ring: RingEntry[] = [];
  #isRingLoaded = false;
  #keyEntryCredential: string | undefined;
  #inventory = { masterKeyVersions: [] as readonly number[], minimumMasterKeyVersion: 1 };
  #lastSelfTest: { at: string; results: SelfTestResult[] } | null = null;
  #inventoryReadAt = 0;
  #isBusy = false;
  #unreportedRecoveries: CheckpointRecord[] = [];

  constructor(backend: CryptoBackend, options: CryptoModuleOptions = {}) {
    const ringSize = options.ringSize ?? DEFAULT_RING_SIZE;
    if (!Number.isInteger(ringSize) || ringSize < 3 || ringSize > 5) {
      throw new VaultError(
        'vault.wrong_state',
        `A checkpoint ring holds 3 to 5 records; ${ringSize} was asked for.`,
      );
    }
    this.#backend = backend;
    this.#ringSize = ringSize;
    this.#vectors = options.vectors;
    this.#now = options.now ?? (() => new Date());
    this.#startedAt = this.#now();
  }

  get serial(): string {
    return this.#backend.serial;
  }

  get backendKind(): CryptoBackend['kind'] {
    return this.#backend.kind;
  }

  get state(): ModuleState {
    return this.#state;
  }

  get isInhibited(): boolean {
    return this.#inhibited !== null;
  }

  /** Power-up: known-answer and pairwise tests, then uninitialized (no keys) or idle. */
  async start(): Promise<ModuleStatus> {
    this.#state = 'self-test';
    if (await this.#passesSelfTests()) {
      await this.#refreshInventory();
      this.#state = this.#inventory.masterKeyVersions.length === 0 ? 'uninitialized' : 'idle';
    }
    return this.status();
  }

  /** Re-runs the power-up tests on demand; a failure puts the module in the error state. */
  async selfTest(): Promise<readonly SelfTestResult[]> {
    this.#refuseInError();
    await this.#passesSelfTests();
    return this.#lastSelfTest?.results ?? [];
  }

  status(): ModuleStatus {
    const versions = this.#inventory.masterKeyVersions;
    const now = this.#now();
    return {
      serial: this.serial,
      backend: this.#backend.kind,
      state: this.#state,
      errorReason: this.#errorReason,
      inhibited: this.#inhibited,
      keys: {
        currentMasterKeyVersion: versions.length === 0 ? null : Math.max(...versions),
        minimumMasterKeyVersion: this.#inventory.minimumMasterKeyVersion,
        masterKeyVersions: [...versions],
      },
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.floor((now.getTime() - this.#startedAt.getTime()) / 1000),
      totalOperations: this.#throughput.total,
      operationsPerSecond: this.#throughput.perSecond(now.getTime()),
      load: this.#isBusy ? 1 : 0,
      checkpointRingLength: this.#ring.length,
      lastSelfTest: this.#lastSelfTest,
    };
  }

  /**
   * Assumes a role. crypto-user: the backend was opened with the user's credential (the KEK, or
   * the token's user PIN). crypto-officer: the backend checks the officer credential against the
   * argon2id hash it keeps with the keys; on an uninitialized module the credential given leads to
   * key entry and becomes the officer credential.
   */
  async login(role: ModuleRole, credential = ''): Promise<void> {
    this.#refuseInError();
    if (role === 'crypto-user') {
      this.#requireState(['idle'], 'take the crypto-user role');
      await this.#loadRing();
      this.#state = 'user';
      return;
    }
    this.#requireState(['idle', 'uninitialized'], 'take the crypto-officer role');
    if (this.#state === 'uninitialized') {
      if (credential.length < 8) {
        throw new VaultError(
          'vault.authentication_failed',
          'A crypto-officer credential has at least 8 characters.',
        );
      }
      this.#keyEntryCredential = credential;
      this.#state = 'key-entry';
      return;
    }
    if (!(await this.#backend.verifyOfficerCredential(credential))) {
      throw new VaultError('vault.authentication_failed', 'The crypto-officer credential is wrong.');
    }
    this.#state = 'crypto-officer';
  }

  logout(): void {
    if (this.#state === 'user' || this.#state === 'crypto-officer') this.#state = 'idle';
    if (this.#state === 'key-entry') this.#state = 'uninitialized';
    this.#keyEntryCredential = undefined;
  }

  /** Key entry: creates master key version 1 and the MAC keys. */
  async initializeKeys(): Promise<void> {
    this.#refuseInError();
    this.#requireState(['key-entry'], 'initialize keys');
    await this.#backend.initializeKeys(this.#keyEntryCredential ?? '');
    this.#keyEntryCredential = undefined;
    await this.#refreshInventory();
    this.#state = 'crypto-officer';
  }

  /** Re-reads which master key versions exist (another module or process may have rotated). */
  async refreshKeys(): Promise<void> {
    this.#refuseInError();
    await this.#refreshInventory();
  }

  /** Adds a master key version; new packages are sealed under it, old ones stay readable. */
  async rotateMasterKey(): Promise<number> {
    this.#requireRole('crypto-officer');
    const version = await this.#backend.addMasterKeyVersion();
    await this.#refreshInventory();
    return version;
  }

  /** Refuses packages sealed under versions below this one from now on. */
  async raiseMinimumKeyVersion(version: number): Promise<void> {
    this.#requireRole('crypto-officer');
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
    this.#requireRole('crypto-officer');
    return this.#busy(async () => {
      const { state } = await this.#unseal(sealed, expected);
      const current = this.#currentVersion();
      const signingKey =
        state.signingKey.wrapVersion === current
          ? state.signingKey
          : {
              ...state.signingKey,
              wrapVersion: current,
              wrapped: (
                await this.#backend.rewrapSigningKey(
                  state.signingKey.algorithm,
                  state.signingKey.wrapVersion,
                  current,
                  Buffer.from(state.signingKey.wrapped, 'base64'),
                )
              ).toString('base64'),
            };
      return {
        sealedPackage: await sealPackage(this.#backend, { ...state, signingKey }, current),
        keyVersion: current,
      };
    });
  }

  /**
   * Disaster recovery, after an operator has investigated an inhibited module: take the
   * database's checkpoint as the truth, restart the ring from it, lift the inhibition.
   */
  async reanchor(databaseCheckpoint: Buffer | null): Promise<void> {
    this.#requireRole('crypto-officer');
    const entries =
      databaseCheckpoint === null
        ? []
        : [{ sealed: databaseCheckpoint, record: await openCheckpoint(this.#backend, databaseCheckpoint) }];
    await this.#saveRing(entries);
    this.#inhibited = null;
  }

  /** Destroys every key and the ring; the module returns to uninitialized. */
  async zeroize(): Promise<void> {
    this.#requireRole('crypto-officer');
    await this.#backend.zeroize();
    this.#ring = [];
    this.#isRingLoaded = false;
    this.#inhibited = null;
    await this.#refreshInventory();
    this.#state = 'uninitialized';
  }

  /** MeterGen's module step: a new PSD with a fresh signing key pair, checked pairwise. */
  async createPackage(request: NewPackageRequest): Promise<CommandResult> {
    this.#requireRole('crypto-user');
    return this.#transaction(request.databaseCheckpoint, async () => {
      const algorithm = request.algorithm ?? 'ecdsa-p256';
      const version = this.#currentVersion();
      const key = await this.#backend.generateSigningKey(algorithm, version);
      const probe = Buffer.from(`indicia pairwise check ${request.meterId}`);
      const probeSignature = await this.#backend.sign(algorithm, version, key.wrappedPrivateKey, probe);
      if (!verifySignature(algorithm, key.publicKey, probe, probeSignature)) {
        this.#enterError(`pairwise consistency check failed for a new ${algorithm} key`);
        throw new VaultError(
          'vault.error_state',
          `Module ${this.serial} failed a pairwise consistency check.`,
        );
      }
      const now = this.#now();
      const validityDays = request.keyValidityDays ?? DEFAULT_KEY_VALIDITY_DAYS;
      const state: PsdState = {
        meterId: request.meterId,
        sequence: 0,
        state: 'active',
        ascendingRegister: 0 as Mills,
        descendingRegister: 0 as Mills,
        maxDescendingRegister: request.maxDescendingRegister,
        refundRegister: 0 as Mills,
        signingKey: {
          algorithm,
          wrapVersion: version,
          wrapped: key.wrappedPrivateKey.toString('base64'),
          publicKey: key.publicKey.toString('base64'),
          expiresAt: new Date(now.getTime() + validityDays * 86_400_000).toISOString(),
        },
        certificateSerial: null,
        licensingZip: request.licensingZip,
        hmk: null,
        passphraseHistory: [],
        lastChallenge: null,
        createdAt: now.toISOString(),
        updatedAt: now.toISOString(),
      };
      return { state, type: 'create' as const, amount: 0 as Mills, signatures: [] };
    });
  }

  /** Runs a command's steps on a package: checkpoint check, unseal, register rules, signatures, seal. */
  async execute(request: CommandRequest): Promise<CommandResult> {
    this.#requireRole('crypto-user');
    if (request.steps.length === 0)
      throw new VaultError('vault.wrong_state', 'A command needs at least one step.');
    return this.#transaction(request.databaseCheckpoint, async () => {
      let { state } = await this.#unseal(request.sealedPackage, request.expected);
      const nowText = this.#now().toISOString();
      let amount = 0 as Mills;
      const signatures: { step: number; data: Buffer; signature: Buffer }[] = [];
      for (const [index, step] of request.steps.entries()) {
        amount = add(amount, amountOf(step.operation, state));
        state = applyOperation(state, step.operation, nowText);
        if (step.sign !== undefined) {
          if (Date.parse(state.signingKey.expiresAt) <= this.#now().getTime()) {
            throw new VaultError(
              'psd.not_active',
              `The signing key of meter ${state.meterId} has expired; replace it first.`,
            );
          }
          const data = step.sign(viewOf(state));
          const signature = await this.#backend.sign(
            state.signingKey.algorithm,
            state.signingKey.wrapVersion,
            Buffer.from(state.signingKey.wrapped, 'base64'),
            data,
          );
          signatures.push({ step: index, data, signature });
        }
      }
      const first = request.steps[0]?.operation.type ?? 'update';
      return { state: { ...state, sequence: state.sequence + 1 }, type: first, amount, signatures };
    });
  }

  /** Opens a package to read it; moves nothing and leaves no checkpoint. */
  async readPackage(sealed: Buffer, expected: PackageExpectation): Promise<PsdView> {
    this.#requireRole('crypto-user');
    return viewOf((await this.#unseal(sealed, expected)).state);
  }

  /** Checks a sealed checkpoint record (say, a module-table row) and returns what it says. */
  async verifyCheckpoint(sealed: Buffer): Promise<CheckpointRecord> {
    this.#requireRole('crypto-user');
    return openCheckpoint(this.#backend, sealed);
  }

  /** MPSD control code: HMAC-SHA-256 over (id, AR, DR) under the module control key. */
  async controlCode(id: string, ascendingRegister: Mills, descendingRegister: Mills): Promise<Buffer> {
    this.#requireRole('crypto-user');
    return this.#backend.mac('control', controlCodeInput(id, ascendingRegister, descendingRegister));
  }

  async verifyControlCode(
    id: string,
    ascendingRegister: Mills,
    descendingRegister: Mills,
    code: Buffer,
  ): Promise<boolean> {
    this.#requireRole('crypto-user');
    return this.#backend.verifyMac(
      'control',
      controlCodeInput(id, ascendingRegister, descendingRegister),
      code,
    );
  }

  async randomBytes(length: number): Promise<Buffer> {
    this.#requireRole('crypto-user');
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
    await this.#backend.close();
  }

  async #transaction(
    databaseCheckpoint: Buffer | null,
    act: () => Promise<{
      state: PsdState;
      type: CheckpointRecord['type'];
      amount: Mills;
      signatures: { step: number; data: Buffer; signature: Buffer }[];
    }>,
  ): Promise<CommandResult> {
    return this.#busy(async () => {
      if (this.#inhibited !== null) {
        throw new VaultError(
          'vault.module_inhibited',
          `Module ${this.serial} is inhibited: ${this.#inhibited.reason}.`,
        );
      }
      await this.#reconcile(databaseCheckpoint);
      // Another module or process may have rotated the master key: seal under the newest version.
      if (this.#now().getTime() - this.#inventoryReadAt > INVENTORY_REFRESH_MS)
        await this.#refreshInventory();
      const outcome = await act();
      const version = this.#currentVersion();
      const sealedPackage = await sealPackage(this.#backend, outcome.state, version);
      const previous = this.#ring[0]?.record;
      const record = nextRecord(previous, {
        moduleSerial: this.serial,
        at: this.#now().toISOString(),
        type: outcome.type,
        meterId: outcome.state.meterId,
        amountMills: outcome.amount,
        ascendingRegisterMills: outcome.state.ascendingRegister,
        descendingRegisterMills: outcome.state.descendingRegister,
        packageSequence: outcome.state.sequence,
      });
      const checkpoint = await sealCheckpoint(this.#backend, record);
      // The module's own memory moves first; the caller's database commit follows. If that commit
      // fails, the next command finds the database one record behind and recovers.
      await this.#saveRing([{ sealed: checkpoint, record }, ...this.#ring].slice(0, this.#ringSize));
      this.#throughput.record(this.#now().getTime());
      const discarded = this.takeUnreportedRecoveries();
      const recovered = discarded.length === 0 ? null : { discarded };
      return {
        sealedPackage,
        keyVersion: version,
        view: viewOf(outcome.state),
        checkpoint,
        record,
        signatures: outcome.signatures,
        recovered,
      };
    });
  }

  /** How the database's checkpoint compares with this module's ring, without acting on it. */
  checkpointAgreement(databaseCheckpoint: Buffer | null): CheckpointDecision {
    const oldest = this.#ring.at(-1);
    return compareCheckpoints(
      this.#ring.map((entry) => entry.sealed),
      databaseCheckpoint,
      oldest === undefined || oldest.record.counter === 1,
    );
  }

  /**
   * Records discarded by auto-recovery that no result has reported yet: a command that recovered
   * and then failed (say, insufficient funds) leaves them here for the caller's audit log.
   */
  takeUnreportedRecoveries(): CheckpointRecord[] {
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
      case 'recover': {
        const discarded = this.#ring.slice(0, decision.discardCount).map((entry) => entry.record);
        await this.#saveRing(this.#ring.slice(decision.discardCount));
        this.#unreportedRecoveries.push(...discarded);
        return;
      }
      case 'inhibit':
        this.#inhibited = { reason: decision.reason, since: this.#now().toISOString() };
        throw new VaultError(
          'vault.module_inhibited',
          `Module ${this.serial} inhibited itself: ${decision.reason}.`,
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

  async #loadRing(): Promise<void> {
    if (this.#isRingLoaded) return;
    const stored = await this.#backend.readRing();
    if (stored === undefined) {
      this.#ring = [];
    } else {
      try {
        const sealedEntries = await decodeRing(this.#backend, stored);
        this.#ring = await Promise.all(
          sealedEntries.map(async (sealed) => ({
            sealed,
            record: await openCheckpoint(this.#backend, sealed),
          })),
        );
      } catch (error) {
        this.#ring = [];
        this.#inhibited = {
          reason: `its checkpoint memory is damaged (${error instanceof Error ? error.message : 'unreadable'})`,
          since: this.#now().toISOString(),
        };
      }
    }
    this.#isRingLoaded = true;
  }

  async #saveRing(entries: RingEntry[]): Promise<void> {
    await this.#backend.writeRing(
      await encodeRing(
        this.#backend,
        entries.map((entry) => entry.sealed),
      ),
    );
    this.#ring = entries;
    this.#isRingLoaded = true;
  }

  async #passesSelfTests(): Promise<boolean> {
    const results = await runKnownAnswerTests(this.#backend, this.#vectors);
    this.#lastSelfTest = { at: this.#now().toISOString(), results };
    const failed = results.filter((result) => !result.passed);
    if (failed.length > 0) {
      this.#enterError(
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
    };
  }

  #currentVersion(): number {
    const versions = this.#inventory.masterKeyVersions;
    if (versions.length === 0)
      throw new VaultError('vault.wrong_state', `Module ${this.serial} has no keys yet.`);
    return Math.max(...versions);
  }

  #enterError(reason: string): void {
    this.#state = 'error';
    this.#errorReason = reason;
  }

  #refuseInError(): void {
    if (this.#state === 'error') {
      throw new VaultError(
        'vault.error_state',
        `Module ${this.serial} is in the error state (${this.#errorReason ?? 'unknown'}); it refuses every command.`,
      );
    }
  }

  #requireState(allowed: readonly ModuleState[], action: string): void {
    if (!allowed.includes(this.#state)) {
      throw new VaultError(
        'vault.wrong_state',
        `Module ${this.serial} cannot ${action} in state ${this.#state}.`,
      );
    }
  }

  #requireRole(role: ModuleRole): void {
    this.#refuseInError();
    const needed = role === 'crypto-user' ? 'user' : 'crypto-officer';
    if (this.#state !== needed) {
      throw new VaultError(
        'vault.role_required',
        `This command needs the ${role} role; module ${this.serial} is ${this.#state}.`,
      );
    }
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

function controlCodeInput(id: string, ascendingRegister: Mills, descendingRegister: Mills): Buffer {
  const registers = Buffer.alloc(16);
  registers.writeBigUInt64BE(BigInt(ascendingRegister), 0);
  registers.writeBigUInt64BE(BigInt(descendingRegister), 8);
  return Buffer.concat([Buffer.from(`indicia-control|${id}|`, 'utf8'), registers]);
}

function nextRecord(
  previous: CheckpointRecord | undefined,
  fields: Omit<CheckpointRecord, 'counter' | 'totals'>,
): CheckpointRecord {
  const totals = previous?.totals ?? {
    fundedMills: 0 as Mills,
    printedMills: 0 as Mills,
    refundedMills: 0 as Mills,
  };
  return {
    ...fields,
    counter: (previous?.counter ?? 0) + 1,
    totals: {
      fundedMills: fields.type === 'fund' ? add(totals.fundedMills, fields.amountMills) : totals.fundedMills,
      printedMills:
        fields.type === 'debit' ? add(totals.printedMills, fields.amountMills) : totals.printedMills,
      refundedMills:
        fields.type === 'refund' || fields.type === 'withdraw'
          ? add(totals.refundedMills, fields.amountMills)
          : totals.refundedMills,
    },
  };
}
