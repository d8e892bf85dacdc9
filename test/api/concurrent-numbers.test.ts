import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, registration } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

/** Requests sent at once: enough that PostgreSQL's pool (10 connections) runs them side by side. */
const AT_ONCE = 30;
const CARD = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' };
/** The demo customer's number; sign-ups count on from it. */
const DEMO_CUSTOMER_NUMBER = 100_000;

/** Each call's outcome: its value, or the API error code (anything else is rethrown). */
async function outcomes<T>(calls: Promise<T>[]): Promise<({ value: T } | { code: string })[]> {
  return Promise.all(
    calls.map((call) =>
      call.then(
        (value) => ({ value }),
        (error: unknown) => {
          if (error instanceof IndiciaApiError) return { code: `${error.status} ${error.code}` };
          throw error;
        },
      ),
    ),
  );
}

const tokenOf = (text: string | undefined): string => /token=([A-Za-z0-9_-]{43})/.exec(text ?? '')?.[1] ?? '';

for (const fixture of dialectFixtures) {
  describe(`numbers handed out to requests at once, on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    const client = (): IndiciaClient => new IndiciaClient({ baseUrl: url });

    before(async () => {
      smtp = await startSmtpSink();
      server = await startTestServer(fixture, { INDICIA_SMTP_URL: smtp.url, INDICIA_LOG_LEVEL: 'warn' });
      url = server.indicia.url;
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await smtp.close();
      }
    });

    it(`${AT_ONCE} sign-ups at once get distinct customer numbers without gaps, and their meters distinct meter numbers`, async () => {
      const customers = Array.from({ length: AT_ONCE }, (_, index) => ({
        email: `at-once-${index}@example.com`,
        client: client(),
        // Every third one pooled: its client package is made on confirmation instead of a meter.
        mode: index % 3 === 2 ? ('pooled' as const) : ('dedicated' as const),
      }));
      const signUps = await outcomes(
        customers.map(({ email, client, mode }) => client.register(registration(email, { meterMode: mode }))),
      );
      const numbers = signUps.map((outcome) =>
        'value' in outcome ? outcome.value.account.customerNumber : outcome.code,
      );
      assert.deepEqual(
        [...numbers].sort(),
        Array.from({ length: AT_ONCE }, (_, index) => DEMO_CUSTOMER_NUMBER + 1 + index),
      );
      const licences = signUps.map((outcome) =>
        'value' in outcome ? outcome.value.licence.licenceNumber : null,
      );
      assert.equal(new Set(licences).size, AT_ONCE);

      // Confirming the address opens the meter: MeterGen takes a serial for each at once.
      const meters = await Promise.all(
        customers.map(async ({ email, client }) => {
          await client.verifyEmail(tokenOf((await smtp.waitFor(email, /token=/)).text));
          await client.signIn(email, PASSWORD);
          return client.meter();
        }),
      );
      const meterIds = meters.flatMap((meter) => (meter.mode === 'dedicated' ? [meter.meterId] : []));
      assert.equal(meterIds.length, customers.filter(({ mode }) => mode === 'dedicated').length);
      assert.equal(new Set(meterIds).size, meterIds.length);

      // The value path at once too: a device each, funds, one indicium; every register its own.
      const { fingerprint } = await server.indicia.meters.enrollmentKey();
      const dedicated = customers.filter(({ mode }) => mode === 'dedicated');
      const printed = await Promise.all(
        dedicated.map(async ({ client }, index) => {
          await client.enrollDevice(`device ${index}`, fingerprint);
          await client.addFunds(10_000, CARD);
          return (await client.issueIndicia([{ postageMills: 730, rateCategory: 'FC' }])).registers;
        }),
      );
      for (const registers of printed)
        assert.deepEqual(registers, { ascendingRegisterMills: 730, descendingRegisterMills: 9_270 });

      const sheets = await Promise.all(dedicated.map(({ client }) => client.printing.createLabelSheet()));
      assert.equal(new Set(sheets.map((sheet) => sheet.serial)).size, sheets.length);
      const labels = sheets.flatMap((sheet) => sheet.labels.map((label) => label.serial));
      assert.equal(new Set(labels).size, sheets.length * 10);
    });

    it('the same address signed up 10 times at once makes one account and refuses the rest with 409', async () => {
      const email = 'twice@example.com';
      const signUps = await outcomes(
        Array.from({ length: 10 }, () => client().register(registration(email))),
      );
      const codes = signUps.map((outcome) => ('value' in outcome ? 'created' : outcome.code)).sort();
      assert.deepEqual(codes, [...Array<string>(9).fill('409 account.email_taken'), 'created'].sort());
      const accounts = await server.indicia.store.db
        .selectFrom('accounts')
        .select('id')
        .where('email', '=', email)
        .execute();
      assert.equal(accounts.length, 1);
    });

    it('a verification link sent 10 times at once confirms the address and opens its meter once', async () => {
      const email = 'double-click@example.com';
      const { account } = await client().register(registration(email));
      const token = tokenOf((await smtp.waitFor(email, /token=/)).text);
      const confirmations = await outcomes(Array.from({ length: 10 }, () => client().verifyEmail(token)));
      const codes = confirmations.map((outcome) => ('value' in outcome ? 'confirmed' : outcome.code)).sort();
      assert.deepEqual(codes, [...Array<string>(9).fill('400 account.token_invalid'), 'confirmed'].sort());
      const meters = await server.indicia.store.db
        .selectFrom('meters')
        .select('meter_id')
        .where('customer_number', '=', account.customerNumber ?? -1)
        .execute();
      assert.equal(meters.length, 1);
    });

    it('10 wrong passwords at once count as 10 failed sign-ins, and lock the address', async () => {
      const email = 'guessed@example.com';
      await client().register(registration(email));
      const guesses = await outcomes(
        Array.from({ length: 10 }, (_, index) => client().signIn(email, `wrong password ${index}`)),
      );
      assert.ok(
        guesses.every((outcome) => 'code' in outcome && outcome.code === '401 account.sign_in_failed'),
      );
      const row = await server.indicia.store.db
        .selectFrom('accounts')
        .select(['failed_sign_ins', 'locked_until'])
        .where('email', '=', email)
        .executeTakeFirstOrThrow();
      assert.equal(row.failed_sign_ins, 10);
      const [locked] = await outcomes([client().signIn(email, PASSWORD)]);
      assert.deepEqual(locked, { code: '429 account.locked' });
    });
  });
}
