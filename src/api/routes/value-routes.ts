import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  type MetersService,
  type PoolService,
  type RecordsWithinCommit,
  type SignedReceipt,
  recordCardPayment,
} from '../../meters/index.ts';
import type { Mills } from '../../money/index.ts';
import { type PaymentProcessor, PaymentError } from '../../payments/index.ts';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import { idempotentEffect } from '../idempotency.ts';
import type { EventOutbox } from '../event-outbox.ts';
import { publishFunded } from '../published-events.ts';
import { type CustomerIssuer, issuedJson } from '../customer-issuer.ts';
import { pricePiece } from '../piece-pricing.ts';
import type { RatesService } from '../../rates/index.ts';
import { authorizationOf, signedAnswerParts } from '../signed-request.ts';
import { FundsBody, Indicium, Piece, signedAnswer } from './value-schemas.ts';

export interface ValueRouteDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly meters: Pick<
    MetersService,
    'dedicatedMeterOf' | 'hasClientPackage' | 'fund' | 'issue' | 'receipt'
  >;
  readonly processor: PaymentProcessor;
  readonly events: EventOutbox;
  /** Pooled customers' deposits. */
  readonly pool: Pick<PoolService, 'deposit'>;
  readonly issuer: CustomerIssuer;
  readonly rates: RatesService;
}

const CUSTOMER = ['customer'] as const;

/**
 * The value-moving requests the signed client protocol protects: funds from a card, indicia (one
 * or a mailing list), and their signed receipts. Devices are enrolled in device-routes.ts.
 */
export function valueRoutes({
  db,
  meters,
  processor,
  events,
  pool,
  issuer,
  rates,
}: ValueRouteDependencies): FastifyPluginAsyncTypebox {
  const { accountOf } = issuer;

  return (app) => {
    const receiptRef = Type.Ref('Receipt');

    app.post(
      '/v1/funds',
      {
        config: { access: { roles: CUSTOMER, scope: 'funds:add', verifiedEmail: true } },
        schema: {
          tags: ['value'],
          summary: 'Add postage to your meter, paid by card (sandbox processor); device-signed',
          body: FundsBody,
          response: {
            201: signedAnswer({
              funding: Type.Object({ id: Type.String(), amountMills: Type.Integer() }),
              payment: Type.Object({
                processor: Type.String({ examples: ['sandbox'] }),
                last4: Type.String(),
                outcome: Type.Literal('approved'),
              }),
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { pooled, meterId, customerNumber } = await accountOf(principal);
        const authorization = authorizationOf(request);
        const amount = request.body.amountMills as Mills;
        const card = request.body.paymentMethod;
        const base = { accountId: principal.accountId, processor: processor.name, amount };
        let held;
        try {
          held = await processor.authorize(amount, card, meterId);
        } catch (error) {
          if (error instanceof PaymentError && error.code !== 'payment.card_invalid') {
            await recordCardPayment(db, {
              ...base,
              last4: card.number.replace(/\D/g, '').slice(-4),
              outcome: error.code === 'payment.declined' ? 'declined' : 'failed',
              processorReference: null,
              message: error.message,
            });
          }
          throw error;
        }
        const approved = { ...base, last4: held.last4, processorReference: held.id };
        const source = `card:${processor.name}:${held.id}`;
        const withinCommit: RecordsWithinCommit = async (trx, _result, records) => {
          await recordCardPayment(trx, { ...approved, outcome: 'approved', message: 'captured' });
          await publishFunded(events, trx, principal.accountId, {
            meterId,
            amountMills: amount,
            processor: processor.name,
            records,
          });
        };
        let funded: { id: string; receipt: SignedReceipt | null };
        const effect = {
          kind: 'funds' as const,
          challenge: authorization.nextChallenge,
          amountMills: amount,
          processor: processor.name,
          last4: held.last4,
        };
        try {
          funded = await idempotentEffect(db, request, effect, async () =>
            pooled
              ? {
                  id: source,
                  receipt: (
                    await pool.deposit(customerNumber, amount, source, {
                      authorization,
                      receipt: true,
                      withinCommit,
                    })
                  ).receipt,
                }
              : await meters.fund(meterId, amount, source, {
                  authorization,
                  receipt: { customerNumber },
                  withinCommit,
                }),
          );
        } catch (error) {
          // The meter refused (a signature, the max DR): release the hold; nothing was charged.
          await processor.void(held.id);
          throw error;
        }
        await processor.capture(held.id);
        events.flush();
        return reply.status(201).send({
          funding: { id: funded.id, amountMills: amount },
          payment: { processor: processor.name, last4: held.last4, outcome: 'approved' as const },
          ...signedAnswerParts(funded.receipt, authorization),
        });
      },
    );

    app.post(
      '/v1/indicia',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:issue', verifiedEmail: true } },
        schema: {
          tags: ['value'],
          summary: 'Print postage: one indicium per piece (a mailing list of up to 1,000), device-signed',
          body: Type.Object(
            { pieces: Type.Array(Piece, { minItems: 1, maxItems: 1000 }) },
            { additionalProperties: false },
          ),
          response: {
            201: signedAnswer({
              indicia: Type.Array(Indicium),
            }),
          },
        },
      },
      async (request, reply) => {
        const authorization = authorizationOf(request);
        const principal = principalOf(request);
        const account = await accountOf(principal);
        const pieces = request.body.pieces.map((piece) => pricePiece(piece, rates, account.licensingZip));
        const issued = await idempotentEffect(
          db,
          request,
          { kind: 'indicia', challenge: authorization.nextChallenge },
          () => issuer.issue(principal, pieces, { authorization, account }),
        );
        return reply.status(201).send({
          indicia: issued.map(issuedJson),
          ...signedAnswerParts(issued.receipt, authorization),
        });
      },
    );

    app.get(
      '/v1/receipts/:id',
      {
        config: { access: { roles: ['customer', 'support', 'admin', 'auditor'], scope: 'indicia:read' } },
        schema: {
          tags: ['value'],
          summary: 'A signed receipt (customers see their own)',
          params: Type.Object({ id: Type.String({ maxLength: 60 }) }),
          response: { 200: receiptRef },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        return meters.receipt(
          principal.role === 'customer' ? principal.customerNumber : null,
          request.params.id,
        );
      },
    );
    return Promise.resolve();
  };
}
