import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { REVOCATION_REASONS } from '../../authority/index.ts';
import type { MetersService } from '../../meters/index.ts';

const NullableString = Type.Union([Type.String(), Type.Null()]);

const Report = Type.Object(
  {
    id: Type.String(),
    scanId: Type.String(),
    outcome: Type.String({ examples: ['duplicate', 'implausible', 'unknown_indicium'] }),
    reason: Type.String(),
    meterId: NullableString,
    indiciumId: NullableString,
    customerNumber: Type.Union([Type.Integer(), Type.Null()]),
    verifier: Type.String(),
    policy: Type.String({ examples: ['disable-meter', 'report-only'] }),
    action: Type.String({
      examples: ['meter_disabled', 'already_inactive', 'reported_only', 'pooled_reported_only'],
    }),
    actionDetail: NullableString,
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'RevenueProtectionReport' },
);

const tags = ['admin'];

/**
 * Revenue protection for operators: the reports fraud-looking scans filed for the authority
 * (read by support and auditors too), and revoking a meter certificate (admins).
 */
export function revenueProtectionRoutes(
  meters: Pick<MetersService, 'revenueProtectionReports' | 'revokeCertificate'>,
): FastifyPluginAsyncTypebox {
  return (app) => {
    app.addSchema(Report);

    app.get(
      '/v1/admin/revenue-protection-reports',
      {
        config: { access: { roles: ['admin', 'support', 'auditor'] } },
        schema: {
          tags,
          summary:
            'Reports for the authority: each duplicate, implausible or unknown scan, the meter, the reason, and what the policy did; newest first',
          querystring: Type.Object(
            {
              limit: Type.Optional(
                Type.String({ pattern: '^(200|1[0-9]{2}|[1-9][0-9]?)$', examples: ['50'] }),
              ),
              cursor: Type.Optional(Type.String({ maxLength: 60 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              reports: Type.Array(Type.Ref('RevenueProtectionReport')),
              nextCursor: NullableString,
            }),
          },
        },
      },
      async (request) =>
        meters.revenueProtectionReports({
          limit: Number(request.query.limit ?? '50'),
          before: request.query.cursor,
        }),
    );

    app.post(
      '/v1/admin/certificates/:serial/revoke',
      {
        config: { access: { roles: ['admin'] } },
        schema: {
          tags,
          summary:
            "Revoke a meter certificate (RFC 5280 reason); a meter's current one also suspends the meter until it is rekeyed",
          params: Type.Object({
            serial: Type.String({ pattern: '^[0-9a-fA-F]{16}$', examples: ['1302e985809d2e5d'] }),
          }),
          body: Type.Object(
            {
              reason: Type.Union(REVOCATION_REASONS.map((reason) => Type.Literal(reason))),
              note: Type.Optional(Type.String({ maxLength: 500 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              serial: Type.String(),
              meterId: NullableString,
              meterSuspended: Type.Boolean(),
            }),
          },
        },
      },
      async (request) => {
        const revoked = await meters.revokeCertificate(
          request.params.serial,
          request.body.reason,
          request.body.note ?? null,
        );
        return { serial: revoked.serial, meterId: revoked.meterId, meterSuspended: revoked.isMeterSuspended };
      },
    );
    return Promise.resolve();
  };
}
