import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { runIndicia } from '../support/cli-process.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

describe('indicia client (the SDK from the command line)', () => {
  let server: TestServer;
  let apiKey: string;
  let folder: string;

  before(async () => {
    assert.ok(sqlite !== undefined);
    server = await startTestServer(sqlite);
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    const browser = new IndiciaClient({ baseUrl: server.indicia.url });
    await browser.signIn(demo.email, demo.password);
    ({ key: apiKey } = await browser.createApiKey('command line', [
      'devices:enroll',
      'funds:add',
      'indicia:issue',
      'meter:read',
    ]));
    folder = mkdtempSync(join(tmpdir(), 'indicia-client-cli-'));
  });
  after(() => server.stop());

  it('enrolls, funds with a sandbox card, prints to files and shows the registers, across separate runs', async () => {
    const state = join(folder, 'client.json');
    const { fingerprint } = await server.indicia.meters.enrollmentKey();
    const enrolled = await runIndicia(
      ['client', 'enroll', '--url', server.indicia.url, '--fingerprint', fingerprint, '--state', state],
      { INDICIA_API_KEY: apiKey },
    );
    assert.equal(enrolled.status, 0, enrolled.stderr);
    assert.match(enrolled.stdout, /Enrolled device dev_/);
    assert.equal(statSync(state).mode & 0o777, 0o600);

    const funded = await runIndicia([
      'client',
      'fund',
      '25.00',
      '--card',
      '4242 4242 4242 4242',
      '--exp',
      '12/2099',
      '--cvc',
      '123',
      '--state',
      state,
    ]);
    assert.equal(funded.status, 0, funded.stderr);
    assert.match(funded.stdout, /Added \$25\.00 \(sandbox card …4242\); DR now \$25\.00; receipt rcpt_/);

    const out = join(folder, 'indicia');
    const printed = await runIndicia([
      'client',
      'print',
      '--postage',
      '0.73',
      '--rate',
      'FC',
      '--count',
      '2',
      '--out',
      out,
      '--state',
      state,
    ]);
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /Printed 2 × \$0\.73; AR \$1\.46, DR \$23\.54/);
    const files = readdirSync(out);
    assert.equal(files.length, 2);
    assert.equal(readFileSync(join(out, files[0] ?? '')).length, 121);

    const meter = await runIndicia(['client', 'meter', '--state', state]);
    assert.equal(meter.status, 0, meter.stderr);
    assert.match(meter.stdout, /AR \$1\.46 {2}DR \$23\.54/);

    const declined = await runIndicia([
      'client',
      'fund',
      '5.00',
      '--card',
      '4000000000000002',
      '--exp',
      '12/2099',
      '--cvc',
      '123',
      '--state',
      state,
    ]);
    assert.equal(declined.status, 1);
    assert.match(
      declined.stderr,
      /^indicia: The card was declined by the issuer; use another card\. \(payment\.declined, request req_/,
    );
  });

  it('says what is missing instead of guessing', async () => {
    const missing = await runIndicia(['client', 'meter', '--state', join(folder, 'none.json')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /No enrolled device in .*none\.json; run indicia client enroll first/);
    const noKey = await runIndicia(['client', 'enroll', '--url', server.indicia.url, '--fingerprint', 'ab']);
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /needs --url, --fingerprint and an API key/);
  });
});
