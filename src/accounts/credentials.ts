import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type AccountsTable, type DatabaseSchema, preparedQuery } from '../store/index.ts';
import { AccountError } from './account-error.ts';
import { API_KEY_SCOPES, type ApiKeyScope, type Principal } from './principal.ts';
import { matchesHash, newSecret, secretHash } from './secrets.ts';

/** A session lasts 12 hours from sign-in, and ends after 30 minutes without a request. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;
export const SESSION_IDLE_MS = 30 * 60_000;
/** last_seen_at is written at most this often, not on every request. */
const SEEN_RESOLUTION_MS = 60_000;
const API_KEY = /^ik_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewSession {
  readonly id: string;
  /** Goes into the HttpOnly cookie; shown nowhere else. */
  readonly token: string;
  /** Sent back in the X-CSRF-Token header on every state-changing request of the session. */
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly scopes: ApiKeyScope[];
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

interface AccountRow {
  id: string;
  email: string;
  role: AccountsTable['role'];
  customer_number: number | null;
  meter_mode: 'dedicated' | 'pooled' | null;
  email_verified_at: string | null;
}

const ACCOUNT_COLUMNS = [
  'accounts.id',
  'accounts.email',
  'accounts.role',
  'accounts.customer_number',
  'accounts.meter_mode',
  'accounts.email_verified_at',
] as const;

function principalOf(
  account: AccountRow,
  via: { sessionId: string; piecesSinceCheck: number } | { apiKeyId: string; scopes: readonly ApiKeyScope[] },
): Principal {
  return {
    accountId: account.id,
    email: account.email,
    role: account.role,
    customerNumber: account.customer_number,
    meterMode: account.meter_mode,
    isEmailVerified: account.email_verified_at !== null,
    via: 'sessionId' in via ? 'session' : 'api-key',
    sessionId: 'sessionId' in via ? via.sessionId : null,
    piecesSinceCheck: 'piecesSinceCheck' in via ? via.piecesSinceCheck : null,
    apiKeyId: 'apiKeyId' in via ? via.apiKeyId : null,
    scopes: 'scopes' in via ? via.scopes : API_KEY_SCOPES,
  };
}

/** Starts a browser session for an account whose password was just checked. */
export async function startSession(db: Kysely<DatabaseSchema>, accountId: string): Promise<NewSession> {
  const token = newSecret();
  const csrfToken = newSecret();
  const now = new Date();
  const session = {
    id: `ses_${randomUUID()}`,
    expiresAt: new Date(now.getTime() + SESSION_LIFETIME_MS).toISOString(),
  };
  await db
    .insertInto('sessions')
    .values({
      token_hash: secretHash(token),
      id: session.id,
      account_id: accountId,
      csrf_hash: secretHash(csrfToken),
      created_at: now.toISOString(),
      expires_at: session.expiresAt,
      last_seen_at: now.toISOString(),
      ended_at: null,
    })
    .execute();
  return { ...session, token, csrfToken };
}

// Every signed-in request runs it: built once (see preparedQuery).
const sessionByTokenHash = preparedQuery((db) =>
  db
    .selectFrom('sessions')
    .innerJoin('accounts', 'accounts.id', 'sessions.account_id')
    .select([
      ...ACCOUNT_COLUMNS,
      'sessions.id as session_id',
      'sessions.csrf_hash',
      'sessions.expires_at',
      'sessions.last_seen_at',
      'sessions.ended_at',
      'sessions.pieces_since_check',
    ])
    .where('sessions.token_hash', '=', ''),
);

/** The principal behind a session cookie, or null when the session is unknown, ended or expired. */
export async function sessionPrincipal(
  db: Kysely<DatabaseSchema>,
  token: string,
  now = new Date(),
): Promise<{ principal: Principal; csrfHash: string } | null> {
  if (token.length > 100) return null;
  const [row] = await sessionByTokenHash(db, [secretHash(token)]);
  if (row === undefined || row.ended_at !== null) return null;
  const lastSeen = Date.parse(row.last_seen_at);
  if (Date.parse(row.expires_at) <= now.getTime() || now.getTime() - lastSeen > SESSION_IDLE_MS) return null;
  if (now.getTime() - lastSeen > SEEN_RESOLUTION_MS) {
    await db
      .updateTable('sessions')
      .set({ last_seen_at: now.toISOString() })
      .where('id', '=', row.session_id)
      .execute();
  }
  return {
    principal: principalOf(row, { sessionId: row.session_id, piecesSinceCheck: row.pieces_since_check }),
    csrfHash: row.csrf_hash,
  };
}

/** Whether the CSRF token sent with a request belongs to its session (constant-time). */
export function isCsrfTokenValid(csrfToken: string | undefined, csrfHash: string): boolean {
  return csrfToken !== undefined && csrfToken.length <= 100 && matchesHash(csrfToken, csrfHash);
}

/** Ends one session, or every session of an account (password change or reset). */
export async function endSessions(
  db: Kysely<DatabaseSchema>,
  which: { sessionId: string } | { accountId: string; exceptSessionId?: string | null },
): Promise<void> {
  let update = db
    .updateTable('sessions')
    .set({ ended_at: new Date().toISOString() })
    .where('ended_at', 'is', null);
  if ('sessionId' in which) update = update.where('id', '=', which.sessionId);
  else {
    update = update.where('account_id', '=', which.accountId);
    if (which.exceptSessionId !== undefined && which.exceptSessionId !== null)
      update = update.where('id', '!=', which.exceptSessionId);
  }
  await update.execute();
}

function checkScopes(scopes: readonly string[]): ApiKeyScope[] {
  const unknown = scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
  if (unknown.length > 0 || scopes.length === 0) {
    throw new AccountError(
      'account.invalid',
      `Scopes must be one or more of ${API_KEY_SCOPES.join(', ')}${unknown.length > 0 ? `; unknown: ${unknown.join(', ').slice(0, 100)}` : ''}.`,
      { details: { field: 'scopes' } },
    );
  }
  return [...new Set(scopes)] as ApiKeyScope[];
}

/** The scopes of `wanted` that `principal` does not hold itself (a session holds them all). */
function beyondOwn(principal: Principal, wanted: readonly string[]): string[] {
  return wanted.filter((scope) => !(principal.scopes as readonly string[]).includes(scope));
}

/**
 * Creates an API key; the key itself is in the result only, never stored. A key with
 * `keys:manage` makes keys with its own scopes at most: it can never grant itself more.
 */
export async function createApiKey(
  db: Kysely<DatabaseSchema>,
  principal: Principal,
  request: { name: string; scopes: readonly string[] },
): Promise<ApiKeyView & { key: string }> {
  const accountId = principal.accountId;
  const name = request.name.trim();
  if (name === '' || name.length > 100)
    throw new AccountError(
      'account.invalid',
      'Name the key (1 to 100 characters), e.g. "warehouse printer".',
      {
        details: { field: 'name' },
      },
    );
  const scopes = checkScopes(request.scopes);
  const escalating = beyondOwn(principal, scopes);
  if (escalating.length > 0)
    throw new AccountError(
      'account.forbidden',
      `This API key may grant only the scopes it holds (${principal.scopes.join(', ')}); it lacks ${escalating.join(', ')}. Sign in, or use a key that holds them.`,
      { details: { field: 'scopes', scopes: escalating } },
    );
  const id = randomBytes(8).toString('hex');
  const secret = newSecret();
  const createdAt = new Date().toISOString();
  await db
    .insertInto('api_keys')
    .values({
      id,
      account_id: accountId,
      name,
      scopes: JSON.stringify(scopes),
      secret_hash: secretHash(secret),
      created_at: createdAt,
      last_used_at: null,
      revoked_at: null,
    })
    .execute();
  return { id, name, scopes, createdAt, lastUsedAt: null, revokedAt: null, key: `ik_${id}_${secret}` };
}

export async function listApiKeys(db: Kysely<DatabaseSchema>, accountId: string): Promise<ApiKeyView[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as ApiKeyScope[],
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  }));
}

