import assert from 'node:assert/strict';
import { X509Certificate, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient, IndiciaClientError, type Receipt } from '../../src/client/index.ts';
import { canonicalJson } from '../../src/encoding/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' };

for (const fixture of dialectFixtures) {
  describe(`signed client protocol and value API on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    let fingerprint: string;

    /** A verified dedicated customer, signed in. */
    const customer = async (
      email: string,
      mode: 'dedicated' | 'pooled' = 'dedicated',
    ): Promise<IndiciaClient> => {
      const client = new IndiciaClient({ baseUrl: url });
      await client.register(registration(email, { meterMode: mode }));
      const mail = await smtp.waitFor(email, /token=/);
      await client.verifyEmail(/token=([A-Za-z0-9_-]{43})/.exec(mail.text ?? '')?.[1] ?? '');
      await client.signIn(email, PASSWORD);
      return client;
    };

    const registers = async (client: IndiciaClient): Promise<[number, number]> => {
      const meter = await client.meter();
      assert.ok(meter.mode === 'dedicated');
      return [meter.ascendingRegisterMills, meter.descendingRegisterMills];
    };

    const verifiesWithCertificate = async (receipt: Receipt): Promise<boolean> => {
      const pem = await new IndiciaClient({ baseUrl: url }).certificate(receipt.certificateSerial);
      const signed = Buffer.from(`indicia/receipt/v1\n${canonicalJson(receipt.body)}`);
      return verify(
        'sha256',
        signed,
        { key: new X509Certificate(pem).publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(receipt.signature, 'base64'),
      );
    };

    before(async () => {
      smtp = await startSmtpSink();
      // The seed's spoilage cap (credited at once) is this suite's plan; test/api/refunds-api.test.ts
      // drives the default review window.
      server = await startTestServer(fixture, {
        INDICIA_SMTP_URL: smtp.url,
        INDICIA_DEFAULT_PRICING_PLAN: 'spoilage-cap',
      });
      url = server.indicia.url;
      // The fingerprint an operator hands out of band, as it would be pinned in a client.
      fingerprint = (await server.indicia.meters.enrollmentKey()).fingerprint;
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await smtp.close();
      }
    });

    it('enrolls a device, funds by sandbox card and prints, each answer with a receipt the meter key signed', async () => {
      const ada = await customer('ada@example.com');
      const device = await ada.enrollDevice('test laptop', fingerprint);
      assert.equal(device.ascendingRegister, 0);
      const enrolled = await ada.meter();
      assert.ok(enrolled.mode === 'dedicated' && enrolled.deviceEnrolled);

      const funded = await ada.addFunds(20_000, CARD);
      assert.equal(funded.payment.processor, 'sandbox');
      assert.equal(funded.payment.last4, '4242');
      assert.deepEqual(funded.registers, { ascendingRegisterMills: 0, descendingRegisterMills: 20_000 });
      assert.equal(funded.receipt.body.kind, 'funds');
      assert.equal(funded.receipt.body.amountMills, 20_000);
      assert.ok(await verifiesWithCertificate(funded.receipt));

      const printed = await ada.issueIndicia([
        { postageMills: 730, rateCategory: 'FC' },
        { postageMills: 730, rateCategory: 'FC' },
        { postageMills: 1_500, rateCategory: 'PM', originZip: '10001' },
      ]);
      assert.equal(printed.indicia.length, 3);
      assert.deepEqual(printed.registers, { ascendingRegisterMills: 2_960, descendingRegisterMills: 17_040 });
      assert.equal(printed.receipt.body.pieces, 3);
      assert.equal(printed.receipt.body.amountMills, 2_960);
      assert.equal(printed.receipt.body.sequence, funded.receipt.body.sequence + 1);
      assert.ok(await verifiesWithCertificate(printed.receipt));
      assert.deepEqual(await ada.receipt(printed.receipt.id), printed.receipt);
      assert.deepEqual(await registers(ada), [2_960, 17_040]);

      // Another customer cannot read it.
      const bob = await customer('bob@example.com');
      assert.equal((await refusal(bob.receipt(printed.receipt.id))).status, 404);
    });

    it('refuses replays, tampering, stale challenges and register mismatches, moving nothing', async () => {
      const carol = await customer('carol@example.com');
      const device = await carol.enrollDevice('till', fingerprint);
      await carol.addFunds(10_000, CARD);
      const before = await registers(carol);

      // A replay: the exact headers and body of a request the module already accepted.
      const body = { pieces: [{ postageMills: 500, rateCategory: 'FC' }] };
      const headers = await device.headers('POST', '/v1/indicia', body);
      await carol.request('POST', '/v1/indicia', body, headers);
      const afterFirst = await registers(carol);
      assert.deepEqual(afterFirst, [before[0] + 500, before[1] - 500]);
      const replayed = await refusal(carol.request('POST', '/v1/indicia', body, headers));
      assert.equal(replayed.status, 409);
      assert.equal(replayed.code, 'psd.stale_challenge');
      assert.deepEqual(await registers(carol), afterFirst);

      // Tampering: signed for 500 mills, sent for 50.
      await carol.syncDevice();
      const signedFor = await device.headers('POST', '/v1/indicia', body);
      const tampered = await refusal(
        carol.request(
          'POST',
          '/v1/indicia',
          { pieces: [{ postageMills: 50, rateCategory: 'FC' }] },
          signedFor,
        ),
      );
      assert.equal(tampered.status, 401);
      assert.equal(tampered.code, 'psd.client_unauthenticated');
      const forged = await refusal(
        carol.request('POST', '/v1/indicia', body, {
          ...signedFor,
          'indicia-signature': Buffer.alloc(32, 7).toString('base64'),
        }),
      );
      assert.equal(forged.code, 'psd.client_unauthenticated');
      assert.deepEqual(await registers(carol), afterFirst);

      // The device's registers disagree with the meter's.
      device.ascendingRegister += 1;
      const mismatch = await refusal(carol.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]));
      assert.equal(mismatch.status, 409);
      assert.equal(mismatch.code, 'psd.register_mismatch');
      assert.deepEqual(await registers(carol), afterFirst);

      // Unsigned and malformed: refused before the module.
      const unsigned = await refusal(carol.request('POST', '/v1/indicia', body));
      assert.equal(unsigned.status, 401);
      assert.equal(unsigned.code, 'request.unsigned');
      const malformed = await refusal(
        carol.request('POST', '/v1/indicia', body, { ...signedFor, 'indicia-registers': 'lots' }),
      );
      assert.equal(malformed.code, 'request.unsigned');

      // After resynchronizing, the device works again.
      await carol.syncDevice();
      await carol.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
      assert.deepEqual(await registers(carol), [afterFirst[0] + 500, afterFirst[1] - 500]);
    });

    it('refuses an enrollment to an unpinned key, or one whose HMK does not decrypt', async () => {
      const dave = await customer('dave@example.com');
      await assert.rejects(
        dave.enrollDevice('laptop', 'ab'.repeat(32)),
        (error: unknown) =>
          error instanceof IndiciaClientError &&
          error.code === 'client.enrollment_key_not_pinned' &&
          error.message.includes(`has fingerprint ${fingerprint}, not the pinned ${'ab'.repeat(32)}`),
      );
      const key = await dave.enrollmentKey();
      assert.equal(key.fingerprint, fingerprint);
      const bad = await refusal(
        dave.request('POST', '/v1/devices', {
          name: 'laptop',
          ephemeralPublicKey: Buffer.alloc(91, 1).toString('base64'),
          clientChallenge: Buffer.alloc(32, 2).toString('base64'),
          iv: Buffer.alloc(12, 3).toString('base64'),
          encryptedHmk: Buffer.alloc(48, 4).toString('base64'),
        }),
      );
      assert.equal(bad.status, 400);
      assert.equal(bad.code, 'vault.enrollment_invalid');
      const meter = await dave.meter();
      assert.ok(meter.mode === 'dedicated' && !meter.deviceEnrolled);
    });

    it('moves nothing when the card is declined, the processor fails, or the meter refuses the amount', async () => {
      const erin = await customer('erin@example.com');
      await erin.enrollDevice('desk', fingerprint);
      const declined = await refusal(erin.addFunds(10_000, { ...CARD, number: '4000000000000002' }));
      assert.equal(declined.status, 402);
      assert.equal(declined.code, 'payment.declined');
      const failed = await refusal(erin.addFunds(10_000, { ...CARD, number: '4000000000000119' }));
      assert.equal(failed.status, 502);
      assert.equal(failed.code, 'payment.failed');
      const expired = await refusal(erin.addFunds(10_000, { ...CARD, expYear: 2020 }));
      assert.equal(expired.code, 'payment.card_invalid');
      const unknownCard = await refusal(erin.addFunds(10_000, { ...CARD, number: '4111 1111 1111 1111' }));
      assert.equal(unknownCard.code, 'payment.declined');
      assert.match(unknownCard.message, /sandbox/);
      const tooMuch = await refusal(erin.addFunds(5_000_001, CARD));
      assert.equal(tooMuch.status, 422);
      assert.equal(tooMuch.code, 'psd.max_dr_exceeded');
      assert.deepEqual(await registers(erin), [0, 0]);
      const payments = await server.indicia.store.db
        .selectFrom('card_payments')
        .innerJoin('accounts', 'accounts.id', 'card_payments.account_id')
        .select(['card_payments.outcome'])
        .where('accounts.email', '=', 'erin@example.com')
        .execute();
      assert.deepEqual(payments.map((payment) => payment.outcome).sort(), ['declined', 'declined', 'failed']);
    });

    it('lists and reads indicia, refunds a spoiled one, corrects one, and lets a verifier scan them', async () => {
      const gina = await customer('gina@example.com');
      await gina.enrollDevice('office', fingerprint);
      await gina.addFunds(100_000, CARD);
      const { indicia } = await gina.issueIndicia([
        { postageMills: 80_000, rateCategory: 'PM' },
        { postageMills: 500, rateCategory: 'FC' },
        { postageMills: 500, rateCategory: 'FC' },
      ]);
      const [big, spoiled, underpaid] = indicia;
      assert.ok(big !== undefined && spoiled !== undefined && underpaid !== undefined);

      const first = await gina.indicia({ limit: 2 });
      assert.deepEqual(
        first.indicia.map((indicium) => indicium.id),
        [underpaid.id, spoiled.id],
      );
      assert.ok(first.nextCursor !== null);
      const second = await gina.indicia({ limit: 2, cursor: first.nextCursor });
      assert.deepEqual(
        second.indicia.map((indicium) => indicium.id),
        [big.id],
      );
      assert.equal(second.nextCursor, null);
      assert.equal((await gina.indicium(big.id)).data, big.data);

      const refunded = await gina.refundIndicium(spoiled.id);
      assert.ok('refund' in refunded, 'the spoilage-cap plan credits at once');
      assert.equal(refunded.refundRequest.status, 'approved');
      assert.equal(refunded.refund.amountMills, 500);
      assert.equal(refunded.receipt.body.kind, 'refund');
      assert.ok(await verifiesWithCertificate(refunded.receipt));
      assert.equal((await gina.indicium(spoiled.id)).status, 'refunded');
      const again = await refusal(gina.refundIndicium(spoiled.id));
      assert.equal(again.status, 409);
      assert.deepEqual(await registers(gina), [81_000, 19_000]);

      const corrected = await gina.correctIndicium(underpaid.id, { postageMills: 600 });
      assert.equal(corrected.indicium.postageMills, 100);
      assert.equal(corrected.receipt.body.kind, 'correction');
      assert.equal((await gina.indicium(underpaid.id)).status, 'corrected');
      assert.deepEqual(await registers(gina), [81_100, 18_900]);

      // Someone else's indicium is unknown to this customer.
      const harry = await customer('harry@example.com');
      assert.equal((await refusal(harry.indicium(big.id))).status, 404);
      assert.equal((await refusal(harry.verify(big.data))).code, 'account.forbidden');

      await server.indicia.accounts.createStaffAccount({
        email: 'inspector@example.com',
        name: 'Postal Inspector',
        role: 'auditor',
        password: PASSWORD,
      });
      const inspector = new IndiciaClient({ baseUrl: url });
      await inspector.signIn('inspector@example.com', PASSWORD);
      // A read-only account does not record scans: it checks, and the customer's piece stays unseen.
      assert.equal((await refusal(inspector.verify(big.data))).code, 'account.forbidden');
      assert.deepEqual(
        [
          (await inspector.verification.check(big.data)).genuine,
          (await inspector.verification.check(big.data)).seenBefore,
        ],
        [true, false],
      );
      await server.indicia.accounts.createStaffAccount({
        email: 'scanner@example.com',
        name: 'Post office scanner',
        role: 'verifier',
        password: PASSWORD,
      });
      const scanner = new IndiciaClient({ baseUrl: url });
      await scanner.signIn('scanner@example.com', PASSWORD);
      assert.equal((await scanner.verify(big.data)).outcome, 'valid');
      assert.equal((await inspector.indicium(big.id)).id, big.id);
    });

    it('lets a pooled customer enroll, deposit, print, refund and correct, the client package mirroring the balance', async () => {
      await server.indicia.pooledMode.setUp('10118').catch(() => undefined);
      await server.indicia.pooledMode.purchase(2_000_000, 'pooled API test');
      const frank = await customer('frank@example.com', 'pooled');
      const before = await frank.meter();
      assert.ok(before.mode === 'pooled');
      assert.deepEqual(
        [before.balanceMills, before.descendingRegisterMills, before.deviceEnrolled],
        [0, 0, false],
      );
      await frank.enrollDevice('shop PC', fingerprint);

      const funded = await frank.addFunds(100_000, CARD);
      assert.equal(funded.receipt.body.meterId, `CLIENT-${before.customerNumber}`);
      assert.deepEqual(funded.registers, { ascendingRegisterMills: 0, descendingRegisterMills: 100_000 });
      assert.ok(await verifiesWithCertificate(funded.receipt));

      const printed = await frank.issueIndicia([
        { postageMills: 80_000, rateCategory: 'PM' },
        { postageMills: 500, rateCategory: 'FC' },
        { postageMills: 500, rateCategory: 'FC' },
      ]);
      assert.equal(printed.indicia.length, 3);
      assert.notEqual(
        printed.indicia[0]?.meterId,
        `CLIENT-${before.customerNumber}`,
        'printed by a mini-PSD',
      );
      assert.deepEqual(printed.registers, {
        ascendingRegisterMills: 81_000,
        descendingRegisterMills: 19_000,
      });
      assert.ok(await verifiesWithCertificate(printed.receipt));
      assert.equal(printed.receipt.body.pieces, 3);

      const [, spoiled, underpaid] = printed.indicia;
      assert.ok(spoiled !== undefined && underpaid !== undefined);
      const refunded = await frank.refundIndicium(spoiled.id);
      assert.ok('refund' in refunded, 'the spoilage-cap plan credits at once');
      assert.deepEqual(refunded.registers, {
        ascendingRegisterMills: 81_000,
        descendingRegisterMills: 19_500,
      });
      assert.ok(await verifiesWithCertificate(refunded.receipt));
      const corrected = await frank.correctIndicium(underpaid.id, { postageMills: 600 });
      assert.equal(corrected.indicium.postageMills, 100);
      assert.deepEqual(corrected.registers, {
        ascendingRegisterMills: 81_100,
        descendingRegisterMills: 19_400,
      });

      const after = await frank.meter();
      assert.ok(after.mode === 'pooled');
      assert.equal(after.balanceMills, 19_400);
      assert.equal(after.descendingRegisterMills, 19_400);

      // A replay against the client package is refused like a dedicated meter's.
      const device = frank.device;
      assert.ok(device !== undefined);
      const body = { pieces: [{ postageMills: 100, rateCategory: 'FC' }] };
      const headers = await device.headers('POST', '/v1/indicia', body);
      await frank.request('POST', '/v1/indicia', body, headers);
      assert.equal(
        (await refusal(frank.request('POST', '/v1/indicia', body, headers))).code,
        'psd.stale_challenge',
      );
      await frank.syncDevice();

      // A mailing list from the pool: one batch on a mini-PSD, the balance and its mirror moved once.
      const list = await frank.printing.importMailingList(
        'Name,Street,City,State,ZIP\nAda,1 Main St,Troy,NY,12180\nBob,2 Main St,Troy,NY,12180\n',
        { postageMills: 700 },
      );
      const listed = await frank.printing.printMailingList(list, { layout: 'label-4x6' });
      assert.equal(listed.issued.pieces, 2);
      assert.equal(listed.receipt.body.meterId, `CLIENT-${before.customerNumber}`);
      assert.deepEqual(listed.registers, { ascendingRegisterMills: 82_600, descendingRegisterMills: 17_900 });
      assert.equal((await frank.printing.waitForPdf(list.id)).progress.pagesDone, 2);
      const balance = await frank.meter();
      assert.ok(balance.mode === 'pooled');
      assert.equal(balance.balanceMills, 17_900);

      const report = await server.indicia.reconciliation.runOnce();
      assert.equal(report.isBalanced, true, JSON.stringify(report.balanceDifferences));
    });
  });
}
