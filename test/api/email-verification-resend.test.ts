import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { IndiciaClient } from '../../src/client/index.ts';
import { registration, refusal } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const tokenIn = (mail: ParsedMail | undefined): string => {
  const match = /verify-email\?token=([A-Za-z0-9_-]{43})/.exec(mail?.text ?? '');
  assert.ok(match?.[1] !== undefined, `no token in ${mail?.text}`);
  return match[1];
};

const recipientOf = (mail: ParsedMail): string => {
  const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
  return to?.value[0]?.address ?? '';
};

for (const fixture of dialectFixtures) {
  describe(`POST /v1/email-verifications/resend on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    const client = (): IndiciaClient => new IndiciaClient({ baseUrl: url });
    /** Mail is handed to the relay before the API answers, so the sink holds it by then. */
    const mailsTo = (email: string): ParsedMail[] =>
      smtp.messages.filter((message) => recipientOf(message) === email);
    const resend = async (email: string): Promise<{ status: number; body: unknown }> => {
      const response = await fetch(`${url}/v1/email-verifications/resend`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }),
      });
      return { status: response.status, body: await response.json() };
    };

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

    it('mails an unconfirmed account a new link, and only the newest link confirms it', async () => {
      await client().register(registration('resend@example.com'));
      const first = tokenIn(await smtp.waitFor('resend@example.com', /verify-email\?token=/));
      await client().resendEmailVerification('resend@example.com');
      const second = tokenIn(mailsTo('resend@example.com')[1]);
      assert.notEqual(second, first);
      const answer = await resend('  Resend@Example.com ');
      assert.equal(answer.status, 202);
      const mails = mailsTo('resend@example.com');
      assert.equal(mails.length, 3);
      assert.equal(mails[2]?.subject, 'Confirm your e-mail address for Indicia');
      const third = tokenIn(mails[2]);
      for (const old of [first, second]) {
        const refused = await refusal(client().verifyEmail(old));
        assert.equal(refused.code, 'account.token_invalid');
      }
      const verified = await client().verifyEmail(third);
      assert.equal(verified.account.emailVerified, true);
    });

    it('answers the same for an unknown address and a confirmed account, and sends them nothing', async () => {
      await client().register(registration('known@example.com'));
      await smtp.waitFor('known@example.com', /verify-email\?token=/);
      const unconfirmed = await resend('known@example.com');
      assert.equal(mailsTo('known@example.com').length, 2);
      await client().verifyEmail(tokenIn(mailsTo('known@example.com')[1]));
      const before = smtp.messages.length;
      const confirmed = await resend('known@example.com');
      const unknown = await resend('nobody@example.com');
      const malformed = await resend('not an address');
      assert.equal(smtp.messages.length, before, 'no mail for a confirmed or unknown address');
      for (const answer of [confirmed, unknown, malformed]) assert.deepEqual(answer, unconfirmed);
      assert.equal(unconfirmed.status, 202);
    });

    it('sends one account at most 5 verification e-mails an hour, the sign-up included', async () => {
      await client().register(registration('flood@example.com'));
      await smtp.waitFor('flood@example.com', /verify-email\?token=/);
      const answers = [];
      for (let index = 0; index < 6; index += 1) answers.push(await resend('flood@example.com'));
      assert.ok(answers.every((answer) => answer.status === 202));
      const mails = mailsTo('flood@example.com');
      assert.equal(mails.length, 5);
      // The last link sent still confirms the address.
      assert.equal((await client().verifyEmail(tokenIn(mails.at(-1)))).account.emailVerified, true);
    });

    it('is rate-limited per address like the other e-mail routes', async () => {
      const limited = await startTestServer(fixture, {
        INDICIA_SMTP_URL: smtp.url,
        INDICIA_RATE_LIMIT_SCALE: '1',
      });
      try {
        const statuses: number[] = [];
        for (let index = 0; index < 6; index += 1) {
          const response = await fetch(`${limited.indicia.url}/v1/email-verifications/resend`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: 'nobody@example.com' }),
          });
          statuses.push(response.status);
          if (response.status === 429) assert.ok(Number(response.headers.get('retry-after')) > 0);
        }
        assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
      } finally {
        await limited.stop();
      }
    });
  });
}
