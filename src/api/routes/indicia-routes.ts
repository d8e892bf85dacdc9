import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Principal } from '../../accounts/index.ts';
import type { MetersService } from '../../meters/index.ts';
import type { Mills } from '../../money/index.ts';
import type { Kysely } from 'kysely';
import type { DatabaseSchema, IndiciaTable } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import { idempotentEffect } from '../idempotency.ts';
import type { EventOutbox } from '../event-outbox.ts';
import { publishIssued } from '../published-events.ts';
import { authorizationOf, signedAnswerParts } from '../signed-request.ts';
import { Indicium, MailingDate, signedAnswer } from './value-schemas.ts';

const IndiciumRecord = Type.Object(
  {
    id: Type.String(),
    meterId: Type.String(),
    status: Type.String({ examples: ['valid', 'refunded', 'corrected'] }),
    postageMills: Type.Integer(),
    ascendingRegisterMills: Type.Integer(),
    descendingRegisterMills: Type.Integer(),
    mailingDate: Type.String(),
    originZip: Type.String(),
    rateCategory: Type.String(),
    certificateSerial: Type.String(),
    correctsIndiciumId: Type.Union([Type.String(), Type.Null()]),
    data: Type.String({ description: 'The barcode bytes, base64' }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'IndiciumRecord' },
);

function recordOf(row: IndiciaTable) {
  return {
    id: row.id,
    meterId: row.meter_id,
    status: row.status,
    postageMills: row.postage_mills,
    ascendingRegisterMills: row.ascending_register_mills,
    descendingRegisterMills: row.descending_register_mills,
    mailingDate: row.mailing_date,
    originZip: row.origin_zip,
    rateCategory: row.rate_category,
    certificateSerial: row.certificate_serial,
    correctsIndiciumId: row.corrects_indicium_id,
    data: row.data,
    createdAt: row.created_at,
  };
}

/** Customers see their own indicia; staff see any. */
const scopeOf = (principal: Principal): number | null =>
  principal.role === 'customer' ? (principal.customerNumber ?? -1) : null;

const READERS = ['customer', 'support', 'admin', 'auditor'] as const;

const Id = Type.Object({ id: Type.String({ maxLength: 60 }) });

/** The indicium log as customers and staff read it, and corrections. */
export function indiciaRoutes(
  meters: Pick<MetersService, 'indiciaOf' | 'indicium' | 'correct'>,
  events: EventOutbox,
  db: Kysely<DatabaseSchema>,
): FastifyPluginAsyncTypebox {
  return (app) => {
    app.addSchema(IndiciumRecord);
    const recordRef = Type.Ref('IndiciumRecord');

    app.get(
      '/v1/indicia',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary: 'Your indicia, newest first, a page at a time',
          querystring: Type.Object(
            {
              // Query strings are text: whole numbers 1–200, 50 when omitted.
              limit: Type.Optional(
                Type.String({ pattern: '^(200|1[0-9]{2}|[1-9][0-9]?)$', examples: ['50'] }),
              ),
              cursor: Type.Optional(
                Type.String({ maxLength: 60, description: 'nextCursor of the page before' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              indicia: Type.Array(recordRef),
              nextCursor: Type.Union([Type.String(), Type.Null()]),
            }),
          },
        },
      },
      async (request) => {
        const customerNumber = scopeOf(principalOf(request)) ?? -1;
        const page = await meters.indiciaOf(customerNumber, {
          limit: Number(request.query.limit ?? '50'),
          before: request.query.cursor,
        });
        return { indicia: page.indicia.map(recordOf), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/indicia/:id',
      {
        config: { access: { roles: READERS, scope: 'indicia:read' } },
        schema: { tags: ['indicia'], summary: 'One indicium', params: Id, response: { 200: recordRef } },
      },
      async (request) => recordOf(await meters.indicium(scopeOf(principalOf(request)), request.params.id)),
    );

    // POST /v1/indicia/:id/refund: refund-routes.ts, beside the refund policy and requests.

    app.post(
      '/v1/indicia/:id/correction',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:issue', verifiedEmail: true } },
        schema: {
          tags: ['indicia'],
          summary:
            'A correction indicium: the underpaid difference, or the right mailing date; device-signed',
          params: Id,
          body: Type.Object(
            {
              postageMills: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
              mailingDate: Type.Optional(MailingDate("the original indicium's date")),
            },
            { additionalProperties: false },
          ),
          response: {
            201: signedAnswer({
              indicium: Indicium,
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        await meters.indicium(scopeOf(principal), request.params.id);
        const authorization = authorizationOf(request);
        const { postageMills, mailingDate } = request.body;
        const corrected = await idempotentEffect(
          db,
          request,
          { kind: 'correction', challenge: authorization.nextChallenge },
          () =>
            meters.correct(
              request.params.id,
              {
                ...(postageMills === undefined ? {} : { postage: postageMills as Mills }),
                ...(mailingDate === undefined ? {} : { mailingDate }),
              },
              {
                authorization,
                receipt: { customerNumber: principal.customerNumber ?? 0 },
                withinCommit: (trx, result, records) =>
                  publishIssued(events, trx, principal.accountId, {
                    records,
                    dedicatedMeter: principal.meterMode === 'pooled' ? null : result.view,
                    correctsIndiciumId: request.params.id,
                  }),
              },
            ),
        );
        events.flush();
        return reply.status(201).send({
          indicium: {
            id: corrected.id,
            meterId: corrected.meterId,
            data: corrected.data.toString('base64'),
            postageMills: corrected.postage,
            ascendingRegisterMills: corrected.ascendingRegister,
            descendingRegisterMills: corrected.descendingRegister,
            mailingDate: corrected.mailingDate,
          },
          ...signedAnswerParts(corrected.receipt, authorization),
        });
      },
    );

    return Promise.resolve();
  };
}
