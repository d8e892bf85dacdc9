import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { DecodedIndicium } from '../../indicium/index.ts';
import type { MetersService } from '../../meters/index.ts';
import { principalOf } from '../authentication.ts';

const Barcode = Type.Object(
  { indicium: Type.String({ maxLength: 1024, description: 'The barcode bytes, base64' }) },
  { additionalProperties: false },
);

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** What the barcode says, field by field (docs/indicium-format.md). */
const IndiciumFields = Type.Object(
  {
    version: Type.Integer(),
    algorithm: Type.String({ examples: ['ecdsa-p256', 'ed25519'] }),
    certificateSerial: Type.String({ description: '16 hex digits', examples: ['1302e985809d2e5d'] }),
    meterNumber: Type.String({ examples: ['421D00000001'] }),
    ascendingRegisterMills: Type.Integer(),
    descendingRegisterMills: Type.Integer(),
    postageMills: Type.Integer(),
    mailingDate: Type.String({ examples: ['2026-11-23'] }),
    originZip: Type.String(),
    customerNumber: Type.Integer(),
    softwareId: Type.Integer(),
    labelSerial: Type.Integer(),
    rateCategory: Type.String(),
  },
  { $id: 'IndiciumFields' },
);

function fieldsOf(indicium: DecodedIndicium) {
  return {
    version: indicium.version,
    algorithm: indicium.algorithm,
    certificateSerial: indicium.certificateSerial.toString(16).padStart(16, '0'),
    meterNumber: `${indicium.manufacturerId}${indicium.modelId}${String(indicium.psdSerial).padStart(8, '0')}`,
    ascendingRegisterMills: indicium.ascendingRegister,
    descendingRegisterMills: indicium.descendingRegister,
    postageMills: indicium.postage,
    mailingDate: indicium.date,
    originZip: indicium.originZip,
    customerNumber: indicium.userId,
    softwareId: indicium.softwareId,
    labelSerial: indicium.labelSerial,
    rateCategory: indicium.rateCategory,
  };
}

/**
 * Checking indicia. Anyone may ask whether a piece is genuine (`GET /v1/public/verify`, its own
 * per-address rate limit): the answer records nothing, so a look by a support agent, an auditor
 * or the addressee never makes the piece's next scan a duplicate. Only a verifier (a postal or
 * gate scanner's account) records scans, which is what duplicate detection counts.
 */
export function verificationRoutes(
  meters: Pick<MetersService, 'verify' | 'check'>,
): FastifyPluginAsyncTypebox {
  return (app) => {
    app.addSchema(IndiciumFields);
    const fieldsRef = Type.Union([Type.Ref('IndiciumFields'), Type.Null()]);

    // A GET: safe by definition, so no idempotency record (or anything else) is written for it.
    app.get(
      '/v1/public/verify',
      {
        config: { access: { public: true }, rateLimit: 'public-verify' },
        schema: {
          tags: ['indicia'],
          summary:
            'Is this indicium genuine? Anyone may ask; nothing is recorded (30 checks a minute per address)',
          querystring: Type.Object(
            {
              indicium: Type.String({
                maxLength: 1024,
                pattern: '^[A-Za-z0-9+/_-]+={0,2}$',
                description: 'The barcode bytes, base64url (or base64, URL-encoded)',
              }),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              genuine: Type.Boolean(),
              outcome: Type.String({
                examples: ['valid', 'bad_signature', 'bad_certificate', 'unknown_indicium', 'implausible'],
              }),
              reason: NullableString,
              seenBefore: Type.Boolean({ description: 'A verifier scanned this very indicium before' }),
              indicium: fieldsRef,
            }),
          },
        },
      },
      async (request) => {
        // Node's base64 decoder reads the URL-safe alphabet too.
        const check = await meters.check(Buffer.from(request.query.indicium, 'base64'));
        return {
          genuine: check.isGenuine,
          outcome: check.outcome,
          reason: check.reason,
          seenBefore: check.isSeenBefore,
          indicium: check.indicium === null ? null : fieldsOf(check.indicium),
        };
      },
    );

    app.post(
      '/v1/verify',
      {
        config: { access: { roles: ['verifier'], scope: 'scans:record' } },
        schema: {
          tags: ['indicia'],
          summary:
            "A verifier's scan, recorded: the same indicium twice is a duplicate, which files a report for the authority and (by policy) disables the meter",
          body: Barcode,
          response: {
            200: Type.Object({
              outcome: Type.String({ examples: ['valid', 'duplicate', 'implausible', 'unknown_indicium'] }),
              reason: NullableString,
              meterId: NullableString,
              indiciumId: NullableString,
              report: Type.Union([
                Type.Object({
                  id: Type.String(),
                  action: Type.String({ examples: ['meter_disabled', 'reported_only'] }),
                }),
                Type.Null(),
              ]),
            }),
          },
        },
      },
      async (request) => {
        const report = await meters.verify(
          Buffer.from(request.body.indicium, 'base64'),
          principalOf(request).email,
        );
        const filed = report.revenueProtection ?? null;
        return {
          outcome: report.outcome,
          reason: report.reason,
          meterId: report.meterId,
          indiciumId: report.indiciumId,
          report: filed === null ? null : { id: filed.reportId, action: filed.action },
        };
      },
    );
    return Promise.resolve();
  };
}
