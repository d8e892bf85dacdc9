import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_KEY_SCOPES } from '../../src/accounts/index.ts';
import { type RouteAccess, accessTableOf } from '../../src/api/index.ts';
import type { AccountRole } from '../../src/store/index.ts';
import { PASSWORD } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const ROLES: readonly AccountRole[] = [
  'customer',
  'support',
  'admin',
  'crypto-officer',
  'auditor',
  'verifier',
];

interface Signed {
  cookie: string;
  csrf: string;
}

/** A path for a route, its parameters filled with well-formed values that name nothing. */
const pathOf = (url: string): string =>
  url.replace(':id', '0000000000000000').replace(':serial', '0000000000000000');

for (const fixture of dialectFixtures) {
  describe(`role × endpoint matrix on ${fixture.name}`, () => {
    let server: TestServer;
    let url: string;
    const sessions = new Map<AccountRole, Signed>();

    const signIn = async (email: string, password: string): Promise<Signed> => {
      const response = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      assert.equal(response.status, 201);
      const cookie = /indicia_session=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1] ?? '';
      return {
        cookie,
        csrf: ((await response.json()) as { session: { csrfToken: string } }).session.csrfToken,
      };
    };

    const call = async (
      route: RouteAccess,
      signed: Signed | null,
      apiKey?: string,
    ): Promise<{ status: number; code: string | null }> => {
      const hasBody = route.method === 'POST';
      const response = await fetch(`${url}${pathOf(route.url)}`, {
        method: route.method,
        headers: {
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
          ...(signed === null
            ? {}
            : { cookie: `indicia_session=${signed.cookie}`, 'x-csrf-token': signed.csrf }),
          ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
        },
        ...(hasBody ? { body: '{}' } : {}),
      });
      const text = await response.text();
      let code: string | null = null;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
      } catch {
        code = null;
      }
      return { status: response.status, code };
    };

    before(async () => {
      server = await startTestServer(fixture);
      url = server.indicia.url;
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      sessions.set('customer', await signIn(demo.email, demo.password));
      for (const role of ROLES.filter((candidate) => candidate !== 'customer')) {
        const email = `${role}@staff.example.com`;
        await server.indicia.accounts.createStaffAccount({
          email,
          name: `A ${role}`,
          role,
          password: PASSWORD,
        });
        sessions.set(role, await signIn(email, PASSWORD));
      }
    });
    after(() => server.stop());

    it('has an access rule on every /v1 route', () => {
      const routes = accessTableOf(server.indicia.app).filter((route) => route.url.startsWith('/v1/'));
      assert.ok(routes.length >= 20, `only ${routes.length} routes`);
      const undeclared = routes.filter((route) => route.access === undefined);
      assert.deepEqual(undeclared, []);
    });

    it('lets an API key through only with the scope a route names, and never where a route names none', async () => {
      const customer = sessions.get('customer');
      assert.ok(customer !== undefined);
      const createKey = async (scopes: string[]): Promise<string> => {
        const response = await fetch(`${url}/v1/api-keys`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            cookie: `indicia_session=${customer.cookie}`,
            'x-csrf-token': customer.csrf,
          },
          body: JSON.stringify({ name: scopes.join(' ').slice(0, 100) || 'none', scopes }),
        });
        assert.equal(response.status, 201);
        return ((await response.json()) as { key: string }).key;
      };
      const failures: string[] = [];
      for (const route of accessTableOf(server.indicia.app)) {
        const access = route.access;
        if (!route.url.startsWith('/v1/') || access === undefined || 'public' in access) continue;
        if (!access.roles.includes('customer')) continue;
        const others = API_KEY_SCOPES.filter((scope) => scope !== access.scope);
        const without = await call(route, null, await createKey(others));
        if (without.code !== 'account.forbidden')
          failures.push(`${route.method} ${route.url} without its scope: ${without.status} ${without.code}`);
        if (access.scope !== undefined) {
          const withScope = await call(route, null, await createKey([access.scope]));
          if (withScope.status === 401 || withScope.code === 'account.forbidden')
            failures.push(
              `${route.method} ${route.url} with ${access.scope}: ${withScope.status} ${withScope.code}`,
            );
        }
      }
      assert.deepEqual(failures, []);
      // A headless backend manages its keys and webhooks with scopes of their own, no password.
      const scopeOf = (method: string, path: string) => {
        const access = accessTableOf(server.indicia.app).find(
          (route) => route.method === method && route.url === path,
        )?.access;
        return access === undefined || 'public' in access ? undefined : access.scope;
      };
      for (const [method, path] of [
        ['POST', '/v1/api-keys'],
        ['GET', '/v1/api-keys'],
        ['DELETE', '/v1/api-keys/:id'],
      ] as const)
        assert.equal(scopeOf(method, path), 'keys:manage', `${method} ${path}`);
      for (const [method, path] of [
        ['POST', '/v1/webhooks'],
        ['GET', '/v1/webhooks'],
        ['DELETE', '/v1/webhooks/:id'],
        ['GET', '/v1/webhooks/:id/deliveries'],
      ] as const)
        assert.equal(scopeOf(method, path), 'webhooks:manage', `${method} ${path}`);
    });

    it('refuses every role a route does not name, lets through every role it does, and asks strangers to sign in', async () => {
      // Signing out last: it ends the session the other calls use.
      const routes = accessTableOf(server.indicia.app)
        .filter(
          (route) =>
            route.url.startsWith('/v1/') && route.access !== undefined && !('public' in route.access),
        )
        .sort((a, b) => Number(a.url === '/v1/sessions/current') - Number(b.url === '/v1/sessions/current'));
      const failures: string[] = [];
      for (const route of routes) {
        const access = route.access;
        if (access === undefined || 'public' in access) continue;
        const anonymous = await call(route, null);
        if (anonymous.status !== 401)
          failures.push(`${route.method} ${route.url} anonymous: ${anonymous.status}`);
        for (const role of ROLES) {
          const signed = sessions.get(role);
          assert.ok(signed !== undefined);
          const answer = await call(route, signed);
          const isAllowed = access.roles.includes(role);
          if (isAllowed && (answer.status === 401 || answer.code === 'account.forbidden'))
            failures.push(
              `${route.method} ${route.url} as ${role}: refused (${answer.status} ${answer.code})`,
            );
          if (!isAllowed && (answer.status !== 403 || answer.code !== 'account.forbidden'))
            failures.push(
              `${route.method} ${route.url} as ${role}: let through (${answer.status} ${answer.code})`,
            );
        }
      }
      assert.deepEqual(failures, []);
    });
  });
}
