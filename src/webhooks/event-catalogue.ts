import { type Static, type TSchema, Type } from 'typebox';
import type { WebhookEvent } from '../store/index.ts';

/**
 * The webhook events, defined once: when each is sent, the JSON schema of its `data`, and an
 * example. The outbox is typed by these schemas, docs/webhooks.md is generated from them
 * (test/api/webhook-catalogue.test.ts checks it), and the webhook tests validate every delivered
 * payload against them.
 */

const MeterId = Type.String({
  description: 'The meter that moved: its meter number (a pooled customer: the mini-PSD or client package)',
  examples: ['421D00000001'],
});
const Mills = (description: string) => Type.Integer({ minimum: 0, description });

const ReceiptReference = Type.Object(
  {
    id: Type.String({
      description: 'The receipt of the request: GET /v1/receipts/{id}',
      examples: ['rcpt_…'],
    }),
    sequence: Type.Integer({
      minimum: 1,
      description:
        "The receipt's sequence (its meter package's after the request), as the answer's receipt.body.sequence",
    }),
  },
  { additionalProperties: false, description: 'The signed receipt the request was answered with' },
);

const Registers = {
  ascendingRegisterMills: Mills(
    "The AR after the request, as the receipt states it (a pooled customer: their client package's)",
  ),
  descendingRegisterMills: Mills(
    "The DR after the request, as the receipt states it (a pooled customer: their client package's)",
  ),
};

/** Indicia one event lists at most; a bigger print (a mailing list) is told in several parts. */
export const MAX_INDICIA_PER_EVENT = 1_000;

const IssuedEntry = Type.Object(
  {
    id: Type.String({
      description: 'The indicium: GET /v1/indicia/{id}, its label at /v1/indicia/{id}/label',
      examples: ['ind_…'],
    }),
    postageMills: Mills('Its postage'),
    mailingDate: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' }),
    labelSerial: Type.Optional(
      Type.Integer({ minimum: 1, description: 'The serialized label it was printed on, when it was' }),
    ),
  },
  { additionalProperties: false },
);

const FundsPosted = Type.Object(
  {
    fundingId: Type.String({
      description: "The answer's funding.id: fund_… for a meter; a pooled customer's deposit reference",
    }),
    receipt: ReceiptReference,
    meterId: MeterId,
    amountMills: Type.Integer({ minimum: 1, description: 'Postage added' }),
    processor: Type.String({
      description: 'The card processor that took the payment',
      examples: ['sandbox'],
    }),
    ...Registers,
  },
  { additionalProperties: false },
);

const IndiciumIssued = Type.Object(
  {
    receipt: ReceiptReference,
    meterId: MeterId,
    pieces: Type.Integer({ minimum: 1, description: 'Pieces the request printed, in all its parts' }),
    totalPostageMills: Mills('Postage of all the pieces of the request'),
    indicia: Type.Array(IssuedEntry, {
      minItems: 1,
      maxItems: MAX_INDICIA_PER_EVENT,
      description: 'The indicia, in the order the pieces were asked for (this part of them)',
    }),
    part: Type.Integer({
      minimum: 1,
      description: 'Which part this is: 1 unless the request printed more than 1,000 pieces',
    }),
    parts: Type.Integer({
      minimum: 1,
      description: 'How many events tell this request (all with the same receipt)',
    }),
    mailingListId: Type.Optional(
      Type.String({ description: 'The mailing list printed, when the request printed one' }),
    ),
    correctsIndiciumId: Type.Optional(Type.String({ description: 'The indicium a correction corrects' })),
    ...Registers,
  },
  { additionalProperties: false },
);

const RefundDecided = Type.Object(
  {
    refundRequestId: Type.String({
      description: 'The refund request decided (GET /v1/refund-requests), e.g. rfq_…',
    }),
    refundId: Type.Union([Type.String({ examples: ['refund_…'] }), Type.Null()], {
      description: "The refund credited (the answer's refund.id); null when denied",
    }),
    indiciumId: Type.String({ description: 'The indicium the request is for' }),
    decision: Type.Union([Type.Literal('refunded'), Type.Literal('denied')], {
      description:
        'refunded: the postage is credited (at once under a spoilage cap, or on staff approval); denied: nothing moved',
    }),
    amountMills: Mills('The amount credited; 0 when denied'),
    meterId: MeterId,
    receipt: Type.Union([ReceiptReference, Type.Null()], {
      description: "The refund's signed receipt; null when denied",
    }),
    note: Type.Union([Type.String(), Type.Null()], { description: "The reviewer's note, if any" }),
  },
  { additionalProperties: false },
);

