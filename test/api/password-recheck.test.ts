import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient, type PieceRequest } from '../../src/client/index.ts';
import { refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };
const pieces = (count: number): PieceRequest[] =>
  Array.from({ length: count }, () => ({ postageMills: 10, rateCategory: 'FC' }));

for (const fixture of dialectFixtures) {
  describe(`password re-verification during long batch prints on ${fixture.name}`, () => {
    let server: TestServer;
    let demo: { email: string; password: string };
    let client: IndiciaClient;

    before(async () => {
      server = await startTestServer(fixture, { INDICIA_PASSWORD_RECHECK_PIECES: '1500' });
      const credential = server.indicia.demoCredentials.find((entry) => entry.role === 'customer');
      assert.ok(credential !== undefined);
      demo = credential;
    });
    after(() => server.stop());

    it('asks for the password again every 1,500 pieces; a right one prints on', async () => {
      client = new IndiciaClient({ baseUrl: server.indicia.url });
      await client.signIn(demo.email, demo.password);
      await client.enrollDevice('batch printer', (await server.indicia.meters.enrollmentKey()).fingerprint);
      await client.addFunds(100_000, CARD);
      let asked = 0;
      const progress: number[] = [];
      const results = await client.printMailingList(pieces(3_200), {
        askPassword: () => {
          asked += 1;
          return Promise.resolve(demo.password);
        },
        onProgress: (printed) => progress.push(printed),
      });
      assert.equal(results.flatMap((result) => result.indicia).length, 3_200);
      assert.equal(asked, 2, 'after 1,000 + 500 pieces would pass 1,500, and again after 2,000 more');
      assert.deepEqual(progress, [1_000, 2_000, 3_000, 3_200]);
    });

    it('ends the session and stops printing when the password is wrong, having charged only what it printed', async () => {
      // A new session of the same client (and device): its own allowance of 1,500 pieces.
      await client.signIn(demo.email, demo.password);
      const before = await client.meter();
      assert.ok(before.mode === 'dedicated');
      const stopped = await refusal(
        client.printMailingList(pieces(2_000), { askPassword: () => Promise.resolve('not the password') }),
      );
      assert.equal(stopped.status, 401);
      assert.equal(stopped.code, 'account.sign_in_failed');
      assert.match(stopped.message, /session has ended/);
      assert.equal((await refusal(client.account())).status, 401);

      const again = new IndiciaClient({ baseUrl: server.indicia.url });
      await again.signIn(demo.email, demo.password);
      const after = await again.meter();
      assert.ok(after.mode === 'dedicated');
      assert.equal(
        after.ascendingRegisterMills - before.ascendingRegisterMills,
        1_000 * 10,
        'one request of 1,000 printed',
      );
    });
  });
}
