import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccountError, type AccountsService, type ApiKeyScope, type Principal } from '../accounts/index.ts';
import type { AccountRole } from '../store/index.ts';

export const SESSION_COOKIE = 'indicia_session';
export const CSRF_HEADER = 'x-csrf-token';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Who may call a route. Every /v1 route declares one; the role matrix test reads them all. */
export type Access =
  | { readonly public: true }
  | {
      readonly roles: readonly AccountRole[];
      /** The scope an API key needs; routes without one refuse API keys (browser sessions only). */
      readonly scope?: ApiKeyScope;
      /** Customers must have confirmed their e-mail address first. */
      readonly verifiedEmail?: boolean;
    };

export const ROLES: readonly AccountRole[] = [
  'customer',
  'support',
  'admin',
  'crypto-officer',
  'auditor',
  'verifier',
];
export const STAFF: readonly AccountRole[] = ['support', 'admin', 'crypto-officer', 'auditor', 'verifier'];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator > 0 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

/** The signed-in principal, which every route that declares roles is guaranteed to have. */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null)
    throw new AccountError(
      'account.unauthenticated',
      'Sign in, or send an API key as "Authorization: Bearer ik_…".',
    );
  return request.principal;
}

async function authenticate(accounts: AccountsService, request: FastifyRequest): Promise<Principal | null> {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    const principal = match?.[1] === undefined ? null : await accounts.apiKeyPrincipal(match[1]);
    if (principal === null)
      throw new AccountError(
        'account.unauthenticated',
        'The API key is unknown, revoked or malformed; send "Authorization: Bearer ik_…" with an active key.',
      );
    return principal;
  }
  const token = readCookie(request.headers.cookie, SESSION_COOKIE);
  if (token === undefined) return null;
  const session = await accounts.sessionPrincipal(token);
  if (session === null) return null;
  if (UNSAFE_METHODS.has(request.method)) {
    const header = request.headers[CSRF_HEADER];
    if (!accounts.isCsrfTokenValid(typeof header === 'string' ? header : undefined, session.csrfHash))
      throw new AccountError(
        'account.csrf_failed',
        `A signed-in browser request that changes something must carry the session's CSRF token in the ${CSRF_HEADER} header.`,
      );
  }
  return session.principal;
}

/** Refuses the request unless its principal may use the route. */
function authorize(access: Exclude<Access, { public: true }>, principal: Principal | null): void {
  if (principal === null)
    throw new AccountError(
      'account.unauthenticated',
      'Sign in, or send an API key as "Authorization: Bearer ik_…".',
    );
  if (!access.roles.includes(principal.role))
    throw new AccountError('account.forbidden', `The ${principal.role} role may not do this.`);
  if (principal.via === 'api-key') {
    if (access.scope === undefined)
      throw new AccountError(
        'account.forbidden',
        'API keys may not do this; sign in to the web app instead.',
      );
    if (!principal.scopes.includes(access.scope))
      throw new AccountError('account.forbidden', `This API key lacks the ${access.scope} scope.`);
  }
  if (access.verifiedEmail === true && principal.role === 'customer' && !principal.isEmailVerified)
    throw new AccountError(
      'account.not_verified',
      'Confirm your e-mail address first: follow the link in the message we sent at sign-up.',
    );
}

export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  readonly access: Access | undefined;
}

const accessTables = new WeakMap<FastifyInstance, RouteAccess[]>();

/** Every route with its access rule, in registration order (the role matrix test walks it). */
export function accessTableOf(app: FastifyInstance): readonly RouteAccess[] {
  return accessTables.get(app) ?? [];
}

/**
 * Authentication and authorization for every route, before its body is read: a bearer API key,
 * or the session cookie (with the CSRF header on state-changing requests), then the route's
 * {@link Access}. A /v1 route without an access declaration is refused as a programming error.
 */
export function installAuthentication(app: FastifyInstance, accounts: AccountsService): void {
  app.decorateRequest('principal', null);
  const table: RouteAccess[] = [];
  accessTables.set(app, table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: route.url, access: route.config?.access });
    }
  });
  app.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    const access = request.routeOptions.config.access;
    const url = request.routeOptions.url;
    if (access === undefined) {
      if (url?.startsWith('/v1/') === true)
        throw new AccountError(
          'account.forbidden',
          'This route declares no access rule, so nobody may call it.',
        );
      return;
    }
    if ('public' in access) {
      // Anyone may call it; a stale cookie or key must not stand in the way (signing in again, say).
      request.principal = await authenticate(accounts, request).catch(() => null);
      return;
    }
    request.principal = await authenticate(accounts, request);
    authorize(access, request.principal);
  });
}
