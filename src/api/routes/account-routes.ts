import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { AccountError, type AccountsService } from '../../accounts/index.ts';
import { type LicenceDecision, fileLicenceApplication } from '../../authority/index.ts';
import type { MetersService } from '../../meters/index.ts';
import { ROLES, SESSION_COOKIE, principalOf, readCookie } from '../authentication.ts';

/** The known-device cookie: sent only to sign-in, it lets this browser past an account lockout. */
export const DEVICE_COOKIE = 'indicia_device';
const DEVICE_COOKIE_MAX_AGE = 365 * 86_400;
import {
  AccountView,
  ApiKeyView,
  Credentials,
  Licence,
  Registration,
  Scope,
  SessionView,
  Token,
} from './account-schemas.ts';

export interface AccountRouteDependencies {
  readonly accounts: AccountsService;
  readonly meters: Pick<MetersService, 'provisionCustomer'>;
  readonly licenceOf: (accountId: string) => Promise<LicenceDecision | undefined>;
  /** Whether clients reach the server over HTTPS (the session cookie is then Secure). */
  readonly isHttps: boolean;
}

const SELF = { roles: ROLES } as const;
/** A session, or an API key with keys:manage (a headless backend rotating its own keys). */
const KEYS = { roles: ROLES, scope: 'keys:manage' } as const;
const accountTag = ['accounts'];

/**
 * Sign-up, e-mail verification, sign-in and sign-out, the signed-in account, password change and
 * reset, and API keys.
 */
