import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { AccountError } from './account-error.ts';
import { newSecret, secretHash } from './secrets.ts';

/** Failed sign-ins (from unknown devices) an account takes before it is locked for a while. */
export const FAILURES_BEFORE_LOCK = 5;
const FIRST_LOCK_MS = 60_000;
const LONGEST_LOCK_MS = 60 * 60_000;

/** How long the lock lasts after `failures` failures: 1 minute, doubling, at most an hour. */
export function lockDurationMs(failures: number): number {
  if (failures < FAILURES_BEFORE_LOCK) return 0;
  return Math.min(LONGEST_LOCK_MS, FIRST_LOCK_MS * 2 ** (failures - FAILURES_BEFORE_LOCK));
}

function lockedError(until: number, now: number): AccountError {
  const seconds = Math.max(1, Math.ceil((until - now) / 1000));
  return new AccountError(
    'account.locked',
    `Too many failed sign-ins for this address; try again in ${Math.ceil(seconds / 60)} minute(s), sign in from a browser or client you used before, or reset the password.`,
    { details: { retryAfterSeconds: seconds } },
  );
}

/**
 * Sign-in lockout that an attacker cannot turn against the real user (OWASP's device cookies):
 * failures from unknown devices lock the account for a growing while, but a device that signed
 * in successfully before carries a token that bypasses the lock. E-mail addresses without an
 * account are locked the same way (in memory), so a lock tells nothing about who has an account.
 */
export class SignInLockout {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #unknown = new Map<string, { failures: number; lockedUntil: number }>();

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  /** Whether `deviceToken` is a known device of the account. */
  async isKnownDevice(accountId: string, deviceToken: string | undefined): Promise<boolean> {
    if (deviceToken === undefined || deviceToken.length > 100) return false;
    const row = await this.#db
      .selectFrom('known_devices')
      .select('account_id')
      .where('token_hash', '=', secretHash(deviceToken))
      .executeTakeFirst();
    return row?.account_id === accountId;
  }

  /** Refuses before any password check while the address is locked for this (unknown) device. */
  check(
    email: string,
    account: { locked_until: string | null } | undefined,
    isKnownDevice: boolean,
    now = Date.now(),
  ): void {
    if (isKnownDevice) return;
    const until =
      account === undefined
        ? (this.#unknown.get(email)?.lockedUntil ?? 0)
        : account.locked_until === null
          ? 0
          : Date.parse(account.locked_until);
    if (until > now) throw lockedError(until, now);
  }

  /** Counts a failure from an unknown device. */
  async failed(email: string, account: { id: string } | undefined, now = Date.now()): Promise<void> {
    if (account === undefined) {
      const failures = (this.#unknown.get(email)?.failures ?? 0) + 1;
      if (this.#unknown.size > 100_000) this.#unknown.clear();
      this.#unknown.set(email, { failures, lockedUntil: now + lockDurationMs(failures) });
      return;
    }
    // Counted in the database, not from the count read before the password check: failures sent
    // at once must each count (the row stays locked until the lock time is set on PostgreSQL).
    await this.#db.transaction().execute(async (trx) => {
      const { failed_sign_ins: failures } = await trx
        .updateTable('accounts')
        .set((eb) => ({ failed_sign_ins: eb('failed_sign_ins', '+', 1) }))
        .where('id', '=', account.id)
        .returning('failed_sign_ins')
        .executeTakeFirstOrThrow();
      const duration = lockDurationMs(failures);
      await trx
        .updateTable('accounts')
        .set({ locked_until: duration === 0 ? null : new Date(now + duration).toISOString() })
        .where('id', '=', account.id)
        .execute();
    });
  }

  /** After a good password: the count starts over, and the device is (or stays) known. */
  async succeeded(
    accountId: string,
    deviceToken: string | undefined,
    isKnownDevice: boolean,
  ): Promise<string> {
    const now = new Date().toISOString();
    await this.#db
      .updateTable('accounts')
      .set({ failed_sign_ins: 0, locked_until: null })
      .where('id', '=', accountId)
      .where('failed_sign_ins', '>', 0)
      .execute();
    if (isKnownDevice && deviceToken !== undefined) {
      await this.#db
        .updateTable('known_devices')
        .set({ last_used_at: now })
        .where('token_hash', '=', secretHash(deviceToken))
        .execute();
      return deviceToken;
    }
    const token = newSecret();
    await this.#db
      .insertInto('known_devices')
      .values({ token_hash: secretHash(token), account_id: accountId, created_at: now, last_used_at: now })
      .execute();
    return token;
  }
}
