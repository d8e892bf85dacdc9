import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
assert.ok(sqlite);

const knownPaths = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/docs',
  '/',
  '/v1/indicia',
  '/v1/meter',
];
const pathArbitrary = fc.oneof(
  fc.constantFrom(...knownPaths),
  fc.webPath(),
  fc
    .tuple(fc.constantFrom(...knownPaths), fc.webQueryParameters())
    .map(([path, query]) => `${path}?${query}`),
  fc.string({ maxLength: 40 }).map((text) => `/${encodeURIComponent(text)}`),
);
const bodyArbitrary = fc.oneof(
  fc.constant(undefined),
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const contentTypeArbitrary = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  'garbage/\u0000',
);

describe('API fuzz (bounded, loopback)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(sqlite, { INDICIA_LOG_LEVEL: 'warn' });
  });
  after(() => server.stop());

  it('answers arbitrary requests without a 5xx, with the error envelope on every error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
        pathArbitrary,
        bodyArbitrary,
        contentTypeArbitrary,
        async (method, path, body, contentType) => {
          const hasBody = body !== undefined && method !== 'GET' && method !== 'HEAD';
          let response: Response;
          try {
            response = await fetch(`${server.indicia.url}${path}`, {
              method,
              ...(hasBody ? { body, headers: { 'content-type': contentType } } : {}),
            });
          } catch (error) {
            // fetch itself refuses some inputs (invalid header values) before sending anything.
            if (error instanceof TypeError && !/fetch failed/.test(error.message)) return;
            throw error;
          }
          assert.ok(response.status < 500, `${method} ${path} → ${response.status}`);
          if (response.status >= 400 && method !== 'HEAD') {
            const payload = (await response.json()) as {
              error?: { code?: unknown; message?: unknown; requestId?: unknown };
            };
            assert.equal(typeof payload.error?.code, 'string');
            assert.equal(typeof payload.error?.message, 'string');
            assert.equal(payload.error?.requestId, response.headers.get('x-request-id'));
          } else {
            await response.arrayBuffer();
          }
        },
      ),
      { numRuns: 300 },
    );
    const health = await fetch(`${server.indicia.url}/readyz`);
    assert.equal(health.status, 200);
  });
});
