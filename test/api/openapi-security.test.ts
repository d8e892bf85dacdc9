import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorPresentations } from '../../src/api/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

interface Operation {
  security?: Record<string, string[]>[];
  description?: string;
  responses: Record<string, { description?: string }>;
}

interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes?: Record<string, { type: string; in?: string; name?: string }> };
}

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

describe('the OpenAPI document says who may call what and what each route refuses with', () => {
  let server: TestServer;
  let spec: Spec;
  before(async () => {
    assert.ok(sqlite !== undefined);
    server = await startTestServer(sqlite);
    spec = (await (await fetch(`${server.indicia.url}/openapi.json`)).json()) as Spec;
  });
  after(() => server.stop());

  it('declares the session cookie, the CSRF header and bearer API keys', () => {
    const schemes = spec.components.securitySchemes ?? {};
    assert.equal(schemes['apiKey']?.type, 'http');
    assert.deepEqual(
      [schemes['sessionCookie']?.in, schemes['sessionCookie']?.name],
      ['cookie', 'indicia_session'],
    );
    assert.deepEqual([schemes['csrfToken']?.in, schemes['csrfToken']?.name], ['header', 'X-CSRF-Token']);
  });

  it('gives every /v1 operation its security, its callers in words, and its error codes by status', () => {
    let operations = 0;
    for (const [path, methods] of Object.entries(spec.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, operation] of Object.entries(methods)) {
        operations += 1;
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(Array.isArray(operation.security), `${where} declares its security`);
        assert.match(operation.description ?? '', /\*\*Who may call:\*\*/, where);
        for (const [status, response] of Object.entries(operation.responses)) {
          if (!/^[45]\d\d$/.test(status)) continue;
          assert.match(
            response.description ?? '',
            /`[a-z_]+(\.[a-z_]+)?`/,
            `${where} ${status} names its codes`,
          );
        }
      }
    }
    assert.ok(operations > 40);
    const issue = spec.paths['/v1/indicia']?.['post'];
    assert.ok(issue);
    assert.deepEqual(issue.security?.[1], { sessionCookie: [], csrfToken: [] });
    const [byKey] = issue.security ?? [];
    assert.equal(byKey?.['apiKey']?.length, 1, 'an API key with one named scope');
    assert.match(issue.responses['401']?.description ?? '', /account\.unauthenticated/);
    assert.match(issue.responses['401']?.description ?? '', /psd\.client_unauthenticated/);
    assert.match(issue.responses['422']?.description ?? '', /meter\.mailing_date_invalid/);
    assert.match(issue.responses['503']?.description ?? '', /vault\.service_stopped/);
    for (const [path, method, scope] of [
      ['/v1/api-keys', 'post', 'keys:manage'],
      ['/v1/api-keys/{id}', 'delete', 'keys:manage'],
      ['/v1/webhooks', 'post', 'webhooks:manage'],
      ['/v1/webhooks/{id}/deliveries', 'get', 'webhooks:manage'],
    ] as const)
      assert.deepEqual(spec.paths[path]?.[method]?.security?.[0], { apiKey: [scope] }, `${method} ${path}`);
    const signUp = spec.paths['/v1/accounts']?.['post'];
    assert.ok(signUp);
    assert.deepEqual(signUp.security, []);
    assert.match(signUp.responses['409']?.description ?? '', /account\.email_taken/);
  });

  it('names only codes the error table knows', () => {
    const known = new Set(Object.keys(errorPresentations));
    for (const methods of Object.values(spec.paths))
      for (const operation of Object.values(methods))
        for (const response of Object.values(operation.responses))
          for (const [, code] of (response.description ?? '').matchAll(/`([a-z_]+\.[a-z_]+)`/g))
            assert.ok(code !== undefined && known.has(code), `${code ?? ''} is in the error table`);
  });

  it('reports every invalid field of a request at once', async () => {
    const response = await fetch(`${server.indicia.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 42, password: true }),
    });
    assert.equal(response.status, 400);
    const { error } = (await response.json()) as {
      error: { code: string; message: string; details: { errors: { field: string; message: string }[] } };
    };
    assert.equal(error.code, 'request.invalid');
    const fields = error.details.errors.map((entry) => entry.field);
    assert.ok(fields.includes('/email') && fields.includes('/password'), fields.join(', '));
    assert.ok(error.details.errors.length >= 3, 'required fields missing are named too');
    assert.match(error.message, /problems:/);
  });
});
