import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TokenBuckets } from '../../src/api/index.ts';
import { IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

describe('token buckets', () => {
  it('allows the limit, then refuses with the wait until a token is back', () => {
    const buckets = new TokenBuckets({ requests: 3, perSeconds: 60 });
    const at = 1_000_000;
    assert.deepEqual([buckets.take('a', at), buckets.take('a', at), buckets.take('a', at)], [0, 0, 0]);
    assert.equal(buckets.take('a', at), 20);
    assert.equal(buckets.take('b', at), 0, 'keys are separate');
    assert.equal(buckets.take('a', at + 20_000), 0, 'one token back after 20 s');
  });
});

for (const fixture of dialectFixtures) {
  describe(`sign-in lockout and per-address limits on ${fixture.name}`, () => {
    let server: TestServer;
    let demo: { email: string; password: string };

    before(async () => {
      server = await startTestServer(fixture, { INDICIA_RATE_LIMIT_SCALE: '2' });
      const credential = server.indicia.demoCredentials.find((entry) => entry.role === 'customer');
      assert.ok(credential !== undefined);
      demo = credential;
    });
    after(() => server.stop());

    it('locks an account against strangers after 5 failures, never against a device that signed in before', async () => {
      const owner = new IndiciaClient({ baseUrl: server.indicia.url });
      await owner.signIn(demo.email, demo.password);
      const stranger = new IndiciaClient({ baseUrl: server.indicia.url });
      for (let attempt = 0; attempt < 5; attempt += 1) {
        assert.equal(
          (await refusal(stranger.signIn(demo.email, 'wrong password, again'))).code,
          'account.sign_in_failed',
        );
      }
      const locked = await refusal(stranger.signIn(demo.email, demo.password));
      assert.equal(locked.status, 429);
      assert.equal(locked.code, 'account.locked');
      assert.match(locked.message, /browser or client you used before/);
      // The real user's known device is not shut out, and a good sign-in clears the count.
      await owner.signIn(demo.email, demo.password);
      assert.equal((await owner.account()).email, demo.email);
      await new IndiciaClient({ baseUrl: server.indicia.url }).signIn(demo.email, demo.password);

      // An address without an account locks the same way: a lock tells nothing about who has one.
      for (let attempt = 0; attempt < 5; attempt += 1)
        await refusal(stranger.signIn('nobody@example.com', PASSWORD));
      assert.equal((await refusal(stranger.signIn('nobody@example.com', PASSWORD))).code, 'account.locked');
    });

    it('refuses the 21st sign-in attempt from one address within a minute, with Retry-After', async () => {
      let answer: Response | undefined;
      for (let attempt = 0; attempt < 25; attempt += 1) {
        answer = await fetch(`${server.indicia.url}/v1/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'x@example.com', password: 'p' }),
        });
        if (answer.status === 429) break;
      }
      assert.ok(answer !== undefined);
      assert.equal(answer.status, 429);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'request.rate_limited');
      assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/);
    });
  });
}

for (const fixture of dialectFixtures) {
  describe(`per-account request limit on ${fixture.name}`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(fixture, { INDICIA_RATE_LIMIT_PER_MINUTE: '30' });
    });
    after(() => server.stop());

    it('refuses a signed-in account past its requests a minute, and counts accounts apart', async () => {
      const credential = server.indicia.demoCredentials.find((entry) => entry.role === 'customer');
      const operator = server.indicia.demoCredentials.find((entry) => entry.role === 'admin');
      assert.ok(credential !== undefined && operator !== undefined);
      const customer = new IndiciaClient({ baseUrl: server.indicia.url });
      await customer.signIn(credential.email, credential.password);
      const statuses: number[] = [];
      for (let request = 0; request < 35; request += 1) {
        statuses.push(
          await customer.account().then(
            () => 200,
            (error: unknown) => (error as { status: number }).status,
          ),
        );
      }
      assert.equal(statuses.filter((status) => status === 200).length, 30);
      assert.equal(statuses.at(-1), 429);
      const admin = new IndiciaClient({ baseUrl: server.indicia.url });
      await admin.signIn(operator.email, operator.password);
      assert.equal((await admin.account()).role, 'admin');
    });
  });
}
