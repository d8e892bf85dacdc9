import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { IndiciaClient } from '../../src/client/index.ts';
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

const valuePaths = [
  '/v1/funds',
  '/v1/indicia',
  '/v1/devices',
  '/v1/indicia/ind_00000000-0000-7000-8000-000000000000/refund',
  '/v1/indicia/ind_00000000-0000-7000-8000-000000000000/correction',
  '/v1/accounts',
  '/v1/sessions',
  '/v1/api-keys',
  '/v1/webhooks',
  '/v1/password',
  '/v1/password-resets',
  '/v1/email-verifications',
  '/v1/verify',
  '/v1/labels/preview',
  '/v1/labels/test-print',
  '/v1/addresses/verify',
  '/v1/label-sheets',
  '/v1/label-sheets/123456789012/print',
  '/v1/mailing-lists',
  '/v1/mailing-lists?mapping=%7B%22name%22%3A1%7D&postageMills=730',
  '/v1/mailing-lists/ml_00000000-0000-0000-0000-000000000000/print',
];
/** Values of the wrong kind for a field that wants a positive integer or a short string. */
const oddValue = fc.oneof(
  fc.constantFrom(-1, 0, 0.5, 1e21, Number.MAX_SAFE_INTEGER + 2, -0, null, true, [], {}, '730', ''),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ minLength: 500, maxLength: 2_000 }),
  fc.constantFrom('\u0000', '\uFEFF', '𝟘𝟙', '٣٤٥', "'; DROP TABLE meters; --", '<script>', '\u202Eevil'),
);
const fuzzedBody = fc.oneof(
  fc.json().map((text) => ({ text, contentType: 'application/json' })),
  fc
    .record({
      amountMills: oddValue,
      paymentMethod: fc.oneof(
        oddValue,
        fc.record({
          type: fc.constant('card'),
          number: oddValue,
          expMonth: oddValue,
          expYear: oddValue,
          cvc: oddValue,
        }),
      ),
    })
    .map((value) => ({ text: JSON.stringify(value), contentType: 'application/json' })),
  fc
    .record({
      pieces: fc.oneof(
        oddValue,
        fc.array(fc.record({ postageMills: oddValue, rateCategory: oddValue, mailingDate: oddValue }), {
          maxLength: 3,
        }),
      ),
    })
    .map((value) => ({ text: JSON.stringify(value), contentType: 'application/json' })),
  fc
    .record(
      {
        email: oddValue,
        password: oddValue,
        name: oddValue,
        url: oddValue,
        events: oddValue,
        token: oddValue,
        indicium: oddValue,
        line1: oddValue,
        city: oddValue,
        state: oddValue,
        zip: oddValue,
        text: oddValue,
      },
      { requiredKeys: [] },
    )
    .map((value) => ({ text: JSON.stringify(value), contentType: 'application/json' })),
  fc
    .string({ maxLength: 100 })
    .map((text) => ({ text: `{"pieces": [${text}`, contentType: 'application/json' })),
  fc.constant({ text: `{"x":"${'a'.repeat(1_100_000)}"}`, contentType: 'application/json' }),
  fc.string({ unit: 'binary', maxLength: 100 }).map((text) => ({ text, contentType: 'text/plain' })),
  // Mailing lists: CSV of any shape, any bytes.
  fc
    .array(
      fc.array(fc.oneof(oddValue.map(String), fc.string({ unit: 'binary', maxLength: 20 })), {
        maxLength: 9,
      }),
      {
        maxLength: 6,
      },
    )
    .map((rows) => ({
      text: `Name,Street,City,State,ZIP,Postage\n${rows.map((row) => row.join(',')).join('\n')}`,
      contentType: 'text/csv',
    })),
);
const signatureHeaders = fc.oneof(
  fc.constant({}),
  fc.record({
    'indicia-challenge': fc.oneof(
      fc.base64String({ minLength: 44, maxLength: 44 }),
      fc.string({ maxLength: 60 }),
    ),
    'indicia-registers': fc.oneof(fc.constant('0,100000'), fc.string({ maxLength: 30 })),
    'indicia-signature': fc.oneof(
      fc.base64String({ minLength: 44, maxLength: 44 }),
      fc.string({ maxLength: 60 }),
    ),
  }),
);

describe('API fuzz of signed-in and value-moving requests (bounded, loopback)', () => {
  let server: TestServer;
  let session: { cookie: string; csrf: string };
  before(async () => {
    server = await startTestServer(sqlite, { INDICIA_LOG_LEVEL: 'warn' });
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    const client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.signIn(demo.email, demo.password);
    await client.enrollDevice('fuzz', (await server.indicia.meters.enrollmentKey()).fingerprint);
    await client.addFunds(100_000, { number: '4242424242424242', expMonth: 1, expYear: 2099, cvc: '123' });
    const response = await fetch(`${server.indicia.url}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: demo.email, password: demo.password }),
    });
    session = {
      cookie: /indicia_session=([^;]*)/.exec(response.headers.get('set-cookie') ?? '')?.[1] ?? '',
      csrf: ((await response.json()) as { session: { csrfToken: string } }).session.csrfToken,
    };
  });
  after(() => server.stop());

  it('never answers 5xx and never moves a register, whatever the body, types or headers', async () => {
    const db = server.indicia.store.db;
    const snapshot = async () => ({
      meter: await server.indicia.meters.customerMeter(100_000, 'dedicated'),
      indicia: (await db.selectFrom('indicia').select('id').execute()).length,
      fundings: (await db.selectFrom('meter_fundings').select('id').execute()).length,
      refunds: (await db.selectFrom('refunds').select('id').execute()).length,
    });
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...valuePaths),
        fuzzedBody,
        signatureHeaders,
        fc.constantFrom('session', 'session-without-csrf', 'none', 'bad-bearer'),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        async (path, body, signature, who, idempotencyKey) => {
          const headers: Record<string, string> = { 'content-type': body.contentType, ...signature };
          if (who === 'session' || who === 'session-without-csrf')
            headers['cookie'] = `indicia_session=${session.cookie}`;
          if (who === 'session') headers['x-csrf-token'] = session.csrf;
          if (who === 'bad-bearer') headers['authorization'] = 'Bearer ik_0000000000000000_nope';
          if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
          let response: Response;
          try {
            response = await fetch(`${server.indicia.url}${path}`, {
              method: 'POST',
              headers,
              body: body.text,
            });
          } catch (error) {
            if (error instanceof TypeError && !/fetch failed/.test(error.message)) return;
            throw error;
          }
          const text = await response.text();
          assert.ok(response.status < 500, `POST ${path} ${who} → ${response.status}: ${text}`);
          if (response.status >= 400) {
            const payload = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            assert.equal(typeof payload.error?.code, 'string');
            assert.ok(!String(payload.error?.message).includes('    at '), 'no stack trace');
          }
        },
      ),
      { numRuns: 300 },
    );
    const afterwards = await snapshot();
    assert.deepEqual(afterwards, before);
  });
});