const BalanceLow = Type.Object(
  {
    meterId: MeterId,
    thresholdMills: Mills('INDICIA_LOW_BALANCE_MILLS: the DR below which this is sent'),
    ascendingRegisterMills: Mills('The AR after the print'),
    descendingRegisterMills: Mills('The DR after the print, below the threshold'),
  },
  { additionalProperties: false },
);

interface CatalogueEntry {
  /** When the event is sent, in one or two sentences. */
  readonly when: string;
  readonly data: TSchema;
  readonly example: Record<string, unknown>;
}

const receiptExample = { id: 'rcpt_5b0e2a4c-9d6f-4c1e-8f3a-2b7d9e1c4a60', sequence: 7 };

export const WEBHOOK_EVENT_CATALOGUE = {
  'funds.posted': {
    when: 'Postage was added to your meter (or a pooled balance) by POST /v1/funds, in the same commit as the funding and its receipt.',
    data: FundsPosted,
    example: {
      fundingId: 'fund_0f6b8d1e-3c2a-4e5f-9a7b-1d2c3e4f5a6b',
      receipt: receiptExample,
      meterId: '421D00000001',
      amountMills: 50_000,
      processor: 'sandbox',
      ascendingRegisterMills: 12_000,
      descendingRegisterMills: 88_000,
    },
  },
  'indicium.issued': {
    when: 'Indicia were printed: POST /v1/indicia, a label sheet, a mailing list, or a correction; one event per request (per 1,000 pieces of it).',
    data: IndiciumIssued,
    example: {
      receipt: { ...receiptExample, sequence: 8 },
      meterId: '421D00000001',
      pieces: 2,
      totalPostageMills: 1_460,
      indicia: [
        { id: 'ind_01939a4e-7b2c-7d3e-9f10-2a3b4c5d6e7f', postageMills: 730, mailingDate: '2026-12-03' },
        { id: 'ind_01939a4e-7b2c-7d3e-9f10-2a3b4c5d6e80', postageMills: 730, mailingDate: '2026-12-03' },
      ],
      part: 1,
      parts: 1,
      ascendingRegisterMills: 13_460,
      descendingRegisterMills: 86_540,
    },
  },
  'refund.decided': {
    when: 'A refund request was decided: credited at once under a spoilage-cap plan (POST /v1/indicia/{id}/refund), or approved or denied by staff under a review-window plan (POST /v1/admin/refund-requests/{id}/decision).',
    data: RefundDecided,
    example: {
      refundRequestId: 'rfq_5b0e9a7c-2d41-4f6a-8c3b-9e1f2a3b4c5d',
      refundId: 'refund_3e1d2c4b-5a69-4788-9b0c-1d2e3f405162',
      indiciumId: 'ind_01939a4e-7b2c-7d3e-9f10-2a3b4c5d6e80',
      decision: 'refunded',
      amountMills: 730,
      meterId: '421D00000001',
      receipt: { ...receiptExample, sequence: 9 },
      note: null,
    },
  },
  'balance.low': {
    when: "A print took a dedicated meter's DR below INDICIA_LOW_BALANCE_MILLS ($10 by default); sent with that print's indicium.issued, each time until it is funded.",
    data: BalanceLow,
    example: {
      meterId: '421D00000001',
      thresholdMills: 10_000,
      ascendingRegisterMills: 91_270,
      descendingRegisterMills: 8_730,
    },
  },
} as const satisfies Record<WebhookEvent, CatalogueEntry>;

/** The `data` of an event, as its schema says. */
export type WebhookEventData<Event extends WebhookEvent> = Static<
  (typeof WEBHOOK_EVENT_CATALOGUE)[Event]['data']
>;

/** The whole delivered body of one event type: `{ id, type, createdAt, data }`. */
export function webhookEventSchema(event: WebhookEvent): TSchema {
  return Type.Object(
    {
      id: Type.String({
        pattern: '^evt_',
        description: 'The event id, also in Indicia-Webhook-Id: de-duplicate on it',
      }),
      type: Type.Literal(event),
      createdAt: Type.String({
        format: 'date-time',
        description: 'When the event was written, in its commit',
      }),
      data: WEBHOOK_EVENT_CATALOGUE[event].data,
    },
    { additionalProperties: false },
  );
}
