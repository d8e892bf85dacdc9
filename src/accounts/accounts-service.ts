import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely, Transaction } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import type { Mailer } from '../mail/index.ts';
import { hashPassword, verifyPassword } from '../passwords/index.ts';
import { type AccountRole, type AccountsTable, type DatabaseSchema, allocateNumber } from '../store/index.ts';
import { AccountError } from './account-error.ts';
import {
  type ApiKeyView,
  type NewSession,
  apiKeyPrincipal,
  createApiKey,
  endSessions,
  isCsrfTokenValid,
  listApiKeys,
  revokeApiKey,
  sessionPrincipal,
  startSession,
} from './credentials.ts';
import type { AccountView, Principal } from './principal.ts';
import {
  type AccountProfile,
  type RegistrationInput,
  checkPassword,
  checkRegistration,
  normalizeEmail,
} from './registration.ts';
import { VERIFICATION_LIFETIME_MS, resendVerification, verificationMessage } from './email-verification.ts';
import { SignInLockout } from './lockout.ts';
import { newSecret, secretHash } from './secrets.ts';

const RESET_LIFETIME_MS = 3_600_000;
const FIRST_CUSTOMER_NUMBER = 100_001;

/**
 * Inserts a new account, or refuses its e-mail address when an account has it: also when another
 * sign-up with that address commits first (the insert waits for it on PostgreSQL, then does nothing).
 */
async function insertAccount(
  trx: Transaction<DatabaseSchema>,
  row: Insertable<AccountsTable>,
  advice: string,
): Promise<void> {
  const inserted = await trx
    .insertInto('accounts')
    .values(row)
    .onConflict((conflict) => conflict.column('email').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted === undefined)
    throw new AccountError('account.email_taken', `An account with ${row.email} exists already; ${advice}`);
}

export interface AccountsDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly mailer: Mailer;
  /** The address customers reach the server at, for links in e-mails (known once it listens). */
  readonly publicUrl: () => string;
  /** Pieces a browser session may print between password checks. */
  readonly passwordRecheckPieces?: number;
}

/** Work the caller adds to the sign-up's own transaction (filing the licence application). */
export type WithinRegistration = (
  trx: Transaction<DatabaseSchema>,
  account: AccountView & { profile: AccountProfile },
) => Promise<void>;

export interface AccountsService {
  /** A customer's sign-up: the account, its customer number, and an e-mail to verify the address. */
  register(input: RegistrationInput, withinCommit?: WithinRegistration): Promise<AccountView>;
  /** Staff accounts (support, admin, crypto-officer, auditor), made by an administrator. */
  createStaffAccount(request: {
    email: string;
    name: string;
    role: AccountRole;
    password: string;
  }): Promise<AccountView>;
  /** Confirms the e-mail address with the token from the verification e-mail. */
  verifyEmail(token: string): Promise<AccountView>;
  /** Always succeeds (no account enumeration); mails an unconfirmed account a new link. */
  resendEmailVerification(email: string): Promise<void>;
  /**
   * Signs in; `deviceToken` is the known-device cookie, if the client has one. The answer carries
   * the device token to keep (the same, or a new one).
   */
  signIn(
    email: string,
    password: string,
    deviceToken?: string,
  ): Promise<{ account: AccountView; session: NewSession; deviceToken: string }>;
  /**
   * The password checked again during a long batch print ("asynchronous dynamic password
   * verification"): right, the session may print another allowance; wrong, the session ends.
   */
  recheckPassword(principal: Principal, password: string): Promise<void>;
  /**
   * Refuses (`account.password_check_required`) when printing `pieces` more would take the
   * session past its allowance since the last password check. A read only: the pieces are counted
   * by {@link countPrinting} in the issuing commit itself (two requests of one session racing may
   * overshoot by one request). API keys have no password and no allowance.
   */
  checkPrintingAllowance(principal: Principal, pieces: number): Promise<void>;
  /** Counts printed pieces against the session's allowance, inside the issuing transaction. */
  countPrinting(trx: Transaction<DatabaseSchema>, principal: Principal, pieces: number): Promise<void>;
  sessionPrincipal(token: string): Promise<{ principal: Principal; csrfHash: string } | null>;
  apiKeyPrincipal(key: string): Promise<Principal | null>;
  isCsrfTokenValid(csrfToken: string | undefined, csrfHash: string): boolean;
  endSession(sessionId: string): Promise<void>;
  /** Changes the password; every other session of the account ends. */
  changePassword(principal: Principal, currentPassword: string, newPassword: string): Promise<void>;
  /** Always succeeds (no account enumeration); mails a reset link when the account exists. */
  requestPasswordReset(email: string): Promise<void>;
  /** Sets a new password with the e-mailed token; every session of the account ends. */
  resetPassword(token: string, newPassword: string): Promise<void>;
  createApiKey(
    principal: Principal,
    request: { name: string; scopes: readonly string[] },
  ): Promise<ApiKeyView & { key: string }>;
  listApiKeys(principal: Principal): Promise<ApiKeyView[]>;
  revokeApiKey(principal: Principal, keyId: string): Promise<void>;
  account(accountId: string): Promise<AccountView>;
  /** A customer's sign-up details (addresses, licensing ZIP, post office); null for staff. */
  profile(accountId: string): Promise<AccountProfile | null>;
}

