import { type Mills, add } from '../money/index.ts';
import type { GeneratedSigningKey, SigningAlgorithm } from './backend/crypto-backend.ts';
import type { CheckpointRecord, DiscardedTransaction, TransactionEntry } from './checkpoint.ts';
import type { KnownAnswerVectors, SelfTestResult } from './known-answer-tests.ts';
import type { PsdOperation } from './psd-operations.ts';
import type { PackageExpectation, PsdState } from './psd-package.ts';
import type { ClientAuthorization } from './client-protocol.ts';
import { type DeviceView, deviceViews } from './device-list.ts';

/** A PSD as callers may see it: registers and public facts, no key material, no client secrets. */
export type PsdView = Omit<PsdState, 'signingKey' | 'devices' | 'passphraseHistory'> & {
  readonly signingKey: {
    readonly algorithm: SigningAlgorithm;
    readonly publicKey: string;
    readonly expiresAt: string;
  };
  /** Whether any device that is not revoked is enrolled. */
  readonly hasHmk: boolean;
  readonly devices: readonly DeviceView[];
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

/** What one successful command did, as its caller sees it. */
export interface CommandOutcome {
  readonly transaction: TransactionEntry;
  readonly view: PsdView;
  /** Master key version the meter's package is sealed under now. */
  readonly keyVersion: number;
  /** One entry per step that asked for a signature, in order. */
  readonly signatures: readonly {
    readonly step: number;
    readonly data: Buffer;
    readonly signature: Buffer;
  }[];
}

export interface CommandResult extends CommandOutcome {
  readonly sealedPackage: Buffer;
  /** The new checkpoint, to store in the module table in the same commit as the package. */
  readonly checkpoint: Buffer;
  readonly record: CheckpointRecord;
  /** Present when the module rolled back records the database never kept (seed 001 auto-recovery). */
  readonly recovered: { readonly discarded: readonly DiscardedTransaction[] } | null;
}

/** One command of a group: a new PSD, steps on an existing one, or a new signing key. */
export type ModuleCommand =
  | {
      readonly kind: 'execute';
      readonly meterId: string;
      readonly steps: readonly CommandStep[];
      /** An enrolled device's signed request: checked before the steps; its next challenge kept. */
      readonly authorization?: ClientAuthorization | undefined;
    }
  | ({ readonly kind: 'create' } & Omit<NewPackageRequest, 'databaseCheckpoint'>)
  | ({ readonly kind: 'replace-key'; readonly meterId: string } & Omit<
      KeyReplacementRequest,
      'databaseCheckpoint' | 'sealedPackage' | 'expected'
    >);

/** The most commands one group may hold (one checkpoint record lists them all). */
export const MAX_GROUP_COMMANDS = 64;

export interface GroupRequest {
  /** The module table's latest checkpoint for this module, exactly as stored, or null. */
  readonly databaseCheckpoint: Buffer | null;
  /** The stored package of every existing meter the commands name. */
  readonly packages: readonly { readonly sealedPackage: Buffer; readonly expected: PackageExpectation }[];
  /** Applied in order; commands on one meter chain, each starting from the one before. */
  readonly commands: readonly ModuleCommand[];
  /**
   * Unit of each command (same length as `commands`): adjacent commands with the same unit stand or
   * fall together, as a transfer between two PSDs must. Each command is its own unit when omitted.
   */
  readonly units?: readonly number[];
}

export interface GroupResult {
  /** Per command, in order: what it did, or why it was refused (a refused command changes nothing). */
  readonly outcomes: readonly (
    { readonly ok: true; readonly outcome: CommandOutcome } | { readonly ok: false; readonly error: unknown }
  )[];
  /** Null when every command was refused: nothing moved, nothing to commit. */
  readonly committed: {
    readonly checkpoint: Buffer;
    readonly record: CheckpointRecord;
    /** Every changed meter's package after the group; `fromSequence` is null for a new one. */
    readonly packages: readonly {
      readonly meterId: string;
      readonly fromSequence: number | null;
      readonly sequence: number;
      readonly sealedPackage: Buffer;
      readonly keyVersion: number;
    }[];
    readonly recovered: { readonly discarded: readonly DiscardedTransaction[] } | null;
  } | null;
}

export interface NewPackageRequest {
  readonly databaseCheckpoint: Buffer | null;
  readonly meterId: string;
  readonly maxDescendingRegister: Mills;
  readonly licensingZip: string | null;
  readonly algorithm?: SigningAlgorithm;
  readonly keyValidityDays?: number;
}

export interface KeyReplacementRequest {
  readonly databaseCheckpoint: Buffer | null;
  readonly sealedPackage: Buffer;
  readonly expected: PackageExpectation;
  /** The new key's algorithm; the old one's unless given. */
  readonly algorithm?: SigningAlgorithm;
  readonly keyValidityDays?: number;
}

export interface CryptoModuleOptions {
  /** How many transaction records the module keeps (3 to 5). */
  readonly ringSize?: number;
  /** Known-answer vectors; the real ones unless a test forces a failure. */
  readonly vectors?: KnownAnswerVectors;
  readonly now?: () => Date;
  /** Its number in the backend (1..N for a server's modules, 100 for the operator's), for status. */
  readonly moduleNumber?: number;
  /** The code-integrity power-up test; the running code against its manifest unless a test says otherwise. */
  readonly checkCode?: () => SelfTestResult;
}

/** The view of a state, without secrets. */
/** Value a command's 'return' steps take back into a master PSD (0 for any other command). */
export function returnedBy(command: ModuleCommand): number {
  if (command.kind !== 'execute') return 0;
  return command.steps.reduce(
    (total, step) => total + (step.operation.type === 'return' ? step.operation.amount : 0),
    0,
  );
}

export function viewOf(state: PsdState): PsdView {
  const { signingKey, devices, passphraseHistory: _history, ...rest } = state;
  return {
    ...rest,
    signingKey: {
      algorithm: signingKey.algorithm,
      publicKey: signingKey.publicKey,
      expiresAt: signingKey.expiresAt,
    },
    hasHmk: devices.some((device) => device.hmk !== null),
    devices: deviceViews(devices),
  };
}

/** The bytes a control code covers: id, AR and DR. */
export function controlCodeInput(id: string, ascendingRegister: Mills, descendingRegister: Mills): Buffer {
  const registers = Buffer.alloc(16);
  registers.writeBigUInt64BE(BigInt(ascendingRegister), 0);
  registers.writeBigUInt64BE(BigInt(descendingRegister), 8);
  return Buffer.concat([Buffer.from(`indicia-control|${id}|`, 'utf8'), registers]);
}

export function nextRecord(
  previous: CheckpointRecord | undefined,
  fields: Omit<CheckpointRecord, 'counter' | 'totals'>,
): CheckpointRecord {
  let { fundedMills, printedMills, refundedMills } = previous?.totals ?? {
    fundedMills: 0 as Mills,
    printedMills: 0 as Mills,
    refundedMills: 0 as Mills,
  };
  for (const entry of fields.transactions) {
    if (entry.type === 'fund') fundedMills = add(fundedMills, entry.amountMills);
    if (entry.type === 'debit') printedMills = add(printedMills, entry.amountMills);
    if (entry.type === 'refund' || entry.type === 'withdraw' || entry.type === 'spoil')
      refundedMills = add(refundedMills, entry.amountMills);
  }
  return {
    ...fields,
    counter: (previous?.counter ?? 0) + 1,
    totals: { fundedMills, printedMills, refundedMills },
  };
}

/** The sealed form of a freshly generated signing key, valid for `validityDays` from `now`. */
export function signingKeyEntry(
  key: GeneratedSigningKey,
  algorithm: SigningAlgorithm,
  wrapVersion: number,
  now: Date,
  validityDays: number,
): PsdState['signingKey'] {
  return {
    algorithm,
    wrapVersion,
    wrapped: key.wrappedPrivateKey.toString('base64'),
    publicKey: key.publicKey.toString('base64'),
    expiresAt: new Date(now.getTime() + validityDays * 86_400_000).toISOString(),
  };
}

/** A new meter's PSD: registers at zero, sequence 0, active, with its freshly wrapped signing key. */
export function newPsdState(input: {
  request: NewPackageRequest;
  signingKey: GeneratedSigningKey & { algorithm: SigningAlgorithm; wrapVersion: number };
  now: Date;
  validityDays: number;
}): PsdState {
  const { request, signingKey, now, validityDays } = input;
  return {
    meterId: request.meterId,
    sequence: 0,
    state: 'active',
    ascendingRegister: 0 as Mills,
    descendingRegister: 0 as Mills,
    maxDescendingRegister: request.maxDescendingRegister,
    refundRegister: 0 as Mills,
    signingKey: signingKeyEntry(signingKey, signingKey.algorithm, signingKey.wrapVersion, now, validityDays),
    certificateSerial: null,
    licensingZip: request.licensingZip,
    devices: [],
    passphraseHistory: [],
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
}
