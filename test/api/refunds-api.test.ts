import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' };
const DAY_MS = 86_400_000;

for (const fixture of dialectFixtures) {
  describe(`refunds by pricing plan on ${fixture.name}`, () => {
    let server: TestServer;
    let smtp: SmtpSink;
    let url: string;
    let fingerprint: string;
    let support: IndiciaClient;
    let admin: IndiciaClient;

    /** A brand-new verified customer with a device, funded, signed in. */
    const customer = async (
      email: string,
      mode: 'dedicated' | 'pooled' = 'dedicated',
    ): Promise<IndiciaClient> => {
      const client = new IndiciaClient({ baseUrl: url });
      await client.register(registration(email, { meterMode: mode }));
      const mail = await smtp.waitFor(email, /token=/);
      await client.verifyEmail(/token=([A-Za-z0-9_-]{43})/.exec(mail.text ?? '')?.[1] ?? '');
      await client.signIn(email, PASSWORD);
      await client.enrollDevice('packing station', fingerprint);
      await client.addFunds(10_000, CARD);
      return client;
    };

    const staff = async (email: string, role: 'support' | 'admin' | 'auditor' | 'verifier') => {
      await server.indicia.accounts.createStaffAccount({ email, name: email, role, password: PASSWORD });
      const client = new IndiciaClient({ baseUrl: url });
      await client.signIn(email, PASSWORD);
      return client;
    };

    /** AR, DR and refund register of a dedicated customer's meter. */
    const registers = async (client: IndiciaClient): Promise<[number, number, number]> => {
      const meter = await client.meter();
      assert.ok(meter.mode === 'dedicated');
      return [meter.ascendingRegisterMills, meter.descendingRegisterMills, meter.refundRegisterMills];
    };

    const printOne = async (client: IndiciaClient, postageMills = 730) => {
      const { indicia } = await client.issueIndicia([{ postageMills, rateCategory: 'FC' }]);
      const [piece] = indicia;
      assert.ok(piece !== undefined);
      return piece;
    };

    const pendingFor = async (client: IndiciaClient, indiciumId: string) => {
      const answer = await client.refundIndicium(indiciumId);
      assert.ok(!('refund' in answer), 'the review window credits nothing at once');
      assert.equal(answer.refundRequest.status, 'pending');
      return answer.refundRequest;
    };

    const decisionsSent = async (indiciumId: string) =>
      (
        await server.indicia.store.db
          .selectFrom('webhook_deliveries')
          .select('payload')
          .where('event', '=', 'refund.decided')
          .execute()
      )
        .map((row) => JSON.parse(row.payload) as { data: Record<string, unknown> })
        .filter((event) => event.data['indiciumId'] === indiciumId)
        .map((event) => event.data);

    before(async () => {
      smtp = await startSmtpSink();
      server = await startTestServer(fixture, { INDICIA_SMTP_URL: smtp.url });
      url = server.indicia.url;
      fingerprint = (await server.indicia.meters.enrollmentKey()).fingerprint;
      support = await staff('support@example.com', 'support');
      admin = await staff('admin@example.com', 'admin');
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await smtp.close();
      }
    });

    it('refunds a brand-new customer’s first misprinted label: pending, approved by staff, credited once', async () => {
      const ada = await customer('ada@example.com');
      await ada.createWebhook('https://hooks.example.com/indicia', ['refund.decided']);
      const policy = await ada.refunds.policy();
      assert.deepEqual(
        [policy.plan, policy.isDefaultPlan, policy.policy],
        ['standard', true, { kind: 'review-window', days: 60 }],
      );
      assert.match(policy.description, /60 days/);

      const misprint = await printOne(ada);
      const pending = await pendingFor(ada, misprint.id);
      assert.equal(pending.amountMills, 730);
      assert.deepEqual(await registers(ada), [730, 9_270, 0], 'nothing credited while pending');
      assert.equal((await ada.indicium(misprint.id)).status, 'valid');
      // The device's challenge was not used: it signs the next request as before.
      await printOne(ada, 500);
      assert.deepEqual(await registers(ada), [1_230, 8_770, 0]);

      const correction = await refusal(ada.correctIndicium(misprint.id, { postageMills: 900 }));
      assert.deepEqual([correction.status, correction.code], [409, 'meter.refund_already_requested']);
      const again = await refusal(ada.refundIndicium(misprint.id));
      assert.deepEqual([again.status, again.code], [409, 'meter.refund_already_requested']);
      assert.deepEqual(
        (await ada.refunds.mine()).refundRequests.map((request) => [request.id, request.status]),
        [[pending.id, 'pending']],
      );

      const queue = await support.refunds.list({ status: 'pending' });
      assert.ok(queue.refundRequests.some((request) => request.id === pending.id));
      const approved = await support.refunds.decide(pending.id, 'approve', 'misprint, confirmed');
      assert.equal(approved.refundRequest.status, 'approved');
      assert.equal(approved.refundRequest.decidedBy, 'support@example.com');
      const { refund } = approved;
      assert.ok(refund !== null);
      assert.equal(refund.amountMills, 730);
      assert.ok(refund.receiptId !== null, 'a receipt signed by the meter key');
      assert.deepEqual(await registers(ada), [1_230, 8_770, 730], 'the refund register moved by the postage');
      assert.equal((await ada.indicium(misprint.id)).status, 'refunded');
      assert.equal((await ada.refunds.get(pending.id)).refundId, refund.id);

      const twice = await refusal(support.refunds.decide(pending.id, 'approve'));
      assert.deepEqual([twice.status, twice.code], [409, 'meter.refund_request_decided']);
      const denyAfter = await refusal(admin.refunds.decide(pending.id, 'deny'));
      assert.equal(denyAfter.code, 'meter.refund_request_decided');
      assert.deepEqual(await registers(ada), [1_230, 8_770, 730], 'credited exactly once');
      const refunds = await server.indicia.store.db
        .selectFrom('refunds')
        .select('amount_mills')
        .where('indicium_id', '=', misprint.id)
        .execute();
      assert.deepEqual(
        refunds.map((row) => row.amount_mills),
        [730],
      );
      const sent = await decisionsSent(misprint.id);
      assert.deepEqual(
        sent.map((data) => [data['decision'], data['amountMills'], data['refundRequestId']]),
        [['refunded', 730, pending.id]],
      );
      const reconciled = await admin.reconcile();
      assert.ok(reconciled.isBalanced, JSON.stringify(reconciled));
    });

    it('denies a request without moving anything, and the piece is not asked for again', async () => {
      const bea = await customer('bea@example.com');
      await bea.createWebhook('https://hooks.example.com/indicia', ['refund.decided']);
      const piece = await printOne(bea);
      const pending = await pendingFor(bea, piece.id);
      const denied = await admin.refunds.decide(pending.id, 'deny', 'the piece was mailed');
      assert.deepEqual(
        [denied.refundRequest.status, denied.refundRequest.decisionNote, denied.refund],
        ['denied', 'the piece was mailed', null],
      );
      assert.deepEqual(await registers(bea), [730, 9_270, 0]);
      assert.equal((await bea.indicium(piece.id)).status, 'valid');
      assert.equal((await refusal(bea.refundIndicium(piece.id))).code, 'meter.refund_already_requested');
      assert.deepEqual(
        (await decisionsSent(piece.id)).map((data) => [data['decision'], data['amountMills']]),
        [['denied', 0]],
      );
    });

    it('decides a request once when staff decide it concurrently: one credit or none, never two', async () => {
      const rita = await customer('rita@example.com');
      for (const round of [0, 1, 2]) {
        const piece = await printOne(rita, 100);
        const pending = await pendingFor(rita, piece.id);
        const before = await registers(rita);
        // Two approvals by support and one by an admin race a denial.
        const decisions = await Promise.allSettled([
          support.refunds.decide(pending.id, 'approve'),
          admin.refunds.decide(pending.id, 'approve'),
          support.refunds.decide(pending.id, 'approve'),
          admin.refunds.decide(pending.id, 'deny'),
        ]);
        const won = decisions.flatMap((decision) =>
          decision.status === 'fulfilled' ? [decision.value] : [],
        );
        assert.equal(won.length, 1, `round ${round}: exactly one decision`);
        for (const decision of decisions)
          if (decision.status === 'rejected') {
            // A loser that read the request before the winner's commit finds the piece refunded.
            const error = decision.reason as { status: number; code: string };
            assert.equal(error.status, 409);
            assert.ok(
              ['meter.refund_request_decided', 'meter.indicium_not_valid'].includes(error.code),
              error.code,
            );
          }
        const credited = won[0]?.refundRequest.status === 'approved' ? 100 : 0;
        assert.deepEqual(
          await registers(rita),
          [before[0], before[1], before[2] + credited],
          `round ${round}`,
        );
        const rows = await server.indicia.store.db
          .selectFrom('refunds')
          .select('amount_mills')
          .where('indicium_id', '=', piece.id)
          .execute();
        assert.deepEqual(
          rows.map((row) => row.amount_mills),
          credited === 0 ? [] : [100],
        );
      }
      assert.ok((await admin.reconcile()).isBalanced);
    });

    it('refuses a piece outside the window, a scanned piece, and someone else’s piece', async () => {
      const cal = await customer('cal@example.com');
      const old = await printOne(cal);
      const printedLongAgo = new Date(Date.now() - 61 * DAY_MS).toISOString();
      await server.indicia.store.db
        .updateTable('indicia')
        .set({ created_at: printedLongAgo })
        .where('id', '=', old.id)
        .execute();
      const late = await refusal(cal.refundIndicium(old.id));
      assert.deepEqual([late.status, late.code], [422, 'meter.refund_window_closed']);
      assert.match(late.message, /within 60 days/);

      const verifier = await staff('scanner@example.com', 'verifier');
      const mailed = await printOne(cal);
      assert.equal((await verifier.verify(mailed.data)).outcome, 'valid');
      const used = await refusal(cal.refundIndicium(mailed.id));
      assert.deepEqual([used.status, used.code], [422, 'meter.piece_used']);

      // Scanned after it was asked for: approval is refused, denial is the way out.
      const later = await printOne(cal);
      const pending = await pendingFor(cal, later.id);
      await verifier.verify(later.data);
      const approval = await refusal(support.refunds.decide(pending.id, 'approve'));
      assert.deepEqual([approval.status, approval.code], [422, 'meter.piece_used']);
      assert.equal((await support.refunds.decide(pending.id, 'deny')).refundRequest.status, 'denied');
      assert.deepEqual(await registers(cal), [2_190, 7_810, 0]);
      const rows = await server.indicia.store.db
        .selectFrom('refund_requests')
        .select('indicium_id')
        .execute();
      assert.ok(!rows.some((row) => row.indicium_id === old.id || row.indicium_id === mailed.id));

      const dan = await customer('dan@example.com');
      assert.equal((await refusal(dan.refundIndicium(later.id))).status, 404);
      assert.equal((await refusal(dan.refunds.get(pending.id))).code, 'meter.refund_request_not_found');
    });

    it('keeps the seed’s spoilage cap as a plan: credited at once within 1%, refused above it', async () => {
      const eve = await customer('eve@example.com');
      const { customerNumber } = await eve.meter();
      const onCap = await admin.refunds.setPlan(customerNumber, 'spoilage-cap');
      assert.deepEqual(onCap.policy, { kind: 'spoilage-cap', percent: 1 });
      assert.deepEqual((await eve.refunds.policy()).policy, { kind: 'spoilage-cap', percent: 1 });

      const first = await printOne(eve);
      const capped = await refusal(eve.refundIndicium(first.id));
      assert.deepEqual([capped.status, capped.code], [422, 'meter.refund_limit']);
      assert.deepEqual(await registers(eve), [730, 9_270, 0]);
      assert.equal((await eve.refunds.mine()).refundRequests.length, 0, 'a refused request is not recorded');

      // 1% of the $8.75 printed ($0.73 + $8.00 + $0.02) is 87 mills: it covers the 20-mill piece.
      await printOne(eve, 8_000);
      const small = await printOne(eve, 20);
      const credited = await eve.refundIndicium(small.id);
      assert.ok('refund' in credited);
      assert.deepEqual(
        [credited.refund.amountMills, credited.refundRequest.status, credited.refundRequest.decidedBy],
        [20, 'approved', 'policy:spoilage-cap'],
      );
      assert.deepEqual(await registers(eve), [8_750, 1_250, 20]);
      assert.equal((await refusal(eve.refundIndicium(small.id))).code, 'meter.refund_already_requested');

      assert.equal((await admin.refunds.setPlan(customerNumber, null)).plan, 'standard');
      const plans = await support.refunds.pricingPlans();
      assert.equal(plans.defaultPlan, 'standard');
      assert.deepEqual(plans.plans.map((plan) => plan.name).sort(), ['spoilage-cap', 'standard']);
    });

    it('answers bad input and the wrong caller with clear errors', async () => {
      const fay = await customer('fay@example.com');
      const piece = await printOne(fay);
      const pending = await pendingFor(fay, piece.id);
      const { customerNumber } = await fay.meter();

      const badDecision = await refusal(
        admin.request('POST', `/v1/admin/refund-requests/${pending.id}/decision`, { decision: 'maybe' }),
      );
      assert.deepEqual([badDecision.status, badDecision.code], [400, 'request.invalid']);
      const badId = await refusal(support.refunds.decide('not-a-request', 'approve'));
      assert.deepEqual([badId.status, badId.code], [400, 'request.invalid']);
      const unknown = await refusal(
        support.refunds.decide('rfq_00000000-0000-4000-8000-000000000000', 'deny'),
      );
      assert.deepEqual([unknown.status, unknown.code], [404, 'meter.refund_request_not_found']);
      const badPlan = await refusal(admin.refunds.setPlan(customerNumber, 'gold'));
      assert.deepEqual([badPlan.status, badPlan.code], [422, 'meter.pricing_plan_unknown']);
      assert.match(badPlan.message, /spoilage-cap, standard|standard, spoilage-cap/);
      const noCustomer = await refusal(admin.refunds.setPlan(999_999, 'standard'));
      assert.deepEqual([noCustomer.status, noCustomer.code], [404, 'meter.not_found']);
      const badStatus = await refusal(support.request('GET', '/v1/admin/refund-requests?status=lost'));
      assert.equal(badStatus.status, 400);
      const unknownPiece = await refusal(fay.refundIndicium('ind_00000000-0000-7000-8000-000000000000'));
      assert.equal(unknownPiece.code, 'meter.indicium_not_found');

      assert.equal((await refusal(fay.refunds.decide(pending.id, 'approve'))).code, 'account.forbidden');
      assert.equal((await refusal(fay.refunds.list())).code, 'account.forbidden');
      const auditor = await staff('auditor@example.com', 'auditor');
      assert.equal((await auditor.refunds.list({ status: 'pending' })).refundRequests.length > 0, true);
      assert.equal((await refusal(auditor.refunds.decide(pending.id, 'approve'))).code, 'account.forbidden');
      assert.equal((await refusal(support.refunds.setPlan(customerNumber, null))).code, 'account.forbidden');
      assert.deepEqual(await registers(fay), [730, 9_270, 0]);
      assert.equal((await fay.refunds.get(pending.id)).status, 'pending');
    });

    it('credits a pooled customer’s balance and client package on approval', async () => {
      await server.indicia.pooledMode.setUp('10118').catch(() => undefined);
      await server.indicia.pooledMode.purchase(2_000_000, 'refunds API test');
      const gus = await customer('gus@example.com', 'pooled');
      const piece = await printOne(gus);
      const pending = await pendingFor(gus, piece.id);
      const before = await gus.meter();
      assert.ok(before.mode === 'pooled');
      assert.deepEqual([before.balanceMills, before.descendingRegisterMills], [9_270, 9_270]);
      const approved = await support.refunds.decide(pending.id, 'approve');
      assert.equal(approved.refund?.amountMills, 730);
      const after = await gus.meter();
      assert.ok(after.mode === 'pooled');
      assert.deepEqual([after.balanceMills, after.descendingRegisterMills], [10_000, 10_000]);
      // The device's own copy of the registers is the one last reported to it: it prints on.
      await printOne(gus, 500);
      assert.equal(((await gus.meter()) as { balanceMills: number }).balanceMills, 9_500);
      const reconciled = await admin.reconcile();
      assert.ok(reconciled.isBalanced, JSON.stringify(reconciled));
    });
  });
}
