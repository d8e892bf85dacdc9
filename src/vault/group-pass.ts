import type { Mills } from '../money/index.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import type { TransactionEntry, TransactionType } from './checkpoint.ts';
import { advanceDevice, checkClientAuthorization, checkDeviceSteps } from './client-protocol.ts';
import { type OpenSigningKeys, type PendingSignature, runSteps, settleSignatures } from './command-steps.ts';
import { newCheckedKey } from './key-generation.ts';
import {
  type GroupRequest,
  type GroupResult,
  MAX_GROUP_COMMANDS,
  type ModuleCommand,
  newPsdState,
  returnedBy,
  signingKeyEntry,
  viewOf,
} from './module-commands.ts';
import { type PackageExpectation, type PsdState, sealPackage } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

const DEFAULT_KEY_VALIDITY_DAYS = 3 * 365;

/** What a group pass needs from its module: keys, the master key version, time, and its error state. */
export interface GroupPassContext {
  readonly backend: CryptoBackend;
  readonly keys: OpenSigningKeys;
  readonly version: number;
  readonly now: Date;
  readonly unseal: (sealed: Buffer, expected: PackageExpectation) => Promise<{ state: PsdState }>;
  readonly enterError: (reason: string) => void;
  readonly isInError: () => boolean;
}

interface AppliedCommand {
  readonly state: PsdState;
  readonly type: TransactionType;
  readonly amount: Mills;
  readonly signatures: PendingSignature[];
}

/** A pass's result before anything is sealed: outcomes, the transactions kept, each meter's new state. */
export interface GroupPass {
  readonly outcomes: GroupResult['outcomes'][number][];
  readonly transactions: TransactionEntry[];
  readonly working: Map<string, { state: PsdState; fromSequence: number | null }>;
}

/** A group holds 1 to {@link MAX_GROUP_COMMANDS} commands, and every execute command has steps. */
export function checkGroupRequest(request: GroupRequest): void {
  if (request.commands.length === 0 || request.commands.length > MAX_GROUP_COMMANDS) {
    throw new VaultError(
      'vault.wrong_state',
      `A group holds 1 to ${MAX_GROUP_COMMANDS} commands; ${request.commands.length} were given.`,
    );
  }
  for (const command of request.commands) {
    if (command.kind === 'execute' && command.steps.length === 0)
      throw new VaultError('vault.wrong_state', 'A command needs at least one step.');
  }
}

/** Each package the pass changed, sealed once under `version`. */
export async function sealChangedPackages(
  backend: CryptoBackend,
  working: GroupPass['working'],
  version: number,
): Promise<NonNullable<GroupResult['committed']>['packages'][number][]> {
  const packages = [];
  for (const [meterId, { state, fromSequence }] of working) {
    if (state.sequence === fromSequence) continue;
    packages.push({
      meterId,
      fromSequence,
      sequence: state.sequence,
      sealedPackage: await sealPackage(backend, state, version),
      keyVersion: version,
    });
  }
  return packages;
}

/**
 * The commands of a group applied in order: commands on one meter chain; a refused command fails
 * itself and the rest of its unit (units stand or fall together) and changes nothing; a value
 * `return` must equal what withdrawals in its unit released. Every signature is in before this
 * returns. Sealing, the checkpoint record and the ring write are the module's.
 */