export function accountRoutes(dependencies: AccountRouteDependencies): FastifyPluginAsyncTypebox {
  const { accounts, meters, licenceOf } = dependencies;
  const sessionCookie = (reply: FastifyReply, token: string, maxAgeSeconds: number): void => {
    void reply.header(
      'set-cookie',
      `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${dependencies.isHttps ? '; Secure' : ''}`,
    );
  };
  return (app) => {
    app.addSchema(AccountView);
    app.addSchema(Licence);
    const accountRef = Type.Ref('Account');
    const licenceRef = Type.Ref('Licence');

    app.post(
      '/v1/accounts',
      {
        config: { access: { public: true }, rateLimit: 'sign-up' },
        schema: {
          tags: accountTag,
          summary: "Sign up: the licence application's details; a verification e-mail follows",
          body: Registration,
          response: { 201: Type.Object({ account: accountRef, licence: licenceRef }) },
        },
      },
      async (request, reply) => {
        let licence: LicenceDecision | undefined;
        const account = await accounts.register(request.body, async (trx, created) => {
          licence = await fileLicenceApplication(trx, {
            accountId: created.id,
            customerNumber: created.customerNumber ?? 0,
            meterMode: request.body.meterMode,
            licensingZip: created.profile.licensingZip,
            application: { ...created.profile, name: created.name, company: created.company },
          });
        });
        return reply.status(201).send({ account, licence });
      },
    );

    app.post(
      '/v1/email-verifications',
      {
        config: { access: { public: true }, rateLimit: 'sign-in' },
        schema: {
          tags: accountTag,
          summary:
            "Confirm the e-mail address with the token from the sign-up e-mail; opens the customer's meter",
          body: Token,
          response: { 200: Type.Object({ account: accountRef }) },
        },
      },
      async (request) => {
        const account = await accounts.verifyEmail(request.body.token);
        const [profile, licence] = await Promise.all([accounts.profile(account.id), licenceOf(account.id)]);
        if (
          account.customerNumber !== null &&
          account.meterMode !== null &&
          profile !== null &&
          licence?.status === 'granted'
        ) {
          await meters.provisionCustomer({
            customerNumber: account.customerNumber,
            meterMode: account.meterMode,
            licensingZip: profile.licensingZip,
          });
        }
        return { account };
      },
    );

    app.post(
      '/v1/email-verifications/resend',
      {
        config: { access: { public: true }, rateLimit: 'email' },
        schema: {
          tags: accountTag,
          summary:
            'Send an unconfirmed account a new verification e-mail (earlier links stop working); the answer is the same whether the account exists or not',
          body: Type.Object({ email: Type.String({ maxLength: 254 }) }, { additionalProperties: false }),
          response: { 202: Type.Object({ message: Type.String() }) },
        },
      },
      async (request, reply) => {
        await accounts.resendEmailVerification(request.body.email);
        return reply.status(202).send({
          message:
            'If an account with this address still needs confirming, a new link is on its way; it works for 48 hours, and earlier links no longer do.',
        });
      },
    );

    app.post(
      '/v1/sessions',
      {
        config: { access: { public: true }, idempotency: 'refused', rateLimit: 'sign-in' },
        schema: {
          tags: accountTag,
          summary: 'Sign in: sets the HttpOnly session cookie and returns the CSRF token',
          body: Credentials,
          response: { 201: Type.Object({ account: accountRef, session: SessionView }) },
        },
      },
      async (request, reply) => {
        const { account, session, deviceToken } = await accounts.signIn(
          request.body.email,
          request.body.password,
          readCookie(request.headers.cookie, DEVICE_COOKIE),
        );
        sessionCookie(reply, session.token, Math.round((Date.parse(session.expiresAt) - Date.now()) / 1000));
        void reply.header(
          'set-cookie',
          `${DEVICE_COOKIE}=${deviceToken}; Path=/v1/sessions; HttpOnly; SameSite=Strict; Max-Age=${DEVICE_COOKIE_MAX_AGE}${dependencies.isHttps ? '; Secure' : ''}`,
        );
        return reply.status(201).send({
          account,
          session: { id: session.id, expiresAt: session.expiresAt, csrfToken: session.csrfToken },
        });
      },
    );

    app.delete(
      '/v1/sessions/current',
      {
        config: { access: SELF },
        schema: {
          tags: accountTag,
          summary: 'Sign out: ends this browser session',
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        if (principal.sessionId !== null) await accounts.endSession(principal.sessionId);
        sessionCookie(reply, '', 0);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/sessions/current/password-check',
      {
        config: { access: SELF, rateLimit: 'sign-in' },
        schema: {
          tags: accountTag,
          summary:
            'Confirm the password during a long batch print; a wrong one ends this session and stops printing',
          body: Type.Object({ password: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        if (principal.sessionId === null)
          throw new AccountError(
            'account.forbidden',
            'Only browser sessions confirm passwords; API keys have none.',
          );
        try {
          await accounts.recheckPassword(principal, request.body.password);
        } catch (error) {
          sessionCookie(reply, '', 0);
          throw error;
        }
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/account',
      {
        config: { access: { roles: ROLES, scope: 'meter:read' } },
        schema: {
          tags: accountTag,
          summary: 'The signed-in account',
          response: { 200: Type.Object({ account: accountRef }) },
        },
      },
      async (request) => ({ account: await accounts.account(principalOf(request).accountId) }),
    );

    app.post(
      '/v1/password',
      {
        config: { access: SELF },
        schema: {
          tags: accountTag,
          summary: "Change the password; the account's other sessions end",
          body: Type.Object(
            {
              currentPassword: Type.String({ maxLength: 1024 }),
              newPassword: Type.String({ maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        await accounts.changePassword(
          principalOf(request),
          request.body.currentPassword,
          request.body.newPassword,
        );
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/password-resets',
      {
        config: { access: { public: true }, rateLimit: 'email' },
        schema: {
          tags: accountTag,
          summary:
            'Ask for a password-reset e-mail; the answer is the same whether the account exists or not',
          body: Type.Object({ email: Type.String({ maxLength: 254 }) }, { additionalProperties: false }),
          response: { 202: Type.Object({ message: Type.String() }) },
        },
      },
      async (request, reply) => {
        await accounts.requestPasswordReset(request.body.email);
        return reply.status(202).send({
          message: 'If an account has this address, a reset link is on its way; it works for one hour.',
        });
      },
    );

    app.post(
      '/v1/password-resets/confirm',
      {
        config: { access: { public: true }, rateLimit: 'sign-in' },
        schema: {
          tags: accountTag,
          summary: 'Set a new password with the e-mailed token; every session of the account ends',
          body: Type.Object(
            { token: Type.String({ maxLength: 100 }), newPassword: Type.String({ maxLength: 1024 }) },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        await accounts.resetPassword(request.body.token, request.body.newPassword);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/api-keys',
      {
        config: { access: KEYS, idempotency: 'refused' },
        schema: {
          tags: accountTag,
          summary: 'Create a scoped API key; the key is shown in this response only',
          description:
            'An API key with `keys:manage` may grant only scopes it holds itself (`403 account.forbidden` names the others).',
          body: Type.Object(
            {
              name: Type.String({ maxLength: 100 }),
              scopes: Type.Array(Scope, { minItems: 1, maxItems: 10 }),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              apiKey: ApiKeyView,
              key: Type.String({ description: 'Send as "Authorization: Bearer <key>"; not shown again' }),
            }),
          },
        },
      },
      async (request, reply) => {
        const { key, ...apiKey } = await accounts.createApiKey(principalOf(request), request.body);
        return reply.status(201).send({ apiKey, key });
      },
    );

    app.get(
      '/v1/api-keys',
      {
        config: { access: KEYS },
        schema: {
          tags: accountTag,
          summary: "The account's API keys (never the keys themselves)",
          response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeyView) }) },
        },
      },
      async (request) => ({ apiKeys: await accounts.listApiKeys(principalOf(request)) }),
    );

    app.delete(
      '/v1/api-keys/:id',
      {
        config: { access: KEYS },
        schema: {
          tags: accountTag,
          summary: 'Revoke an API key at once',
          description:
            'An API key with `keys:manage` may revoke itself, and any key of the account whose scopes it holds all of; a key with scopes beyond its own is refused (`403 account.forbidden`).',
          params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) }),
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        await accounts.revokeApiKey(principalOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
    return Promise.resolve();
  };
}
