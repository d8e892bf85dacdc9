import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient } from '../../src/client/index.ts';
import { runIndicia } from '../support/cli-process.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

describe('address verification over the API and the command line', () => {
  let server: TestServer;
  let client: IndiciaClient;

  before(async () => {
    assert.ok(sqlite !== undefined);
    server = await startTestServer(sqlite);
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.signIn(demo.email, demo.password);
  });
  after(() => server.stop());

  it('POST /v1/addresses/verify standardizes, checks and ranks, and says what the provider does not know', async () => {
    const valid = await client.verifyAddress({
      line1: '350 Fifth Avenue Suite 3300',
      city: 'New York',
      state: 'NY',
      zip: '10118',
    });
    assert.equal(valid.status, 'valid');
    assert.equal(valid.address?.line1, '350 FIFTH AVE STE 3300');
    assert.match(valid.limits, /does not check streets, house numbers or delivery points/);
    const text = await client.verifyAddress({ text: '12 main st, Troyy, NY 12180' });
    assert.equal(text.status, 'corrected');
    assert.equal(text.address?.city, 'TROY');
    await assert.rejects(client.verifyAddress({ text: '😀' }), (error: unknown) => {
      assert.ok(error instanceof IndiciaApiError);
      assert.equal(error.status, 422);
      assert.equal(error.code, 'address.invalid');
      return true;
    });
    const stranger = await fetch(`${server.indicia.url}/v1/addresses/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: '12 Main St, Troy, NY 12180' }),
    });
    assert.equal(stranger.status, 401);
  });

  it('indicia address verify works offline, without a server', async () => {
    const corrected = await runIndicia(['address', 'verify', '12 main street, Troyy, NY 12180']);
    assert.equal(corrected.status, 0, corrected.stderr);
    assert.match(corrected.stdout, /^corrected: 12 MAIN ST, TROY NY {2}12180\n/);
    assert.match(
      corrected.stdout,
      /1\. 12 MAIN ST, TROY NY {2}12180 {2}\(standardized, city_corrected; score/,
    );
    const json = await runIndicia([
      'address',
      'verify',
      '--line1',
      'PO Box 7',
      '--city',
      'Troy',
      '--state',
      'NY',
      '--zip',
      '12180',
      '--json',
    ]);
    assert.equal(json.status, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { address: { line1: string } }).address.line1, 'PO BOX 7');
    const invalid = await runIndicia(['address', 'verify', '1 Main St, Nowhere, ZZ 00000']);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stdout, /^invalid/);
  });
});
