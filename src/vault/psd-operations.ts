import { type Mills, add, compare, formatUsd, subtract } from '../money/index.ts';
import { type DeviceChange, applyDeviceChange } from './device-list.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/** What a command does to a PSD. Register rules are enforced here, inside the module boundary. */
export type PsdOperation =
  | { readonly type: 'fund'; readonly amount: Mills }
  | { readonly type: 'debit'; readonly amount: Mills }
  /** A master PSD funding another PSD: AR grows and DR shrinks as for a debit, nothing is printed. */
  | { readonly type: 'transfer'; readonly amount: Mills }
  | { readonly type: 'refund'; readonly amount: Mills }
  /**
   * A withdrawn mini-PSD's DR going back to the master PSD that funded it: the reverse of a transfer
   * (AR down, DR up). A module accepts it only beside a withdrawal of at least as much in one unit.
   */
  | { readonly type: 'return'; readonly amount: Mills }
  /** Postage already printed and refunded as spoiled: AR and DR stay, the refund register grows. */
  | { readonly type: 'spoil'; readonly amount: Mills }
  | { readonly type: 'suspend' }
  | { readonly type: 'resume' }
  | { readonly type: 'withdraw' }
  | {
      readonly type: 'update';
      readonly certificateSerial?: string | null;
      readonly licensingZip?: string | null;
      /** Enrolls, renews or revokes one device (device-list.ts). */
      readonly device?: DeviceChange;
      readonly passphraseHash?: string;
    };

function positive(amount: Mills, what: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new VaultError(
      'psd.invalid_amount',
      `A ${what} must be a positive whole number of mills; got ${amount}.`,
    );
  }
}

function requireActive(state: PsdState, what: string): void {
  if (state.state !== 'active') {
    throw new VaultError('psd.not_active', `Meter ${state.meterId} is ${state.state}; it cannot ${what}.`);
  }
}

const PASSPHRASE_HISTORY_LENGTH = 5;

/**
 * Applies one operation and returns the new state (sequence unchanged; the module bumps it once
 * per command). Invariant kept: AR + DR = everything ever funded minus refunds, all ≥ 0, DR ≤ max DR.
 */
