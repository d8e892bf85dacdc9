import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { describeRefundPolicy, type RefundPolicy } from '../../config/index.ts';
import { MeterError, type MetersService } from '../../meters/index.ts';
import type { DatabaseSchema } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import type { EventOutbox } from '../event-outbox.ts';
import { idempotentEffect } from '../idempotency.ts';
import { publishRefundDecided } from '../published-events.ts';
import { authorizationOf, signedAnswerParts } from '../signed-request.ts';
import { refundRequestRecord } from '../refund-records.ts';
import { signedAnswer } from './value-schemas.ts';

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const RefundPolicySchema = Type.Union(
  [
    Type.Object({ kind: Type.Literal('spoilage-cap'), percent: Type.Number() }),
    Type.Object({ kind: Type.Literal('review-window'), days: Type.Integer() }),
  ],
  {
    $id: 'RefundPolicy',
    description:
      'spoilage-cap: credited at once within percent of printing; review-window: pending until staff decide',
  },
);

export const RefundRequestRecord = Type.Object(
  {
    id: Type.String({ examples: ['rfq_0b6f…'] }),
    indiciumId: Type.String(),
    meterId: Type.String(),
    customerNumber: Type.Integer(),
    amountMills: Type.Integer({ description: "The piece's postage, what an approval credits" }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('denied')]),
    plan: Type.String({ description: 'The pricing plan the customer was on when asking' }),
    policy: Type.Ref('RefundPolicy'),
    requestedAt: Type.String({ format: 'date-time' }),
    decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    decidedBy: Type.Union([Type.String(), Type.Null()], {
      description: 'The staff member, or policy:spoilage-cap when credited at once',
    }),
    decisionNote: NullableString,
    refundId: Type.Union([Type.String(), Type.Null()], { description: 'The refund an approval credited' }),
  },
  { $id: 'RefundRequest' },
);

const Page = Type.Object(
  {
    status: Type.Optional(
      Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('denied')]),
    ),
    limit: Type.Optional(Type.String({ pattern: '^(200|1[0-9]{2}|[1-9][0-9]?)$', examples: ['50'] })),
    cursor: Type.Optional(Type.String({ maxLength: 120, description: 'nextCursor of the page before' })),
  },
  { additionalProperties: false },
);

const RequestId = Type.Object({ id: Type.String({ pattern: '^rfq_[0-9a-f-]{36}$' }) });

const PolicyAnswer = Type.Object({
  plan: Type.String(),
  isDefaultPlan: Type.Boolean(),
  policy: Type.Ref('RefundPolicy'),
  description: Type.String(),
});

function policyAnswer(inForce: { plan: string; policy: RefundPolicy; isDefaultPlan: boolean }) {
  return { ...inForce, description: describeRefundPolicy(inForce.policy) };
}

export interface RefundRouteDependencies {
  readonly meters: Pick<
    MetersService,
    | 'indicium'
    | 'refundPolicy'
    | 'requestRefund'
    | 'setPricingPlan'
    | 'decideRefund'
    | 'refundRequests'
    | 'refundRequest'
    | 'pricingPlans'
  >;
  readonly events: EventOutbox;
  /** Where the Idempotency-Key of a credited refund is marked, in the refund's commit. */
  readonly db: Kysely<DatabaseSchema>;
}

const STAFF_READERS = ['admin', 'support', 'auditor'] as const;

/**
 * Refund policies and requests: a customer reads the policy of their plan and their requests;
 * staff list pending requests and approve (credit) or deny them; admins put a customer on a plan.
 * Asking for a refund is POST /v1/indicia/{id}/refund (indicia-routes.ts).
 */
