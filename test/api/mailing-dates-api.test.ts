import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };
// A zone far from UTC, so a window taken from the server clock's UTC date would show.
const TIME_ZONE = 'Pacific/Kiritimati';
const DAYS_AHEAD = 2;

/** Today in TIME_ZONE by Intl alone, and whole days after it. */
const today = (): string => new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE }).format(new Date());
const daysAfter = (date: string, days: number): string =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe('mailing dates through the API (INDICIA_MAILING_DATE_DAYS_AHEAD, INDICIA_TIME_ZONE)', () => {
  let server: TestServer;
  let smtp: SmtpSink;
  let fingerprint: string;

  const indiciaOf = async (customerNumber: number): Promise<number> =>
    (
      await server.indicia.store.db
        .selectFrom('indicia')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('customer_number', '=', customerNumber)
        .executeTakeFirstOrThrow()
    ).n;

  const customer = async (email: string, meterMode: 'dedicated' | 'pooled'): Promise<IndiciaClient> => {
    const client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.register(registration(email, { meterMode }));
    const mail = await smtp.waitFor(email, /token=/);
    await client.verifyEmail(/token=([A-Za-z0-9_-]{43})/.exec(mail.text ?? '')?.[1] ?? '');
    await client.signIn(email, PASSWORD);
    await client.enrollDevice('front desk', fingerprint);
    await client.addFunds(50_000, CARD);
    return client;
  };

  const refusedDate = async (call: Promise<unknown>): Promise<void> => {
    const refused = await refusal(call);
    assert.equal(refused.status, 422, refused.message);
    assert.equal(refused.code, 'meter.mailing_date_invalid');
    assert.match(refused.message, new RegExp(`today in ${TIME_ZONE}.*Nothing was charged\\.$`));
    assert.equal(refused.details?.['timeZone'], TIME_ZONE);
  };

  before(async () => {
    assert.ok(sqlite !== undefined);
    smtp = await startSmtpSink();
    server = await startTestServer(sqlite, {
      INDICIA_SMTP_URL: smtp.url,
      INDICIA_MAILING_DATE_DAYS_AHEAD: String(DAYS_AHEAD),
      INDICIA_TIME_ZONE: TIME_ZONE,
    });
    fingerprint = server.indicia.enrollmentKeyFingerprint;
  });
  after(async () => {
    try {
      await server.stop();
    } finally {
      await smtp.close();
    }
  });

  it('refuses a signed POST /v1/indicia dated 1970-01-01, 9999-12-31 or past the window with 422, charging nothing', async () => {
    const ada = await customer('ada@example.com', 'dedicated');
    const { customerNumber } = await ada.account();
    assert.ok(customerNumber !== null);
    const before = await ada.meter();
    for (const mailingDate of [
      '1970-01-01',
      '9999-12-31',
      daysAfter(today(), -1),
      daysAfter(today(), DAYS_AHEAD + 1),
    ])
      await refusedDate(ada.issueIndicia([{ postageMills: 730, rateCategory: 'FC', mailingDate }]));
    // A batch with one bad date is refused whole.
    await refusedDate(
      ada.issueIndicia([
        { postageMills: 730, rateCategory: 'FC' },
        { postageMills: 730, rateCategory: 'FC', mailingDate: '1970-01-01' },
      ]),
    );
    assert.deepEqual(await ada.meter(), before, 'registers and challenge unchanged');
    assert.equal(await indiciaOf(customerNumber), 0);

    // Today and today + N print; the device's challenge was never spent by the refusals.
    const printed = await ada.issueIndicia([
      { postageMills: 730, rateCategory: 'FC' },
      { postageMills: 730, rateCategory: 'FC', mailingDate: today() },
      { postageMills: 730, rateCategory: 'FC', mailingDate: daysAfter(today(), DAYS_AHEAD) },
    ]);
    assert.deepEqual(
      printed.indicia.map((indicium) => decodeIndicium(Buffer.from(indicium.data, 'base64')).date),
      [today(), today(), daysAfter(today(), DAYS_AHEAD)],
    );
    assert.equal(await indiciaOf(customerNumber), 3);

    // A correction is an issuance too: it carries a date in the window.
    const [first] = printed.indicia;
    assert.ok(first !== undefined);
    const challenge = (await ada.meter()).challenge;
    await refusedDate(ada.correctIndicium(first.id, { mailingDate: '1970-01-01' }));
    assert.equal((await ada.meter()).challenge, challenge);
    const redated = await ada.correctIndicium(first.id, { mailingDate: daysAfter(today(), 1) });
    assert.equal(redated.indicium.mailingDate, daysAfter(today(), 1));
  });

  it('refuses out-of-window dates on label sheets and mailing lists, leaving the label and the list as they were', async () => {
    const bob = await customer('bob@example.com', 'dedicated');
    const before = await bob.meter();
    const sheet = await bob.printing.createLabelSheet();
    await refusedDate(
      bob.printing.printOnSheet(sheet.serial, {
        postageMills: 600,
        rateCategory: 'FC',
        mailingDate: '1970-01-01',
      }),
    );
    assert.ok((await bob.printing.labelSheet(sheet.serial)).labels.every((label) => label.state === 'valid'));
    const list = await bob.printing.importMailingList(
      'Name,Street,City,State,ZIP\nAda,1 Main St,Troy,NY,12180\nBob,2 Main St,Troy,NY,12180\n',
      { postageMills: 700 },
    );
    for (const mailingDate of ['1970-01-01', '9999-12-31'])
      await refusedDate(bob.printing.printMailingList(list, { layout: 'label-4x6', mailingDate }));
    assert.equal((await bob.printing.mailingList(list.id)).state, 'review');
    assert.deepEqual(await bob.meter(), before);
    const onSheet = await bob.printing.printOnSheet(sheet.serial, {
      postageMills: 600,
      rateCategory: 'FC',
      mailingDate: daysAfter(today(), DAYS_AHEAD),
    });
    assert.equal(onSheet.label.position, 1, 'the refused print used no label');
    const listed = await bob.printing.printMailingList(list, { layout: 'label-4x6', mailingDate: today() });
    assert.equal(listed.issued.pieces, 2);
  });

  it('refuses a pooled customer before a mini-PSD is checked out or topped up', async () => {
    await server.indicia.pooledMode.setUp('10118');
    await server.indicia.pooledMode.purchase(1_000_000, 'mailing dates test');
    const carol = await customer('carol@example.com', 'pooled');
    const before = { meter: await carol.meter(), pool: await server.indicia.pooledMode.status() };
    for (const mailingDate of ['1970-01-01', '9999-12-31'])
      await refusedDate(carol.issueIndicia([{ postageMills: 730, rateCategory: 'FC', mailingDate }]));
    assert.deepEqual(
      { meter: await carol.meter(), pool: await server.indicia.pooledMode.status() },
      before,
      'balance, client package, master PSD and mini-PSDs unchanged',
    );
    const printed = await carol.issueIndicia([
      { postageMills: 730, rateCategory: 'FC', mailingDate: daysAfter(today(), DAYS_AHEAD) },
    ]);
    assert.equal(printed.indicia[0]?.mailingDate, daysAfter(today(), DAYS_AHEAD));
    const report = await server.indicia.reconciliation.runOnce();
    assert.equal(report.isBalanced, true, JSON.stringify(report.balanceDifferences));
  });
});