export function applyOperation(state: PsdState, operation: PsdOperation, now: string): PsdState {
  switch (operation.type) {
    case 'fund': {
      positive(operation.amount, 'funding');
      requireActive(state, 'be funded');
      const descendingRegister = add(state.descendingRegister, operation.amount);
      if (compare(descendingRegister, state.maxDescendingRegister) > 0) {
        throw new VaultError(
          'psd.max_dr_exceeded',
          `Funding ${formatUsd(operation.amount)} would put meter ${state.meterId} above its maximum of ${formatUsd(state.maxDescendingRegister)} (it holds ${formatUsd(state.descendingRegister)}).`,
          {
            details: {
              maxDescendingRegisterMills: state.maxDescendingRegister,
              descendingRegisterMills: state.descendingRegister,
            },
          },
        );
      }
      return { ...state, descendingRegister, updatedAt: now };
    }
    case 'debit':
    case 'transfer': {
      const isDebit = operation.type === 'debit';
      positive(operation.amount, isDebit ? 'postage amount' : 'transfer');
      requireActive(state, isDebit ? 'print' : 'fund another PSD');
      if (compare(operation.amount, state.descendingRegister) > 0) {
        throw new VaultError(
          'psd.insufficient_funds',
          `Meter ${state.meterId} has ${formatUsd(state.descendingRegister)} left; ${formatUsd(operation.amount)} is needed.`,
          { details: { descendingRegisterMills: state.descendingRegister, amountMills: operation.amount } },
        );
      }
      return {
        ...state,
        ascendingRegister: add(state.ascendingRegister, operation.amount),
        descendingRegister: subtract(state.descendingRegister, operation.amount),
        updatedAt: now,
      };
    }
    case 'return': {
      positive(operation.amount, 'returned amount');
      requireActive(state, 'take value back');
      if (compare(operation.amount, state.ascendingRegister) > 0) {
        throw new VaultError(
          'psd.insufficient_funds',
          `Meter ${state.meterId} transferred ${formatUsd(state.ascendingRegister)} in all; ${formatUsd(operation.amount)} cannot come back to it.`,
        );
      }
      const descendingRegister = add(state.descendingRegister, operation.amount);
      if (compare(descendingRegister, state.maxDescendingRegister) > 0) {
        throw new VaultError(
          'psd.max_dr_exceeded',
          `Taking back ${formatUsd(operation.amount)} would put meter ${state.meterId} above its maximum of ${formatUsd(state.maxDescendingRegister)}.`,
        );
      }
      return {
        ...state,
        ascendingRegister: subtract(state.ascendingRegister, operation.amount),
        descendingRegister,
        updatedAt: now,
      };
    }
    case 'refund': {
      positive(operation.amount, 'refund');
      if (state.state === 'withdrawn') requireActive(state, 'refund');
      if (compare(operation.amount, state.descendingRegister) > 0) {
        throw new VaultError(
          'psd.insufficient_funds',
          `Meter ${state.meterId} holds ${formatUsd(state.descendingRegister)}; it cannot refund ${formatUsd(operation.amount)}.`,
        );
      }
      return {
        ...state,
        descendingRegister: subtract(state.descendingRegister, operation.amount),
        refundRegister: add(state.refundRegister, operation.amount),
        updatedAt: now,
      };
    }
    case 'spoil': {
      positive(operation.amount, 'spoilage refund');
      if (state.state === 'withdrawn') requireActive(state, 'refund spoiled postage');
      const refundRegister = add(state.refundRegister, operation.amount);
      if (compare(operation.amount, state.ascendingRegister) > 0) {
        throw new VaultError(
          'psd.insufficient_funds',
          `Meter ${state.meterId} printed ${formatUsd(state.ascendingRegister)} in all; it cannot refund ${formatUsd(operation.amount)} of it as spoiled.`,
        );
      }
      return { ...state, refundRegister, updatedAt: now };
    }
    case 'suspend':
      requireActive(state, 'be suspended');
      return { ...state, state: 'suspended', updatedAt: now };
    case 'resume':
      if (state.state !== 'suspended') {
        throw new VaultError('psd.not_active', `Meter ${state.meterId} is ${state.state}, not suspended.`);
      }
      return { ...state, state: 'active', updatedAt: now };
    case 'withdraw':
      if (state.state === 'withdrawn') requireActive(state, 'be withdrawn again');
      // A withdrawal refunds whatever is left and closes the meter for good.
      return {
        ...state,
        state: 'withdrawn',
        refundRegister: add(state.refundRegister, state.descendingRegister),
        descendingRegister: subtract(state.descendingRegister, state.descendingRegister),
        updatedAt: now,
      };
    case 'update': {
      const { type: _type, passphraseHash, device, ...fields } = operation;
      const passphraseHistory =
        passphraseHash === undefined
          ? state.passphraseHistory
          : [passphraseHash, ...state.passphraseHistory].slice(0, PASSPHRASE_HISTORY_LENGTH);
      const devices = device === undefined ? state.devices : applyDeviceChange(state, device, now);
      return { ...state, ...fields, devices, passphraseHistory, updatedAt: now };
    }
  }
}

/** Value an operation moved, for checkpoint records and module totals. */
export function amountOf(operation: PsdOperation, before: PsdState): Mills {
  switch (operation.type) {
    case 'fund':
    case 'debit':
    case 'transfer':
    case 'return':
    case 'refund':
    case 'spoil':
      return operation.amount;
    case 'withdraw':
      return before.descendingRegister;
    case 'suspend':
    case 'resume':
    case 'update':
      return 0 as Mills;
  }
}
