import type { AccountRole } from '../store/index.ts';

/** What an API key may do; a browser session may do everything its role allows. */
export const API_KEY_SCOPES = [
  'meter:read',
  'indicia:read',
  'indicia:issue',
  'indicia:refund',
  'funds:add',
  'devices:enroll',
  // A verifier's scanner records scans (POST /v1/verify) with a key of its own.
  'scans:record',
  // A headless backend manages its own keys (never granting more than it holds) and webhooks.
  'keys:manage',
  'webhooks:manage',
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Who is making a request, as the API sees it after authentication. */
export interface Principal {
  readonly accountId: string;
  readonly email: string;
  readonly role: AccountRole;
  /** Customers only. */
  readonly customerNumber: number | null;
  readonly meterMode: 'dedicated' | 'pooled' | null;
  readonly isEmailVerified: boolean;
  readonly via: 'session' | 'api-key';
  /** The session's id (not its token), when signed in through a browser session. */
  readonly sessionId: string | null;
  /**
   * A session's pieces printed since its password was last checked, as read with the session at
   * authentication (the printing allowance is checked against it); null for an API key.
   */
  readonly piecesSinceCheck: number | null;
  readonly apiKeyId: string | null;
  /** Every scope for a session; the key's own for an API key. */
  readonly scopes: readonly ApiKeyScope[];
}

export interface AccountView {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly role: AccountRole;
  readonly customerNumber: number | null;
  readonly meterMode: 'dedicated' | 'pooled' | null;
  readonly company: string | null;
  readonly emailVerified: boolean;
  readonly createdAt: string;
}