export function refundRoutes(dependencies: RefundRouteDependencies): FastifyPluginAsyncTypebox {
  const { meters, events, db } = dependencies;
  return (app) => {
    app.addSchema(RefundPolicySchema);
    app.addSchema(RefundRequestRecord);
    const record = Type.Ref('RefundRequest');
    const list = Type.Object({ refundRequests: Type.Array(record), nextCursor: NullableString });

    app.post(
      '/v1/indicia/:id/refund',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:refund', verifiedEmail: true } },
        schema: {
          tags: ['indicia'],
          summary:
            'Ask for a refund of a piece under your plan’s policy (GET /v1/refund-policy): review window → 202, pending until staff decide; spoilage cap → 201, credited at once, device-signed',
          params: Type.Object({ id: Type.String({ maxLength: 60 }) }),
          response: {
            201: signedAnswer({
              refund: Type.Object({ id: Type.String(), amountMills: Type.Integer() }),
              refundRequest: record,
            }),
            202: Type.Object({ refundRequest: record }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const indiciumId = request.params.id;
        const requester = { customerNumber: principal.customerNumber ?? -1, accountId: principal.accountId };
        // Someone else's piece is unknown to this customer.
        await meters.indicium(requester.customerNumber, indiciumId);
        const { policy } = await meters.refundPolicy(requester.customerNumber);
        if (policy.kind === 'review-window') {
          // Nothing moves until staff approve, so no device signature is needed (one sent stays unused).
          const pending = await meters.requestRefund(indiciumId, requester);
          return reply.status(202).send({ refundRequest: refundRequestRecord(pending.request) });
        }
        const authorization = authorizationOf(request);
        // The key's outcome is marked in the refund's own commit (idempotency.ts).
        const outcome = await idempotentEffect(
          db,
          request,
          { kind: 'refund', challenge: authorization.nextChallenge },
          () =>
            meters.requestRefund(indiciumId, requester, {
              authorization,
              receipt: { customerNumber: requester.customerNumber },
              withinCommit: (trx, committed, records) =>
                publishRefundDecided(events, trx, principal.accountId, {
                  refundRequestId: records.refundRequestId,
                  indiciumId,
                  meterId: committed.transaction.meterId,
                  amountMills: committed.transaction.amountMills,
                  note: null,
                  records,
                }),
            }),
        );
        events.flush();
        const refunded = outcome.refund;
        if (refunded === null) throw new MeterError('meter.request_invalid', 'The refund was not credited.');
        return reply.status(201).send({
          refund: { id: refunded.id, amountMills: refunded.amount },
          refundRequest: refundRequestRecord(outcome.request),
          ...signedAnswerParts(refunded.receipt, authorization),
        });
      },
    );

    app.get(
      '/v1/refund-policy',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary: 'The refund policy in force for you: your pricing plan and its terms',
          response: { 200: PolicyAnswer },
        },
      },
      async (request) => policyAnswer(await meters.refundPolicy(principalOf(request).customerNumber ?? -1)),
    );

    app.get(
      '/v1/refund-requests',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary: 'Your refund requests and their status (pending, approved, denied), newest first',
          querystring: Page,
          response: { 200: list },
        },
      },
      async (request) => {
        const page = await meters.refundRequests({
          customerNumber: principalOf(request).customerNumber ?? -1,
          status: request.query.status,
          limit: Number(request.query.limit ?? '50'),
          before: request.query.cursor,
        });
        return { refundRequests: page.requests.map(refundRequestRecord), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/refund-requests/:id',
      {
        config: { access: { roles: ['customer', ...STAFF_READERS], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary: 'One refund request',
          params: RequestId,
          response: { 200: record },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const scope = principal.role === 'customer' ? (principal.customerNumber ?? -1) : null;
        return refundRequestRecord(await meters.refundRequest(scope, request.params.id));
      },
    );

    app.get(
      '/v1/admin/refund-requests',
      {
        config: { access: { roles: STAFF_READERS } },
        schema: {
          tags: ['admin'],
          summary: 'Refund requests of every customer, newest first; ?status=pending for the review queue',
          querystring: Page,
          response: { 200: list },
        },
      },
      async (request) => {
        const page = await meters.refundRequests({
          customerNumber: null,
          status: request.query.status,
          limit: Number(request.query.limit ?? '50'),
          before: request.query.cursor,
        });
        return { refundRequests: page.requests.map(refundRequestRecord), nextCursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/admin/refund-requests/:id/decision',
      {
        config: { access: { roles: ['admin', 'support'] } },
        schema: {
          tags: ['admin'],
          summary:
            'Approve (credit the piece’s postage, once) or deny (nothing moves) a pending refund request; emits refund.decided',
          params: RequestId,
          body: Type.Object(
            {
              decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
              note: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              refundRequest: record,
              refund: Type.Union([
                Type.Object({ id: Type.String(), amountMills: Type.Integer(), receiptId: NullableString }),
                Type.Null(),
              ]),
            }),
          },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const decided = await meters.decideRefund(
          request.params.id,
          {
            approve: request.body.decision === 'approve',
            by: principal.email,
            note: request.body.note ?? null,
          },
          async (trx, view, records) => {
            if (view.accountId === null) return;
            await publishRefundDecided(events, trx, view.accountId, {
              refundRequestId: view.id,
              indiciumId: view.indiciumId,
              meterId: view.meterId,
              amountMills: view.amount,
              note: view.decisionNote,
              records,
            });
          },
        );
        events.flush();
        return {
          refundRequest: refundRequestRecord(decided.request),
          refund:
            decided.refund === null
              ? null
              : {
                  id: decided.refund.id,
                  amountMills: decided.refund.amount,
                  receiptId: decided.refund.receipt?.id ?? null,
                },
        };
      },
    );

    app.get(
      '/v1/admin/pricing-plans',
      {
        config: { access: { roles: STAFF_READERS } },
        schema: {
          tags: ['admin'],
          summary: 'The configured pricing plans, each with its refund policy, and the default plan',
          response: {
            200: Type.Object({
              defaultPlan: Type.String(),
              plans: Type.Array(Type.Object({ name: Type.String(), refundPolicy: Type.Ref('RefundPolicy') })),
            }),
          },
        },
      },
      () => {
        const { plans, defaultPlan } = meters.pricingPlans();
        return {
          defaultPlan,
          plans: Object.entries(plans).map(([name, plan]) => ({ name, refundPolicy: plan.refundPolicy })),
        };
      },
    );

    app.put(
      '/v1/admin/customers/:customerNumber/pricing-plan',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags: ['admin'],
          summary: 'Put a customer on a configured pricing plan (null: the default plan)',
          params: Type.Object({ customerNumber: Type.String({ pattern: '^[0-9]{1,12}$' }) }),
          body: Type.Object(
            { plan: Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Null()]) },
            { additionalProperties: false },
          ),
          response: { 200: PolicyAnswer },
        },
      },
      async (request) =>
        policyAnswer(await meters.setPricingPlan(Number(request.params.customerNumber), request.body.plan)),
    );
    return Promise.resolve();
  };
}