function viewOf(row: {
  id: string;
  email: string;
  display_name: string;
  role: AccountRole;
  customer_number: number | null;
  meter_mode: 'dedicated' | 'pooled' | null;
  company: string | null;
  email_verified_at: string | null;
  created_at: string;
}): AccountView {
  return {
    id: row.id,
    email: row.email,
    name: row.display_name,
    role: row.role,
    customerNumber: row.customer_number,
    meterMode: row.meter_mode,
    company: row.company,
    emailVerified: row.email_verified_at !== null,
    createdAt: row.created_at,
  };
}

/**
 * Accounts: customers' sign-up (the licence application's fields, e-mail verification), staff
 * accounts, sign-in with argon2id (rehashed on sign-in when today's parameters are stronger),
 * browser sessions with a CSRF token, scoped API keys, password change and reset by e-mail.
 *
 * @example const accounts = createAccountsService({ db, mailer, publicUrl: () => 'https://postage.example.com' });
 */
export function createAccountsService({
  db,
  mailer,
  publicUrl,
  passwordRecheckPieces = 5_000,
}: AccountsDependencies): AccountsService {
  // Unknown e-mail addresses still cost one argon2id derivation, so timing does not tell them apart.
  const decoyHash = hashPassword(newSecret());
  const lockout = new SignInLockout(db);

  const accountRow = async (accountId: string) => {
    const row = await db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
    if (row === undefined)
      throw new AccountError('account.unauthenticated', 'This account no longer exists.');
    return row;
  };

  const issueToken = async (
    trx: Kysely<DatabaseSchema>,
    accountId: string,
    purpose: 'email-verification' | 'password-reset',
    lifetimeMs: number,
  ): Promise<string> => {
    const token = newSecret();
    const now = Date.now();
    await trx
      .insertInto('account_tokens')
      .values({
        token_hash: secretHash(token),
        account_id: accountId,
        purpose,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + lifetimeMs).toISOString(),
        used_at: null,
      })
      .execute();
    return token;
  };

  /** Marks a one-time token used and returns its account; refuses unknown, used or expired tokens. */
  const consumeToken = async (
    trx: Transaction<DatabaseSchema>,
    token: string,
    purpose: 'email-verification' | 'password-reset',
  ): Promise<string> => {
    const now = new Date().toISOString();
    const row =
      token.length > 100
        ? undefined
        : await trx
            .selectFrom('account_tokens')
            .selectAll()
            .where('token_hash', '=', secretHash(token))
            .where('purpose', '=', purpose)
            .executeTakeFirst();
    const invalid = new AccountError(
      'account.token_invalid',
      purpose === 'email-verification'
        ? 'This verification link is unknown, used or expired; sign in and ask for a new one.'
        : 'This password-reset link is unknown, used or expired; ask for a new one.',
    );
    if (row === undefined || row.used_at !== null || row.expires_at <= now) throw invalid;
    // Only if still unused: of two requests with the same token at once, one wins (on PostgreSQL
    // the other waits for its commit, then updates nothing).
    const used = await trx
      .updateTable('account_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', row.token_hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (used.numUpdatedRows !== 1n) throw invalid;
    return row.account_id;
  };

  const setPassword = async (trx: Transaction<DatabaseSchema>, accountId: string, password: string) => {
    const now = new Date().toISOString();
    await trx
      .updateTable('accounts')
      .set({ password_hash: await hashPassword(password), password_changed_at: now })
      .where('id', '=', accountId)
      .execute();
  };

  return {
    async register(input, withinCommit) {
      const checked = checkRegistration(input);
      const passwordHash = await hashPassword(input.password);
      const verification = newSecret();
      const account = await db.transaction().execute(async (trx) => {
        // Taken inside the sign-up's transaction: a refused or failed sign-up gives the number back.
        const customerNumber = await allocateNumber(trx, 'customer-number', FIRST_CUSTOMER_NUMBER);
        const now = new Date().toISOString();
        const row = {
          id: `acct_${randomUUID()}`,
          email: checked.email,
          display_name: checked.name,
          role: 'customer' as const,
          password_hash: passwordHash,
          created_at: now,
          customer_number: customerNumber,
          meter_mode: input.meterMode,
          company: checked.company,
          phone: checked.phone,
          profile: canonicalJson(checked.profile),
          email_verified_at: null,
        };
        await insertAccount(trx, row, 'sign in, or reset its password.');
        await trx
          .insertInto('account_tokens')
          .values({
            token_hash: secretHash(verification),
            account_id: row.id,
            purpose: 'email-verification',
            created_at: now,
            expires_at: new Date(Date.now() + VERIFICATION_LIFETIME_MS).toISOString(),
            used_at: null,
          })
          .execute();
        const view = viewOf(row);
        await withinCommit?.(trx, { ...view, profile: checked.profile });
        await appendAuditEvents(trx, [
          {
            kind: 'account.registered',
            details: { accountId: row.id, customerNumber, meterMode: input.meterMode },
          },
        ]);
        return view;
      });
      await mailer.send(verificationMessage(account, verification, publicUrl()));
      return account;
    },

    async createStaffAccount(request) {
      if (request.role === 'customer')
        throw new AccountError('account.invalid', 'Customers sign up themselves; staff roles only here.', {
          details: { field: 'role' },
        });
      const email = normalizeEmail(request.email);
      checkPassword(request.password, email);
      const name = request.name.trim();
      if (name === '')
        throw new AccountError('account.invalid', 'Give the person’s name.', { details: { field: 'name' } });
      const passwordHash = await hashPassword(request.password);
      return db.transaction().execute(async (trx) => {
        const now = new Date().toISOString();
        const row = {
          id: `acct_${randomUUID()}`,
          email,
          display_name: name,
          role: request.role,
          password_hash: passwordHash,
          created_at: now,
          customer_number: null,
          meter_mode: null,
          company: null,
          email_verified_at: now,
        };
        await insertAccount(trx, row, 'give another address.');
        await appendAuditEvents(trx, [
          { kind: 'account.staff_created', details: { accountId: row.id, role: row.role } },
        ]);
        return viewOf(row);
      });
    },

    async verifyEmail(token) {
      return db.transaction().execute(async (trx) => {
        const accountId = await consumeToken(trx, token, 'email-verification');
        await trx
          .updateTable('accounts')
          .set({ email_verified_at: new Date().toISOString() })
          .where('id', '=', accountId)
          .where('email_verified_at', 'is', null)
          .execute();
        await appendAuditEvents(trx, [{ kind: 'account.email_verified', details: { accountId } }]);
        const row = await trx
          .selectFrom('accounts')
          .selectAll()
          .where('id', '=', accountId)
          .executeTakeFirstOrThrow();
        return viewOf(row);
      });
    },

    resendEmailVerification: (email) => resendVerification({ db, mailer, publicUrl }, email),

    async signIn(email, password, deviceToken) {
      const normalized = email.trim().toLowerCase().slice(0, 254);
      const row =
        password.length > 1024
          ? undefined
          : await db.selectFrom('accounts').selectAll().where('email', '=', normalized).executeTakeFirst();
      const isKnownDevice = row !== undefined && (await lockout.isKnownDevice(row.id, deviceToken));
      lockout.check(normalized, row, isKnownDevice);
      const check = await verifyPassword(password.slice(0, 1024), row?.password_hash ?? (await decoyHash));
      if (row === undefined || !check.isMatch) {
        if (!isKnownDevice) await lockout.failed(normalized, row);
        throw new AccountError('account.sign_in_failed', 'The e-mail address or the password is wrong.');
      }
      const keptDevice = await lockout.succeeded(row.id, deviceToken, isKnownDevice);
      if (check.needsRehash) {
        await db
          .updateTable('accounts')
          .set({ password_hash: await hashPassword(password) })
          .where('id', '=', row.id)
          .where('password_hash', '=', row.password_hash)
          .execute();
      }
      return { account: viewOf(row), session: await startSession(db, row.id), deviceToken: keptDevice };
    },

    async recheckPassword(principal, password) {
      const row = await accountRow(principal.accountId);
      const isMatch = (await verifyPassword(password.slice(0, 1024), row.password_hash)).isMatch;
      if (principal.sessionId === null) return;
      if (!isMatch) {
        await endSessions(db, { sessionId: principal.sessionId });
        throw new AccountError(
          'account.sign_in_failed',
          'The password is wrong: this session has ended and printing stopped. Sign in again to go on.',
        );
      }
      await db
        .updateTable('sessions')
        .set({ pieces_since_check: 0 })
        .where('id', '=', principal.sessionId)
        .execute();
    },

    async checkPrintingAllowance(principal, pieces) {
      if (principal.sessionId === null) return;
      // Read with the session when the request was authenticated: no second round trip.
      const printed =
        principal.piecesSinceCheck ??
        (
          await db
            .selectFrom('sessions')
            .select('pieces_since_check')
            .where('id', '=', principal.sessionId)
            .executeTakeFirst()
        )?.pieces_since_check;
      if (printed !== undefined && printed + pieces > passwordRecheckPieces)
        throw new AccountError(
          'account.password_check_required',
          `This session printed ${printed.toLocaleString('en-US')} of its ${passwordRecheckPieces.toLocaleString('en-US')} pieces since the password was last checked; confirm the password (POST /v1/sessions/current/password-check) to print on.`,
        );
    },

    async countPrinting(trx, principal, pieces) {
      if (principal.sessionId === null) return;
      await trx
        .updateTable('sessions')
        .set((eb) => ({ pieces_since_check: eb('pieces_since_check', '+', pieces) }))
        .where('id', '=', principal.sessionId)
        .execute();
    },

    sessionPrincipal: (token) => sessionPrincipal(db, token),
    apiKeyPrincipal: (key) => apiKeyPrincipal(db, key),
    isCsrfTokenValid,
    endSession: (sessionId) => endSessions(db, { sessionId }),

    async changePassword(principal, currentPassword, newPassword) {
      const row = await accountRow(principal.accountId);
      if (!(await verifyPassword(currentPassword.slice(0, 1024), row.password_hash)).isMatch)
        throw new AccountError('account.sign_in_failed', 'The current password is wrong.');
      checkPassword(newPassword, row.email);
      await db.transaction().execute(async (trx) => {
        await setPassword(trx, row.id, newPassword);
        await appendAuditEvents(trx, [{ kind: 'account.password_changed', details: { accountId: row.id } }]);
      });
      await endSessions(db, { accountId: row.id, exceptSessionId: principal.sessionId });
    },

    async requestPasswordReset(email) {
      const normalized = email.trim().toLowerCase();
      if (normalized.length > 254) return;
      const row = await db
        .selectFrom('accounts')
        .select(['id', 'email', 'display_name'])
        .where('email', '=', normalized)
        .executeTakeFirst();
      if (row === undefined) return;
      const token = await issueToken(db, row.id, 'password-reset', RESET_LIFETIME_MS);
      await mailer.send({
        to: row.email,
        subject: 'Reset your Indicia password',
        text:
          `Hello ${row.display_name},\n\nsomeone (we hope you) asked to reset your password. Choose a new one here:\n\n` +
          `${publicUrl()}/reset-password?token=${token}\n\n` +
          `Or send the token to POST /v1/password-resets/confirm: ${token}\n\n` +
          'The link works once, for one hour. If you did not ask, ignore this message; your password is unchanged.\n',
      });
    },

    async resetPassword(token, newPassword) {
      const accountId = await db.transaction().execute(async (trx) => {
        const id = await consumeToken(trx, token, 'password-reset');
        const row = await trx
          .selectFrom('accounts')
          .select('email')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        checkPassword(newPassword, row.email);
        await setPassword(trx, id, newPassword);
        await appendAuditEvents(trx, [{ kind: 'account.password_reset', details: { accountId: id } }]);
        return id;
      });
      await endSessions(db, { accountId });
    },

    createApiKey: (principal, request) => createApiKey(db, principal, request),
    listApiKeys: (principal) => listApiKeys(db, principal.accountId),
    revokeApiKey: (principal, keyId) => revokeApiKey(db, principal, keyId),

    async account(accountId) {
      return viewOf(await accountRow(accountId));
    },

    async profile(accountId) {
      const { profile } = await accountRow(accountId);
      return profile === null ? null : (JSON.parse(profile) as AccountProfile);
    },
  };
}