/**
 * Revokes one of the account's keys. A key with `keys:manage` revokes itself or a key whose
 * scopes are all its own: a narrow key cannot take down a wider integration's key.
 */
export async function revokeApiKey(
  db: Kysely<DatabaseSchema>,
  principal: Principal,
  keyId: string,
): Promise<void> {
  const accountId = principal.accountId;
  const notFound = () =>
    new AccountError('account.api_key_not_found', `You have no active API key ${keyId.slice(0, 40)}.`);
  if (principal.via === 'api-key' && keyId !== principal.apiKeyId) {
    const target = await db
      .selectFrom('api_keys')
      .select('scopes')
      .where('id', '=', keyId)
      .where('account_id', '=', accountId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (target === undefined) throw notFound();
    const wider = beyondOwn(principal, JSON.parse(target.scopes) as string[]);
    if (wider.length > 0)
      throw new AccountError(
        'account.forbidden',
        `Key ${keyId} holds ${wider.join(', ')}, which this API key does not; revoke it from a signed-in session or a key that holds them.`,
        { details: { scopes: wider } },
      );
  }
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date().toISOString() })
    .where('id', '=', keyId)
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows !== 1n) throw notFound();
}

/** The principal behind a bearer API key, or null when it is malformed, unknown or revoked. */
export async function apiKeyPrincipal(db: Kysely<DatabaseSchema>, key: string): Promise<Principal | null> {
  const match = API_KEY.exec(key);
  if (match === null) return null;
  const [, id = '', secret = ''] = match;
  const row = await db
    .selectFrom('api_keys')
    .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
    .select([
      ...ACCOUNT_COLUMNS,
      'api_keys.secret_hash',
      'api_keys.scopes',
      'api_keys.revoked_at',
      'api_keys.last_used_at',
    ])
    .where('api_keys.id', '=', id)
    .executeTakeFirst();
  if (row === undefined || row.revoked_at !== null || !matchesHash(secret, row.secret_hash)) return null;
  const now = new Date();
  if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > SEEN_RESOLUTION_MS) {
    await db.updateTable('api_keys').set({ last_used_at: now.toISOString() }).where('id', '=', id).execute();
  }
  return principalOf(row, { apiKeyId: id, scopes: JSON.parse(row.scopes) as ApiKeyScope[] });
}
