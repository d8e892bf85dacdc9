import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { canonicalJson } from '../../src/encoding/index.ts';
import { PASSWORD, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242424242424242', expMonth: 1, expYear: 2099, cvc: '999' };

for (const fixture of dialectFixtures) {
  describe(`idempotency keys on ${fixture.name}`, () => {
    let server: TestServer;
    let url: string;
    let demo: IndiciaClient;
    let fingerprint: string;
    // A second session of the demo customer, driven with plain fetch to see raw answers.
    let demoCookie: string;
    let demoCsrf: string;

    const indiciaCount = async (): Promise<number> =>
      (await server.indicia.store.db.selectFrom('indicia').select('id').execute()).length;

    before(async () => {
      // Refunds credited at once (the seed's spoilage cap), so a refund moves value under its key.
      server = await startTestServer(fixture, { INDICIA_DEFAULT_PRICING_PLAN: 'spoilage-cap' });
      url = server.indicia.url;
      fingerprint = (await server.indicia.meters.enrollmentKey()).fingerprint;
      const credential = server.indicia.demoCredentials.find((entry) => entry.role === 'customer');
      assert.ok(credential !== undefined);
      demo = new IndiciaClient({ baseUrl: url });
      await demo.signIn(credential.email, credential.password);
      await demo.enrollDevice('idempotency tests', fingerprint);
      await demo.addFunds(100_000, CARD);
      const signIn = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: credential.email, password: credential.password }),
      });
      demoCookie = /indicia_session=([^;]*)/.exec(signIn.headers.get('set-cookie') ?? '')?.[1] ?? '';
      demoCsrf = ((await signIn.json()) as { session: { csrfToken: string } }).session.csrfToken;
    });
    after(() => server.stop());

    it('has exactly one effect for 20 concurrent duplicates; the rest are replays or told to wait', async () => {
      const device = demo.device;
      assert.ok(device !== undefined);
      const body = { pieces: [{ postageMills: 730, rateCategory: 'FC' }] };
      const headers = {
        ...(await device.headers('POST', '/v1/indicia', body)),
        'idempotency-key': randomUUID(),
      };
      const before = await indiciaCount();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${url}/v1/indicia`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              cookie: `indicia_session=${demoCookie}`,
              'x-csrf-token': demoCsrf,
              ...headers,
            },
            body: JSON.stringify(body),
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      assert.equal(await indiciaCount(), before + 1, 'one indicium, however many duplicates');
      assert.ok(
        statuses.every((status) => status === 201 || status === 409),
        statuses.join(','),
      );
      const created = answers.filter((answer) => answer.status === 201);
      assert.ok(created.length >= 1);
      const bodies = await Promise.all(created.map((answer) => answer.text()));
      assert.ok(
        bodies.every((text) => text === bodies[0]),
        'every 201 is the same result',
      );
      const replayed = created.filter((answer) => answer.headers.get('idempotent-replayed') === 'true');
      assert.equal(replayed.length, created.length - 1);
      for (const answer of answers.filter((entry) => entry.status === 409)) {
        assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'request.conflict');
      }
      await demo.syncDevice();
    });

    it('replays the first result, refusals included, and refuses the key with other parameters', async () => {
      const key = randomUUID();
      const first = await demo.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }], {
        idempotencyKey: key,
      });
      const before = await indiciaCount();
      // The retry of a request whose answer was lost: the same answer, no second indicium.
      const device = demo.device;
      assert.ok(device !== undefined);
      const body = { pieces: [{ postageMills: 500, rateCategory: 'FC' }] };
      const retried = await demo.request<typeof first>('POST', '/v1/indicia', body, {
        ...(await device.headers('POST', '/v1/indicia', body)),
        'idempotency-key': key,
      });
      assert.deepEqual(retried, first);
      assert.equal(await indiciaCount(), before);

      const other = await refusal(
        demo.issueIndicia([{ postageMills: 501, rateCategory: 'FC' }], { idempotencyKey: key }),
      );
      assert.equal(other.status, 422);
      assert.equal(other.code, 'request.idempotency_key_reused');

      const declinedKey = randomUUID();
      const declined = await refusal(
        demo.addFunds(1_000, { ...CARD, number: '4000000000000002' }, { idempotencyKey: declinedKey }),
      );
      assert.equal(declined.code, 'payment.declined');
      const again = await refusal(
        demo.addFunds(1_000, { ...CARD, number: '4000000000000002' }, { idempotencyKey: declinedKey }),
      );
      assert.equal(again.code, 'payment.declined');
      assert.equal(again.requestId, declined.requestId, 'the stored refusal, not a new attempt');
    });

    it('waits for a live lease, and takes over a key whose lease ran out', async () => {
      const device = demo.device;
      assert.ok(device !== undefined);
      const body = { pieces: [{ postageMills: 640, rateCategory: 'FC' }] };
      const key = randomUUID();
      const send = async () =>
        fetch(`${url}/v1/indicia`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            cookie: `indicia_session=${demoCookie}`,
            'x-csrf-token': demoCsrf,
            'idempotency-key': key,
            ...(await device.headers('POST', '/v1/indicia', body)),
          },
          body: JSON.stringify(body),
        });
      const { db } = server.indicia.store;
      // The demo customer's newest session is the one driven with plain fetch.
      const session = await db
        .selectFrom('sessions')
        .select('account_id')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      // A request another host began, with the same parameters: its process holds the key.
      await db
        .insertInto('idempotency_keys')
        .values({
          scope: session.account_id,
          key,
          request_hash: createHash('sha256')
            .update(`POST\n/v1/indicia\n${canonicalJson(body)}`)
            .digest('hex'),
          status: 'in_progress',
          response_status: null,
          response_body: null,
          created_at: new Date().toISOString(),
          owner: 'another-host:4242:nonce',
          lease_expires_at: new Date(Date.now() + 30_000).toISOString(),
          effect: null,
        })
        .execute();
      const before = await indiciaCount();
      const waiting = await send();
      assert.equal(waiting.status, 409);
      assert.equal(((await waiting.json()) as { error: { code: string } }).error.code, 'request.conflict');
      // That host died: once its lease runs out, the retry takes the key over and runs once.
      await db
        .updateTable('idempotency_keys')
        .set({ lease_expires_at: new Date(Date.now() - 1_000).toISOString() })
        .where('key', '=', key)
        .execute();
      const taken = await send();
      assert.equal(taken.status, 201, await taken.clone().text());
      assert.equal(taken.headers.get('idempotent-replayed'), null);
      assert.equal(await indiciaCount(), before + 1);
      await demo.syncDevice();
      const replayed = await send();
      assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
      assert.equal(await indiciaCount(), before + 1);
      await demo.syncDevice();
    });

    it('rebuilds, from the committed rows, the very answer a process died before storing', async () => {
      const device = demo.device;
      assert.ok(device !== undefined);
      const send = async (path: string, body: unknown, key: string) => {
        const answer = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: {
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            cookie: `indicia_session=${demoCookie}`,
            'x-csrf-token': demoCsrf,
            'idempotency-key': key,
            ...(await device.headers('POST', path, body)),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return {
          status: answer.status,
          replayed: answer.headers.get('idempotent-replayed'),
          text: await answer.text(),
        };
      };
      const { db } = server.indicia.store;
      /** As if the process had died between the commit and storing the answer. */
      const diedBeforeAnswering = (key: string) =>
        db
          .updateTable('idempotency_keys')
          .set({
            status: 'committed',
            response_status: null,
            response_body: null,
            lease_expires_at: new Date(Date.now() - 1).toISOString(),
          })
          .where('key', '=', key)
          .execute();
      const printed = await demo.issueIndicia(
        // Spoilage refunds stay within 1% of what the meter printed: the spoiled one is small.
        [100, 20_000, 20_000].map((postageMills) => ({ postageMills, rateCategory: 'FC' })),
      );
      const [spoiled, underpaid] = printed.indicia;
      assert.ok(spoiled !== undefined && underpaid !== undefined);
      const sheet = await demo.request<{ serial: number }>('POST', '/v1/label-sheets', undefined);
      const cases = [
        {
          path: `/v1/label-sheets/${sheet.serial}/print`,
          body: { piece: { postageMills: 530, rateCategory: 'FC' } },
        },
        {
          path: '/v1/indicia',
          body: {
            pieces: [
              { postageMills: 510, rateCategory: 'FC' },
              { postageMills: 520, rateCategory: 'FC' },
            ],
          },
        },
        { path: '/v1/funds', body: { amountMills: 2_000, paymentMethod: { type: 'card', ...CARD } } },
        { path: `/v1/indicia/${underpaid.id}/correction`, body: { postageMills: 20_090 } },
        { path: `/v1/indicia/${spoiled.id}/refund`, body: undefined },
      ];
      for (const { path, body } of cases) {
        const key = randomUUID();
        const first = await send(path, body, key);
        assert.equal(first.status, 201, first.text);
        await demo.syncDevice();
        const row = await db
          .selectFrom('idempotency_keys')
          .selectAll()
          .where('key', '=', key)
          .executeTakeFirstOrThrow();
        assert.equal(row.status, 'done');
        assert.ok(row.effect !== null, 'the effect was recorded in the commit');
        await diedBeforeAnswering(key);
        const rebuilt = await send(path, body, key);
        assert.equal(rebuilt.status, 201, rebuilt.text);
        assert.equal(rebuilt.replayed, 'true');
        assert.equal(rebuilt.text, first.text, `${path}: the same answer, byte for byte`);
      }

      // A mailing list printed in one batch: the same issuance and receipt; the list as it is now.
      const list = await demo.printing.importMailingList(
        'Full Name,Street,City,State,ZIP,Postage\nAda,1 Main St,Troy,NY,12180,0.73\nBob,2 Main St,Troy,NY,12180,0.73\n',
      );
      const path = `/v1/mailing-lists/${list.id}/print`;
      const body = { digest: list.digest, pieces: list.rows, totalPostageMills: list.totalPostageMills };
      const key = randomUUID();
      const first = await send(path, body, key);
      assert.equal(first.status, 201, first.text);
      await demo.syncDevice();
      await demo.printing.waitForPdf(list.id);
      await diedBeforeAnswering(key);
      const rebuilt = await send(path, body, key);
      assert.equal(rebuilt.status, 201, rebuilt.text);
      assert.equal(rebuilt.replayed, 'true');
      const [before, after] = [first, rebuilt].map(
        (answer) =>
          JSON.parse(answer.text) as { list: { id: string; state: string } } & Record<string, unknown>,
      );
      assert.ok(before !== undefined && after !== undefined);
      for (const field of ['issued', 'receipt', 'challenge', 'registers'])
        assert.deepEqual(after[field], before[field], field);
      assert.deepEqual([after.list.id, after.list.state], [list.id, 'printed']);
    });

    it('refuses a key on requests whose answer holds a secret shown once, and a malformed key', async () => {
      const signIn = await refusal(
        demo.request(
          'POST',
          '/v1/sessions',
          { email: 'x@example.com', password: PASSWORD },
          { 'idempotency-key': 'k1' },
        ),
      );
      assert.equal(signIn.code, 'request.invalid');
      const malformed = await refusal(
        demo.request(
          'POST',
          '/v1/password-resets',
          { email: 'x@example.com' },
          { 'idempotency-key': 'has spaces in it' },
        ),
      );
      assert.equal(malformed.code, 'request.invalid');
    });
  });
}
