import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Mills } from '../../src/money/index.ts';
import { verifyPassword } from '../../src/passwords/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';
import { runCommand } from '../support/system-packages.ts';

interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

for (const fixture of dialectFixtures) {
  describe(`server on ${fixture.name}`, () => {
    let server: TestServer;
    let url: string;
    before(async () => {
      server = await startTestServer(fixture);
      url = server.indicia.url;
    });
    after(() => server.stop());

    it('answers /healthz and /readyz', async () => {
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(Object.keys((await health.json()) as object).sort(), [
        'status',
        'uptimeSeconds',
        'version',
      ]);
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), {
        status: 'ready',
        checks: { database: 'ok', vault: 'ok', shutdown: 'no' },
      });
    });

    it('serves OpenAPI 3 at /openapi.json and a browsable page at /docs', async () => {
      const spec = (await (await fetch(`${url}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, unknown>;
        components: { schemas: Record<string, unknown> };
      };
      assert.match(spec.openapi, /^3\./);
      assert.ok(spec.paths['/healthz'] !== undefined && spec.paths['/readyz'] !== undefined);
      assert.ok(spec.components.schemas['ErrorResponse'] !== undefined);
      const docs = await fetch(`${url}/docs`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger-ui/i);
    });

    it('exposes Prometheus metrics including request durations', async () => {
      await fetch(`${url}/healthz`);
      const response = await fetch(`${url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
      const body = await response.text();
      assert.match(body, /indicia_http_request_duration_seconds_bucket\{.*route="\/healthz"/);
      assert.match(body, /indicia_process_cpu_user_seconds_total/);
    });

    it('gives every response a request id, keeping a sane incoming one', async () => {
      const generated = await fetch(`${url}/healthz`);
      assert.match(generated.headers.get('x-request-id') ?? '', /^req_[0-9a-f-]{36}$/);
      const kept = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'upstream-12345678' } });
      assert.equal(kept.headers.get('x-request-id'), 'upstream-12345678');
      const replaced = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'bad id <script>' } });
      assert.match(replaced.headers.get('x-request-id') ?? '', /^req_/);
    });

    it('answers unknown routes and bad requests with the error envelope, never a stack', async () => {
      const missing = await fetch(`${url}/v1/nothing-here`);
      assert.equal(missing.status, 404);
      const missingBody = (await missing.json()) as ErrorBody;
      assert.equal(missingBody.error.code, 'request.not_found');
      assert.equal(missingBody.error.requestId, missing.headers.get('x-request-id'));

      const badJson = await fetch(`${url}/healthz`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"broken": ',
      });
      const badBody = (await badJson.json()) as ErrorBody;
      assert.ok(badJson.status === 400 || badJson.status === 404, `status ${badJson.status}`);
      assert.doesNotMatch(JSON.stringify(badBody), /at .*\.(ts|js):\d+/);
    });

    it('created the demo operator and demo customer with argon2id hashes of the printed passwords', async () => {
      const credentials = server.indicia.demoCredentials;
      assert.deepEqual(credentials.map((credential) => credential.role).sort(), ['admin', 'customer']);
      const rows = await server.indicia.store.db
        .selectFrom('accounts')
        .selectAll()
        .orderBy('email')
        .execute();
      assert.equal(rows.length, 2);
      for (const row of rows) {
        const credential = credentials.find((candidate) => candidate.email === row.email);
        assert.ok(credential);
        assert.equal((await verifyPassword(credential.password, row.password_hash)).isMatch, true);
        assert.ok(!row.password_hash.includes(credential.password));
      }
    });

    it('runs the reconciliation job: balanced books, a metric, and an audit record', async () => {
      const { meters, reconciliation, store } = server.indicia;
      const meter = await meters.create({
        customerNumber: 4242,
        licensingZip: '10001',
        maxDescendingRegister: 500_000 as Mills,
      });
      await meters.fund(meter.meterId, 10_000, 'test');
      await meters.issue(meter.meterId, [{ postage: 730 as Mills, rateCategory: 'FC' }]);
      const report = await reconciliation.runOnce();
      assert.equal(report.isBalanced, true);
      // The demo customer's meter (made at first start) and this one.
      assert.equal(report.meters.length, 2);
      const metricsText = await (await fetch(`${url}/metrics`)).text();
      assert.match(metricsText, /indicia_reconciliation_meters\{result="meters"[^}]*\} 2/);
      assert.match(metricsText, /indicia_reconciliation_meters\{result="unbalanced"[^}]*\} 0/);
      const events = await store.db
        .selectFrom('audit_events')
        .select('kind')
        .where('kind', '=', 'reconciliation.completed')
        .execute();
      assert.equal(events.length, 1);
    });

    it('serves the CA and meter certificates as PEM for verifiers, without sign-in', async () => {
      const meter = await server.indicia.meters.create({
        customerNumber: 4343,
        licensingZip: '10001',
        maxDescendingRegister: 500_000 as Mills,
      });
      const ca = await fetch(`${url}/v1/authority/ca`);
      assert.equal(ca.status, 200);
      assert.match(ca.headers.get('content-type') ?? '', /application\/x-pem-file/);
      const caPem = await ca.text();
      assert.match(caPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n?$/);
      const certificate = await fetch(`${url}/v1/certificates/${meter.certificate.serial.toUpperCase()}`);
      assert.equal(certificate.status, 200);
      assert.equal((await certificate.text()).trim(), meter.certificate.pem.trim());
      const folder = mkdtempSync(join(tmpdir(), 'indicia-pem-'));
      writeFileSync(join(folder, 'ca.pem'), caPem);
      writeFileSync(join(folder, 'meter.pem'), meter.certificate.pem);
      const chain = runCommand('openssl', [
        'verify',
        '-CAfile',
        join(folder, 'ca.pem'),
        join(folder, 'meter.pem'),
      ]);
      assert.equal(chain.status, 0, chain.output);

      const unknown = await fetch(`${url}/v1/certificates/0123456789abcdef`);
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as ErrorBody).error.code, 'authority.certificate_not_found');
      const malformed = await fetch(`${url}/v1/certificates/not-a-serial`);
      assert.equal(malformed.status, 400);
      assert.equal(((await malformed.json()) as ErrorBody).error.code, 'request.invalid');
    });

    it('logs one line per request and never a secret', async () => {
      await fetch(`${url}/healthz`, {
        headers: { authorization: 'Bearer sk_live_secret', cookie: 'session=abc' },
      });
      server.indicia.logger.info({ password: 'hunter2', nested: { token: 'tok_secret' } }, 'redaction probe');
      server.indicia.logger.flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const lines = server.logLines();
      const text = JSON.stringify(lines);
      for (const secret of [
        'hunter2',
        'tok_secret',
        'sk_live_secret',
        'session=abc',
        ...server.indicia.demoCredentials.map((c) => c.password),
      ]) {
        assert.ok(!text.includes(secret), `log contains ${secret}`);
      }
      const probe = lines.find((line) => line['msg'] === 'redaction probe');
      assert.equal(probe?.['password'], '[redacted]');
      assert.ok(
        lines.some(
          (line) => line['msg'] === 'request' && line['route'] === '/healthz' && line['status'] === 200,
        ),
      );
    });
  });
}

describe('server shutdown', () => {
  it('reports not ready while shutting down, then closes the database', async () => {
    const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
    assert.ok(sqlite);
    const server = await startTestServer(sqlite);
    const closing = server.indicia.close();
    await closing;
    await assert.rejects(fetch(`${server.indicia.url}/healthz`));
    await assert.rejects(server.indicia.store.ping());
    await server.indicia.close(); // idempotent
    await server.stop();
  });
});