export async function runGroupPass(context: GroupPassContext, request: GroupRequest): Promise<GroupPass> {
  const stored = new Map(request.packages.map((entry) => [entry.expected.meterId, entry]));
  const working = new Map<string, { state: PsdState; fromSequence: number | null }>();
  const current = async (meterId: string): Promise<PsdState> => {
    const known = working.get(meterId);
    if (known !== undefined) return known.state;
    const entry = stored.get(meterId);
    if (entry === undefined)
      throw new VaultError('vault.wrong_state', `No package was given for meter ${meterId}.`);
    const { state } = await context.unseal(entry.sealedPackage, entry.expected);
    working.set(meterId, { state, fromSequence: state.sequence });
    return state;
  };
  const outcomes: GroupResult['outcomes'][number][] = [];
  const pendingSignatures = new Map<number, PendingSignature[]>();
  const transactions: TransactionEntry[] = [];
  const units = request.units ?? request.commands.map((_, index) => index);
  let unitStart = { unit: Number.NaN, working: new Map(working), transactions: 0, outcomes: 0 };
  // Value a unit's withdrawals released and its returns took back: a return brings them level.
  let unitFlow = { released: 0, returned: 0 };
  let failedUnit: { unit: number; error: unknown } | null = null;
  for (const [index, command] of request.commands.entries()) {
    const unit = units[index] ?? index;
    if (unit !== unitStart.unit) {
      unitStart = {
        unit,
        working: new Map(working),
        transactions: transactions.length,
        outcomes: outcomes.length,
      };
      unitFlow = { released: 0, returned: 0 };
      failedUnit = null;
    }
    if (failedUnit !== null) {
      outcomes.push({ ok: false, error: failedUnit.error });
      continue;
    }
    try {
      const returning = returnedBy(command);
      unitFlow.returned += returning;
      if (returning > 0 && unitFlow.returned !== unitFlow.released) {
        throw new VaultError(
          'psd.unbalanced_return',
          `Meter ${command.meterId} may take back exactly what withdrawals in the same unit released (${unitFlow.released} mills), not ${unitFlow.returned}.`,
        );
      }
      const applied =
        command.kind === 'create'
          ? await createCommand(context, command, stored, working)
          : await applyCommand(context, command, await current(command.meterId));
      if (applied.type === 'withdraw') unitFlow.released += applied.amount;
      const fromSequence = working.get(command.meterId)?.fromSequence ?? null;
      working.set(command.meterId, { state: applied.state, fromSequence });
      const transaction: TransactionEntry = {
        type: applied.type,
        meterId: command.meterId,
        amountMills: applied.amount,
        ascendingRegisterMills: applied.state.ascendingRegister,
        descendingRegisterMills: applied.state.descendingRegister,
        packageSequence: applied.state.sequence,
      };
      transactions.push(transaction);
      if (applied.signatures.length > 0) pendingSignatures.set(outcomes.length, applied.signatures);
      outcomes.push({
        ok: true,
        outcome: { transaction, view: viewOf(applied.state), keyVersion: context.version, signatures: [] },
      });
    } catch (error) {
      // A module fault ends the pass; a refused command fails itself and the rest of its unit.
      if (context.isInError()) throw error;
      failedUnit = { unit, error };
      working.clear();
      for (const [meterId, entry] of unitStart.working) working.set(meterId, entry);
      transactions.length = unitStart.transactions;
      for (let undone = unitStart.outcomes; undone < outcomes.length; undone += 1)
        outcomes[undone] = { ok: false, error };
      outcomes.push({ ok: false, error });
    }
  }
  // Every signature is in before anything is sealed; a failed one fails the whole pass.
  for (const [index, pending] of pendingSignatures) {
    const result = outcomes[index];
    if (result?.ok !== true) continue;
    outcomes[index] = {
      ok: true,
      outcome: { ...result.outcome, signatures: await settleSignatures(pending) },
    };
  }
  return { outcomes, transactions, working };
}

async function createCommand(
  context: GroupPassContext,
  command: Extract<ModuleCommand, { kind: 'create' }>,
  stored: ReadonlyMap<string, unknown>,
  working: ReadonlyMap<string, unknown>,
): Promise<AppliedCommand> {
  const { version, now } = context;
  if (stored.has(command.meterId) || working.has(command.meterId))
    throw new VaultError('vault.wrong_state', `Meter ${command.meterId} already has a package.`);
  const algorithm = command.algorithm ?? 'ecdsa-p256';
  const key = await newCheckedKey(context.backend, algorithm, version, command.meterId, context.enterError);
  const state = newPsdState({
    request: { ...command, databaseCheckpoint: null },
    signingKey: { algorithm, wrapVersion: version, ...key },
    now,
    validityDays: command.keyValidityDays ?? DEFAULT_KEY_VALIDITY_DAYS,
  });
  return { state, type: 'create', amount: 0 as Mills, signatures: [] };
}

async function applyCommand(
  context: GroupPassContext,
  command: Exclude<ModuleCommand, { kind: 'create' }>,
  before: PsdState,
): Promise<AppliedCommand> {
  const { version, now } = context;
  if (command.kind === 'execute') {
    const { authorization } = command;
    // Only the signing device's chain is checked and advanced: other devices' requests interleave.
    const authorized =
      authorization === undefined ? null : checkClientAuthorization(before, authorization, now);
    checkDeviceSteps(before, command.steps, authorized);
    const { state, amount, signatures } = runSteps(context.keys, before, command.steps, now);
    const type = command.steps[0]?.operation.type ?? 'update';
    const after =
      authorization === undefined || authorized === null
        ? state
        : advanceDevice(state, authorized, authorization);
    return { state: { ...after, sequence: before.sequence + 1 }, type, amount, signatures };
  }
  if (before.state === 'withdrawn') {
    throw new VaultError('psd.not_active', `Meter ${before.meterId} is withdrawn; it needs no new key.`);
  }
  const algorithm = command.algorithm ?? before.signingKey.algorithm;
  const key = await newCheckedKey(context.backend, algorithm, version, before.meterId, context.enterError);
  const state: PsdState = {
    ...before,
    sequence: before.sequence + 1,
    certificateSerial: null,
    signingKey: signingKeyEntry(
      key,
      algorithm,
      version,
      now,
      command.keyValidityDays ?? DEFAULT_KEY_VALIDITY_DAYS,
    ),
    updatedAt: now.toISOString(),
  };
  return { state, type: 'update', amount: 0 as Mills, signatures: [] };
}
