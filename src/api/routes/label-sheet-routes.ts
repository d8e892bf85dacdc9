import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AD_TEXT_LIMITS, type AdTexts, type LabelStock } from '../../printing/index.ts';
import type { RatesService } from '../../rates/index.ts';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import { idempotentEffect } from '../idempotency.ts';
import { type CustomerIssuer, issuedJson } from '../customer-issuer.ts';
import { pricePiece } from '../piece-pricing.ts';
import { Digits, wholeNumber } from '../schemas.ts';
import { authorizationOf, signedAnswerParts } from '../signed-request.ts';
import { Indicium, Piece, signedAnswer } from './value-schemas.ts';

export interface LabelSheetRouteDependencies {
  readonly ads: AdTexts;
  readonly stock: LabelStock;
  readonly issuer: CustomerIssuer;
  readonly rates: RatesService;
  readonly db: Kysely<DatabaseSchema>;
}

const CUSTOMER = ['customer'] as const;

const Sheet = Type.Object({
  serial: Type.Integer({ description: 'The sheet serial printed on the sheet' }),
  createdAt: Type.String({ format: 'date-time' }),
  labels: Type.Array(
    Type.Object({
      serial: Type.Integer(),
      position: Type.Integer({ minimum: 1, maximum: 10 }),
      state: Type.String({ examples: ['valid', 'used'] }),
      indiciumId: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});

const SerialParams = Type.Object({ serial: Digits('The sheet serial') });
const serialOf = (text: string): number => wholeNumber(text, 'serial', { min: 1, max: 2 ** 40 - 1 });
const ListParams = Type.Object({ id: Type.String({ maxLength: 60 }) });

/**
 * Approved ad text for envelopes, and serialized label stock: sheets of ten numbered labels, each
 * printable once.
 */
export function labelSheetRoutes({
  ads,
  stock,
  issuer,
  rates,
  db,
}: LabelSheetRouteDependencies): FastifyPluginAsyncTypebox {
  return (app) => {
    const AdText = Type.Object({
      id: Type.String(),
      lines: Type.Array(Type.String()),
      createdAt: Type.String({ format: 'date-time' }),
    });
    app.get(
      '/v1/ad-texts',
      {
        config: { access: { roles: ['customer', 'admin', 'support', 'auditor'], scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: 'Ad text the operator approved, to print beside the indicium on envelopes',
          response: { 200: Type.Object({ adTexts: Type.Array(AdText) }) },
        },
      },
      async () => ({ adTexts: await ads.approved() }),
    );

    app.post(
      '/v1/admin/ad-texts',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags: ['admin'],
          summary: `Approve ad text for envelopes: 1–${AD_TEXT_LIMITS.lines} lines of up to ${AD_TEXT_LIMITS.characters} characters`,
          body: Type.Object(
            {
              lines: Type.Array(Type.String({ maxLength: 200 }), {
                minItems: 1,
                maxItems: AD_TEXT_LIMITS.lines,
              }),
            },
            { additionalProperties: false },
          ),
          response: { 201: AdText },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await ads.approve(request.body.lines, principalOf(request).accountId)),
    );

    app.delete(
      '/v1/admin/ad-texts/:id',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags: ['admin'],
          summary: 'Withdraw approved ad text: no longer offered or printed',
          params: ListParams,
        },
      },
      async (request, reply) => {
        await ads.withdraw(request.params.id);
        return reply.status(204).send();
      },
    );

    app.post(
      '/v1/label-sheets',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:issue', verifiedEmail: true } },
        schema: {
          tags: ['labels'],
          summary: 'A new sheet of ten serialized stamp labels: the server keeps which are still valid',
          response: { 201: Sheet },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await stock.createSheet(principalOf(request).accountId)),
    );

    app.get(
      '/v1/label-sheets',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: 'Your label sheets, newest first, with how many labels each has left',
          response: {
            200: Type.Object({
              sheets: Type.Array(
                Type.Object({
                  serial: Type.Integer(),
                  createdAt: Type.String(),
                  validLabels: Type.Integer(),
                }),
              ),
            }),
          },
        },
      },
      async (request) => ({ sheets: await stock.sheets(principalOf(request).accountId) }),
    );

    app.get(
      '/v1/label-sheets/:serial',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:read' } },
        schema: {
          tags: ['labels'],
          summary: 'A label sheet and the state of each label',
          params: SerialParams,
          response: { 200: Sheet },
        },
      },
      async (request) => stock.sheet(principalOf(request).accountId, serialOf(request.params.serial)),
    );

    app.post(
      '/v1/label-sheets/:serial/print',
      {
        config: { access: { roles: CUSTOMER, scope: 'indicia:issue', verifiedEmail: true } },
        schema: {
          tags: ['labels'],
          summary:
            "Print postage on the sheet's next valid label (refused once the sheet is used up); device-signed",
          params: SerialParams,
          body: Type.Object({ piece: Piece }, { additionalProperties: false }),
          response: {
            201: signedAnswer({
              indicium: Indicium,
              label: Type.Object({ serial: Type.Integer(), position: Type.Integer() }),
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const authorization = authorizationOf(request);
        const label = await stock.nextValid(principal.accountId, serialOf(request.params.serial));
        const account = await issuer.accountOf(principal);
        const piece = pricePiece(request.body.piece, rates, account.licensingZip);
        const effect = {
          kind: 'label' as const,
          challenge: authorization.nextChallenge,
          label: { serial: label.labelSerial, position: label.position },
        };
        const issued = await idempotentEffect(db, request, effect, () =>
          issuer.issue(principal, [{ ...piece, labelSerial: label.labelSerial }], { authorization, account }),
        );
        const [indicium] = issued.map(issuedJson);
        if (indicium === undefined) throw new Error('the issuance returned no indicium');
        return reply.status(201).send({
          indicium,
          label: { serial: label.labelSerial, position: label.position },
          ...signedAnswerParts(issued.receipt, authorization),
        });
      },
    );

    return Promise.resolve();
  };
}
