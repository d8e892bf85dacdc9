import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient, type WebhookDelivery } from '../../src/client/index.ts';
import { Value } from 'typebox/value';
import type { WebhookEvent } from '../../src/store/index.ts';
import {
  WEBHOOK_EVENTS,
  isPrivateAddress,
  refusedTarget,
  webhookEventSchema,
} from '../../src/webhooks/index.ts';
import { PASSWORD, refusal, registration } from '../support/api-helpers.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';

const CARD = { number: '4242424242424242', expMonth: 6, expYear: 2099, cvc: '321' };

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback receiver: answers each path with the statuses given (then 200), keeping what it got. */
async function startReceiver(answers: Record<string, number[]>) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      received.push({ path: request.url ?? '', headers: request.headers, body });
      response.statusCode = answers[request.url ?? '']?.shift() ?? 200;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface DeliveredEvent {
  id: string;
  type: WebhookEvent;
  createdAt: string;
  data: Record<string, unknown>;
}

/** A delivered body, checked against the catalogue's schema of its event type. */
function validEvent(body: string): DeliveredEvent {
  const event = JSON.parse(body) as DeliveredEvent;
  assert.ok(WEBHOOK_EVENTS.includes(event.type), `unknown event type ${event.type}`);
  const schema = webhookEventSchema(event.type);
  const errors = [...Value.Errors(schema, event)].map((error) => `${error.instancePath} ${error.message}`);
  assert.deepEqual(errors, [], `${event.type} does not match its catalogue schema`);
  return event;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const fixture of dialectFixtures) {
  describe(`webhooks on ${fixture.name}`, () => {
    let server: TestServer;
    let customer: IndiciaClient;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let smtp: SmtpSink;

    before(async () => {
      receiver = await startReceiver({ '/flaky': [500] });
      smtp = await startSmtpSink();
      server = await startTestServer(fixture, {
        INDICIA_SMTP_URL: smtp.url,
        INDICIA_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        INDICIA_WEBHOOK_RETRY_SCHEDULE: '1,1',
        // Refunds credited at once (the seed's spoilage cap); refunds-api.test.ts reviews them.
        INDICIA_DEFAULT_PRICING_PLAN: 'spoilage-cap',
      });
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      customer = new IndiciaClient({ baseUrl: server.indicia.url });
      await customer.signIn(demo.email, demo.password);
      await customer.enrollDevice('webhook tests', (await server.indicia.meters.enrollmentKey()).fingerprint);
    });
    after(async () => {
      try {
        await server.stop();
      } finally {
        await receiver.close();
        await smtp.close();
      }
    });

    it('delivers every event naming the ids it is about, signed, each body valid under its catalogue schema', async () => {
      const { webhook, secret } = await customer.createWebhook(receiver.url('/hooks'), [
        'funds.posted',
        'indicium.issued',
        'balance.low',
        'refund.decided',
      ]);
      assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.equal(webhook.secretHint, secret.slice(-4));
      const funded = await customer.addFunds(12_000, CARD);
      const printed = await customer.issueIndicia([
        { postageMills: 3_000, rateCategory: 'PM' },
        { postageMills: 20, rateCategory: 'FC' },
      ]);
      const [big, spoiled] = printed.indicia;
      assert.ok(big !== undefined && spoiled !== undefined);
      const refunded = await customer.refundIndicium(spoiled.id);
      assert.ok('refund' in refunded, 'the spoilage-cap plan credits at once');
      const corrected = await customer.correctIndicium(big.id, { postageMills: 3_010 });
      const deliveries = await until(
        () => customer.webhookDeliveries(webhook.id),
        (list) => list.length === 6 && list.every((delivery) => delivery.status === 'delivered'),
      );
      assert.deepEqual(deliveries.map((delivery) => delivery.event).sort(), [
        'balance.low',
        'balance.low',
        'funds.posted',
        'indicium.issued',
        'indicium.issued',
        'refund.decided',
      ]);
      const posts = receiver.received.filter((entry) => entry.path === '/hooks');
      assert.equal(posts.length, 6);
      const events: DeliveredEvent[] = [];
      for (const post of posts) {
        const timestamp = String(post.headers['indicia-webhook-timestamp']);
        const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${post.body}`).digest('hex')}`;
        assert.equal(post.headers['indicia-webhook-signature'], expected);
        const event = validEvent(post.body);
        assert.equal(post.headers['indicia-webhook-id'], event.id);
        events.push(event);
      }
      const data = (type: string, index = 0) => events.filter((event) => event.type === type)[index]?.data;
      const receiptOf = (answer: { receipt: { id: string; body: { sequence: number } } }) => ({
        id: answer.receipt.id,
        sequence: answer.receipt.body.sequence,
      });
      assert.deepEqual(data('funds.posted'), {
        fundingId: funded.funding.id,
        receipt: receiptOf(funded),
        meterId: funded.receipt.body.meterId,
        amountMills: 12_000,
        processor: 'sandbox',
        ascendingRegisterMills: 0,
        descendingRegisterMills: 12_000,
      });
      assert.deepEqual(data('indicium.issued'), {
        receipt: receiptOf(printed),
        meterId: big.meterId,
        pieces: 2,
        totalPostageMills: 3_020,
        indicia: printed.indicia.map((indicium) => ({
          id: indicium.id,
          postageMills: indicium.postageMills,
          mailingDate: indicium.mailingDate,
        })),
        part: 1,
        parts: 1,
        ascendingRegisterMills: 3_020,
        descendingRegisterMills: 8_980,
      });
      assert.deepEqual(data('refund.decided'), {
        refundRequestId: refunded.refundRequest.id,
        refundId: refunded.refund.id,
        indiciumId: spoiled.id,
        decision: 'refunded',
        amountMills: 20,
        meterId: big.meterId,
        receipt: receiptOf(refunded),
        note: null,
      });
      const correction = data('indicium.issued', 1);
      assert.ok(correction !== undefined);
      assert.equal(correction['correctsIndiciumId'], big.id);
      assert.deepEqual(correction['indicia'], [
        { id: corrected.indicium.id, postageMills: 10, mailingDate: corrected.indicium.mailingDate },
      ]);
      assert.deepEqual(correction['receipt'], receiptOf(corrected));
      assert.deepEqual(data('balance.low'), {
        meterId: big.meterId,
        thresholdMills: 10_000,
        ascendingRegisterMills: 3_020,
        descendingRegisterMills: 8_980,
      });
      assert.equal(data('balance.low', 1)?.['descendingRegisterMills'], 8_970);
      await customer.deleteWebhook(webhook.id);
      assert.deepEqual(await customer.webhooks(), []);
      assert.equal((await refusal(customer.webhookDeliveries(webhook.id))).status, 404);
    });

    it('names the deposit, the indicia, the refund and the receipts for a pooled customer too', async () => {
      await server.indicia.pooledMode.setUp('10118').catch(() => undefined);
      await server.indicia.pooledMode.purchase(1_000_000, 'pooled webhook test');
      const email = 'pooled-hooks@example.com';
      const pooled = new IndiciaClient({ baseUrl: server.indicia.url });
      await pooled.register(registration(email, { meterMode: 'pooled' }));
      const mail = await smtp.waitFor(email, /token=/);
      await pooled.verifyEmail(/token=([A-Za-z0-9_-]{43})/.exec(mail.text ?? '')?.[1] ?? '');
      await pooled.signIn(email, PASSWORD);
      await pooled.enrollDevice('pooled hooks', (await server.indicia.meters.enrollmentKey()).fingerprint);
      const { webhook } = await pooled.createWebhook(receiver.url('/pooled'), [...WEBHOOK_EVENTS]);
      const funded = await pooled.addFunds(20_000, CARD);
      const printed = await pooled.issueIndicia([
        { postageMills: 3_000, rateCategory: 'PM' },
        { postageMills: 20, rateCategory: 'FC' },
      ]);
      const spoiled = printed.indicia[1];
      assert.ok(spoiled !== undefined);
      const refunded = await pooled.refundIndicium(spoiled.id);
      assert.ok('refund' in refunded, 'the spoilage-cap plan credits at once');
      await until(
        () => pooled.webhookDeliveries(webhook.id),
        (list) => list.length === 3 && list.every((delivery) => delivery.status === 'delivered'),
      );
      const events = receiver.received
        .filter((entry) => entry.path === '/pooled')
        .map((post) => validEvent(post.body));
      const byType = new Map(events.map((event) => [event.type, event.data]));
      assert.deepEqual([...byType.keys()].sort(), ['funds.posted', 'indicium.issued', 'refund.decided']);
      assert.equal(byType.get('funds.posted')?.['fundingId'], funded.funding.id);
      assert.deepEqual(byType.get('funds.posted')?.['receipt'], {
        id: funded.receipt.id,
        sequence: funded.receipt.body.sequence,
      });
      const issued = byType.get('indicium.issued');
      assert.deepEqual(
        (issued?.['indicia'] as { id: string }[]).map((entry) => entry.id),
        printed.indicia.map((indicium) => indicium.id),
      );
      assert.equal((issued?.['receipt'] as { id: string }).id, printed.receipt.id);
      assert.equal(issued?.['descendingRegisterMills'], printed.receipt.body.descendingRegisterMills);
      assert.equal(byType.get('refund.decided')?.['refundId'], refunded.refund.id);
      assert.equal((byType.get('refund.decided')?.['receipt'] as { id: string }).id, refunded.receipt.id);
      await pooled.deleteWebhook(webhook.id);
    });

    it('retries with backoff until an answer is 2xx, and gives up after the schedule, logging every attempt', async () => {
      const flaky = await customer.createWebhook(receiver.url('/flaky'), ['indicium.issued']);
      const dead = await customer.createWebhook('http://127.0.0.1:9/nobody-listens', ['indicium.issued']);
      await customer.issueIndicia([{ postageMills: 100, rateCategory: 'FC' }]);
      const retriedLog = await until(
        () => customer.webhookDeliveries(flaky.webhook.id),
        (list) => list[0]?.status === 'delivered',
      );
      const retried = retriedLog[0];
      assert.ok(retried !== undefined);
      assert.equal(retried.attempts, 2);
      assert.equal(retried.lastStatusCode, 200);
      for (const post of receiver.received.filter((entry) => entry.path === '/flaky')) validEvent(post.body);
      const failedLog = await until<WebhookDelivery[]>(
        () => customer.webhookDeliveries(dead.webhook.id),
        (list) => list[0]?.status === 'failed',
      );
      const failed = failedLog[0];
      assert.ok(failed !== undefined);
      assert.equal(failed.attempts, 3);
      assert.ok(failed.lastError !== null);
    });

    it('refuses bad subscriptions, and by default private and loopback targets', async () => {
      const notUrl = await refusal(customer.createWebhook('not a url', ['funds.posted']));
      assert.equal(notUrl.code, 'webhook.invalid');
      const credentials = await refusal(
        customer.createWebhook('https://user:pw@example.com/', ['funds.posted']),
      );
      assert.equal(credentials.code, 'webhook.invalid');
      for (const address of [
        '127.0.0.1',
        '10.1.2.3',
        '172.20.0.1',
        '192.168.1.1',
        '169.254.169.254',
        '::1',
        'fd00::1',
        '::ffff:10.0.0.1',
      ])
        assert.equal(isPrivateAddress(address), true, address);
      for (const address of ['8.8.8.8', '93.184.216.34', '2606:4700::1111'])
        assert.equal(isPrivateAddress(address), false, address);
      assert.match(
        (await refusedTarget(new URL('http://127.0.0.1:8080/x'), false)) ?? '',
        /private or loopback/,
      );
      assert.equal(await refusedTarget(new URL('http://127.0.0.1:8080/x'), true), null);
    });
  });
}
