import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AddressProvider } from '../../addresses/index.ts';

const Field = (description: string) => Type.String({ maxLength: 1000, description });

const StandardAddress = Type.Object({
  line1: Type.String(),
  line2: Type.Optional(Type.String()),
  city: Type.String(),
  state: Type.String(),
  zip: Type.String(),
  kind: Type.String({
    examples: ['street', 'po_box', 'rural_route', 'highway_contract', 'military', 'general_delivery'],
  }),
});

/** Address verification: standardized the Publication 28 way and checked against the provider's reference. */
export function addressRoutes(provider: AddressProvider): FastifyPluginAsyncTypebox {
  return (app) => {
    app.post(
      '/v1/addresses/verify',
      {
        config: { access: { roles: ['customer', 'support', 'admin', 'auditor'], scope: 'indicia:read' } },
        schema: {
          tags: ['addresses'],
          summary:
            'Verify an address: standardized (USPS Publication 28), checked against the ZIP reference, with ranked candidates when it is wrong or ambiguous',
          body: Type.Union([
            Type.Object(
              {
                line1: Field('Street address, PO Box, rural route…'),
                line2: Type.Optional(Field('Apartment, suite…')),
                city: Type.Optional(Field('City')),
                state: Type.Optional(Field('State code or name')),
                zip: Type.Optional(Field('ZIP or ZIP+4')),
              },
              { additionalProperties: false },
            ),
            Type.Object({ text: Field('The whole address as one text') }, { additionalProperties: false }),
          ]),
          response: {
            200: Type.Object({
              status: Type.String({ examples: ['valid', 'corrected', 'ambiguous', 'invalid', 'unverified'] }),
              address: Type.Union([StandardAddress, Type.Null()]),
              candidates: Type.Array(
                Type.Object({
                  address: StandardAddress,
                  match: Type.Array(Type.String()),
                  score: Type.Number(),
                }),
              ),
              messages: Type.Array(Type.String()),
              provider: Type.String(),
              limits: Type.String({ description: 'What the provider does not check' }),
            }),
          },
        },
      },
      async (request) => {
        const result = await provider.verify(request.body);
        return {
          ...result,
          candidates: result.candidates.map((candidate) => ({ ...candidate, match: [...candidate.match] })),
          messages: [...result.messages],
          limits: provider.limits,
        };
      },
    );
    return Promise.resolve();
  };
}
