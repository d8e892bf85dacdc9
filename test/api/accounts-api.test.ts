import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const tokenIn = (text: string | undefined): string => {
  const match = /token=([A-Za-z0-9_-]{43})/.exec(text ?? '');
  assert.ok(match?.[1] !== undefined, `no token in ${text}`);
  return match[1];
};

for (const fixture of dialectFixtures) {
  describe(`accounts API on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    const client = (): IndiciaClient => new IndiciaClient({ baseUrl: url });
    const countAccounts = async (): Promise<number> =>
      (await server.indicia.store.db.selectFrom('accounts').select('id').execute()).length;

    before(async () => {
      smtp = await startSmtpSink();
      server = await startTestServer(fixture, { INDICIA_SMTP_URL: smtp.url });
      url = server.indicia.url;
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await smtp.close();
      }
    });

    it('signs up, mails a verification link over SMTP, and opens a dedicated meter once confirmed', async () => {
      const ada = client();
      const { account, licence } = await ada.register(registration('ada@example.com'));
      assert.equal(account.role, 'customer');
      assert.equal(account.emailVerified, false);
      assert.ok(account.customerNumber !== null && account.customerNumber > 100_000);
      assert.equal(licence.status, 'granted');
      assert.equal(licence.licenceNumber, `PM-10118-${account.customerNumber}`);
      const mail = await smtp.waitFor('ada@example.com', /verify-email\?token=/);
      assert.equal(mail.subject, 'Confirm your e-mail address for Indicia');

      await ada.signIn('ada@example.com', PASSWORD);
      const unverified = await refusal(ada.meter());
      assert.equal(unverified.status, 403);
      assert.equal(unverified.code, 'account.not_verified');

      const token = tokenIn(mail.text);
      const verified = await client().verifyEmail(token);
      assert.equal(verified.account.emailVerified, true);
      const meter = await ada.meter();
      assert.ok(meter.mode === 'dedicated');
      assert.equal(meter.descendingRegisterMills, 0);
      assert.equal(meter.ascendingRegisterMills, 0);
      assert.equal(meter.maxDescendingRegisterMills, 5_000_000);
      assert.equal(meter.licensingZip, '10118');
      const again = await refusal(client().verifyEmail(token));
      assert.equal(again.code, 'account.token_invalid');
    });

    it('gives a pooled customer a prefunded balance and a client package instead of a meter', async () => {
      const bob = client();
      await bob.register(registration('bob@example.com', { meterMode: 'pooled' }));
      const token = tokenIn((await smtp.waitFor('bob@example.com', /token=/)).text);
      await bob.verifyEmail(token);
      await bob.signIn('bob@example.com', PASSWORD);
      assert.deepEqual(await bob.meter(), {
        mode: 'pooled',
        customerNumber: (await bob.account()).customerNumber,
        balanceMills: 0,
        ascendingRegisterMills: 0,
        descendingRegisterMills: 0,
        deviceEnrolled: false,
        challenge: null,
      });
    });

    it('refuses a bad sign-up with the field at fault, and creates nothing', async () => {
      const before = await countAccounts();
      const poBox = await refusal(
        client().register(
          registration('po@example.com', {
            physicalAddress: { line1: 'P.O. Box 77', city: 'New York', state: 'NY', zip: '10118' },
          }),
        ),
      );
      assert.equal(poBox.status, 400);
      assert.equal(poBox.code, 'account.invalid');
      assert.equal(poBox.details?.['field'], 'physicalAddress');
      assert.match(poBox.message, /PO Box/);
      const short = await refusal(
        client().register(registration('short@example.com', { password: 'too short' })),
      );
      assert.equal(short.details?.['field'], 'password');
      const zip = await refusal(client().register(registration('zip@example.com', { licensingZip: '1011' })));
      assert.equal(zip.details?.['field'], 'licensingZip');
      const state = await refusal(
        client().register(
          registration('state@example.com', {
            physicalAddress: { line1: '1 Main St', city: 'Springfield', state: 'ZZ', zip: '10118' },
          }),
        ),
      );
      assert.equal(state.details?.['field'], 'physicalAddress.state');
      const taken = await refusal(client().register(registration('ADA@example.com')));
      assert.equal(taken.status, 409);
      assert.equal(taken.code, 'account.email_taken');
      const wrongType = await refusal(
        client().request('POST', '/v1/accounts', {
          ...registration('type@example.com'),
          meterMode: 'shared',
        }),
      );
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.code, 'request.invalid');
      assert.equal(await countAccounts(), before);
    });

    it('refuses a wrong password and an unknown address with the same answer', async () => {
      const wrong = await refusal(client().signIn('ada@example.com', 'not the password at all'));
      const unknown = await refusal(client().signIn('nobody@example.com', PASSWORD));
      for (const refused of [wrong, unknown]) {
        assert.equal(refused.status, 401);
        assert.equal(refused.code, 'account.sign_in_failed');
        assert.equal(refused.message, 'The e-mail address or the password is wrong.');
      }
    });

    it('keeps the session in an HttpOnly, SameSite=Strict cookie and demands the CSRF token', async () => {
      const response = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
      });
      assert.equal(response.status, 201);
      const setCookie = response.headers.get('set-cookie') ?? '';
      assert.match(
        setCookie,
        /^indicia_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+/,
      );
      const cookie = setCookie.split(';')[0] ?? '';
      const answer = (await response.json()) as { account: unknown; session: { csrfToken: string } };
      const { session } = answer;
      // docs/api.md states the answer's shape and where the token is: session.csrfToken.
      const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');
      const documented = /"session": \{ ([^}]*) \}/.exec(doc)?.[1]?.match(/"\w+"/g) ?? [];
      assert.deepEqual(Object.keys(answer).sort(), ['account', 'session']);
      assert.deepEqual(Object.keys(session).sort(), documented.map((name) => name.slice(1, -1)).sort());
      assert.match(doc, /sends `session\.csrfToken` in `X-CSRF-Token`/);
      const post = (headers: Record<string, string>) =>
        fetch(`${url}/v1/api-keys`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie, ...headers },
          body: JSON.stringify({ name: 'csrf test', scopes: ['meter:read'] }),
        });
      const missing = await post({});
      assert.equal(missing.status, 403);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'account.csrf_failed');
      const forged = await post({ 'x-csrf-token': 'A'.repeat(43) });
      assert.equal(forged.status, 403);
      assert.equal((await post({ 'x-csrf-token': session.csrfToken })).status, 201);
      // Reading needs no CSRF token.
      assert.equal((await fetch(`${url}/v1/account`, { headers: { cookie } })).status, 200);
    });

    it('issues scoped API keys shown once, stored hashed, and revocable', async () => {
      const ada = client();
      await ada.signIn('ada@example.com', PASSWORD);
      const { apiKey, key } = await ada.createApiKey('warehouse printer', ['meter:read']);
      assert.match(key, /^ik_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      const stored = await server.indicia.store.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', apiKey.id)
        .executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(stored).includes(key.slice(20)), 'the secret is not stored');
      assert.equal(
        (await ada.apiKeys()).find((listed) => listed.id === apiKey.id)?.name,
        'warehouse printer',
      );

      const integration = new IndiciaClient({ baseUrl: url, apiKey: key });
      assert.equal((await integration.meter()).mode, 'dedicated');
      const sessionOnly = await refusal(integration.createApiKey('escalation', ['meter:read']));
      assert.equal(sessionOnly.status, 403);
      assert.equal(sessionOnly.code, 'account.forbidden');

      const narrow = await ada.createApiKey('no reading', ['indicia:issue']);
      const lacking = await refusal(new IndiciaClient({ baseUrl: url, apiKey: narrow.key }).meter());
      assert.equal(lacking.code, 'account.forbidden');
      assert.match(lacking.message, /meter:read/);

      await ada.revokeApiKey(apiKey.id);
      const revoked = await refusal(integration.meter());
      assert.equal(revoked.status, 401);
      assert.equal(revoked.code, 'account.unauthenticated');
      const unknownKey = await refusal(ada.revokeApiKey(apiKey.id));
      assert.equal(unknownKey.code, 'account.api_key_not_found');
      const badScope = await refusal(
        ada.request('POST', '/v1/api-keys', { name: 'x', scopes: ['admin:everything'] }),
      );
      assert.equal(badScope.code, 'request.invalid');
    });

    it('signs out, after which the session is refused', async () => {
      const ada = client();
      await ada.signIn('ada@example.com', PASSWORD);
      const stolen = new IndiciaClient({ baseUrl: url });
      await stolen.signIn('ada@example.com', PASSWORD);
      await ada.account();
      await ada.signOut();
      const after = await refusal(ada.account());
      assert.equal(after.status, 401);
      assert.equal((await stolen.account()).email, 'ada@example.com', 'other sessions are untouched');
    });

    it('changes the password: other sessions end, the old password stops working', async () => {
      await client().register(registration('carol@example.com'));
      const carol = client();
      const other = client();
      await carol.signIn('carol@example.com', PASSWORD);
      await other.signIn('carol@example.com', PASSWORD);
      const wrong = await refusal(carol.changePassword('not my password!', 'a brand new passphrase'));
      assert.equal(wrong.code, 'account.sign_in_failed');
      const weak = await refusal(carol.changePassword(PASSWORD, 'short'));
      assert.equal(weak.code, 'account.invalid');
      await carol.changePassword(PASSWORD, 'a brand new passphrase');
      assert.equal((await carol.account()).email, 'carol@example.com');
      assert.equal((await refusal(other.account())).status, 401);
      assert.equal((await refusal(client().signIn('carol@example.com', PASSWORD))).status, 401);
      await client().signIn('carol@example.com', 'a brand new passphrase');
    });

    it('resets a forgotten password by e-mail, once, without telling who has an account', async () => {
      await client().register(registration('dave@example.com'));
      const dave = client();
      await dave.signIn('dave@example.com', PASSWORD);
      const mailsBefore = smtp.messages.length;
      await client().requestPasswordReset('nobody-here@example.com');
      await client().requestPasswordReset('dave@example.com');
      const mail = await smtp.waitFor('dave@example.com', /reset-password\?token=/);
      assert.equal(smtp.messages.length, mailsBefore + 1, 'no mail for an unknown address');
      const token = tokenIn(mail.text);
      await client().resetPassword(token, 'reset passphrase number one');
      assert.equal((await refusal(dave.account())).status, 401, 'every session ended');
      const reused = await refusal(client().resetPassword(token, 'reset passphrase number two'));
      assert.equal(reused.code, 'account.token_invalid');
      await client().signIn('dave@example.com', 'reset passphrase number one');
    });

    it('has the demo customer licensed, verified and metered from the first start', async () => {
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      const customer = client();
      await customer.signIn(demo.email, demo.password);
      const meter = await customer.meter();
      assert.equal(meter.mode, 'dedicated');
      assert.equal(meter.customerNumber, 100_000);
    });
  });
}
