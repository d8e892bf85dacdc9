import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { type RatesService, pieceOunces } from '../../rates/index.ts';

const Zip = Type.String({ pattern: '^\\d{5}(-\\d{4})?$' });
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const READERS = ['customer', 'support', 'admin', 'auditor'] as const;

const QuoteAnswer = Type.Object({
  priceMills: Type.Integer(),
  classCode: Type.String(),
  className: Type.String(),
  rateCategory: Type.String(),
  weightOunces: Type.Number(),
  weightBreak: Type.Number(),
  weightUnit: Type.String(),
  zone: Type.Union([
    Type.Object({
      zone: Type.String(),
      miles: Type.Union([Type.Number(), Type.Null()]),
      source: Type.String(),
    }),
    Type.Null(),
  ]),
  surcharges: Type.Array(Type.Object({ code: Type.String(), priceMills: Type.Integer() })),
  table: Type.Object({
    id: Type.String(),
    effective: Type.String(),
    source: Type.String(),
    version: Type.String(),
  }),
});

/** Rates: quotes, the tables in force, housekeeping for clients' cached tables, and reloading. */
export function rateRoutes(rates: RatesService): FastifyPluginAsyncTypebox {
  return (app) => {
    app.post(
      '/v1/rates',
      {
        config: { access: { roles: READERS, scope: 'indicia:read' } },
        schema: {
          tags: ['rates'],
          summary:
            'What a piece costs: class, weight (or sheets, paper and envelope), and for zoned classes the ZIPs',
          body: Type.Object(
            {
              classCode: Type.String({ maxLength: 40, examples: ['FCM-LETTER-METERED'] }),
              weightOunces: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1120 })),
              piece: Type.Optional(
                Type.Object(
                  {
                    sheets: Type.Integer({ minimum: 0, maximum: 1000 }),
                    paper: Type.Optional(
                      Type.Union([
                        Type.Literal('20lb'),
                        Type.Literal('24lb'),
                        Type.Literal('28lb'),
                        Type.Literal('32lb'),
                      ]),
                    ),
                    envelope: Type.Optional(Type.Union([Type.Literal('#10'), Type.Literal('9x12')])),
                  },
                  {
                    additionalProperties: false,
                    description: 'The weight calculator: sheets × paper + envelope',
                  },
                ),
              ),
              originZip: Type.Optional(Zip),
              destinationZip: Type.Optional(Zip),
              mailingDate: Type.Optional(Day),
              surcharges: Type.Optional(Type.Array(Type.String({ maxLength: 40 }), { maxItems: 5 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: QuoteAnswer },
        },
      },
      (request) => {
        const { piece, ...rest } = request.body;
        const weightOunces = rest.weightOunces ?? (piece === undefined ? 0 : pieceOunces(piece));
        const quote = rates.quote({ ...rest, weightOunces });
        return { ...quote, surcharges: [...quote.surcharges], weightOunces };
      },
    );

    app.get(
      '/v1/rates/tables',
      {
        config: { access: { roles: READERS, scope: 'indicia:read' } },
        schema: {
          tags: ['rates'],
          summary: 'The rate tables loaded, oldest first: id, effective date, source, version, classes',
          response: {
            200: Type.Object({
              tables: Type.Array(
                Type.Object({
                  id: Type.String(),
                  effective: Type.String(),
                  source: Type.String(),
                  version: Type.String(),
                  classes: Type.Array(Type.String()),
                }),
              ),
            }),
          },
        },
      },
      () => ({ tables: rates.book.list() }),
    );

    app.get(
      '/v1/rates/current',
      {
        config: { access: { roles: READERS, scope: 'indicia:read' } },
        schema: {
          tags: ['rates'],
          summary:
            "Housekeeping: is the client's cached table (by version) the one in force for a class and date?",
          querystring: Type.Object(
            {
              classCode: Type.String({ maxLength: 40 }),
              version: Type.String({ maxLength: 64 }),
              mailingDate: Type.Optional(Day),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              isCurrent: Type.Boolean(),
              current: Type.Union([
                Type.Object({ id: Type.String(), effective: Type.String(), version: Type.String() }),
                Type.Null(),
              ]),
            }),
          },
        },
      },
      (request) => rates.isCurrent(request.query.version, request.query.classCode, request.query.mailingDate),
    );

    app.post(
      '/v1/admin/rates/reload',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags: ['admin'],
          summary:
            'Load the rate tables and zone charts again (no restart); a bad file refuses the reload and those in force stay',
          response: { 200: Type.Object({ tables: Type.Integer(), zoneChartOrigins: Type.Integer() }) },
        },
      },
      () => rates.reload(),
    );
    return Promise.resolve();
  };
}
