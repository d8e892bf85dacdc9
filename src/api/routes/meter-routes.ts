import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AccountError } from '../../accounts/index.ts';
import type { MetersService } from '../../meters/index.ts';
import type { PsdView } from '../../vault/index.ts';
import { principalOf } from '../authentication.ts';

const Mills = (description: string) =>
  Type.Integer({ description: `${description}, in mills (1/1000 dollar)` });

export const MeterResponse = Type.Union(
  [
    Type.Object({
      mode: Type.Literal('dedicated'),
      customerNumber: Type.Integer(),
      meterId: Type.String({ examples: ['421D00000001'] }),
      status: Type.String({ examples: ['active'] }),
      psdState: Type.String({ examples: ['active'] }),
      licensingZip: Type.String(),
      certificateSerial: Type.String({ description: 'The certificate that verifies what the meter prints' }),
      ascendingRegisterMills: Mills('Postage printed so far (AR)'),
      descendingRegisterMills: Mills('Postage left to print (DR)'),
      maxDescendingRegisterMills: Mills('The most the DR may hold'),
      refundRegisterMills: Mills('Postage refunded out of the meter'),
      deviceEnrolled: Type.Boolean({
        description: 'Whether a device (one or more, not revoked) is enrolled to sign value-moving requests',
      }),
      challenge: Type.Union([Type.String(), Type.Null()], {
        description:
          "The challenge of the meter's only device; null with several (each has its own: GET /v1/devices/{id})",
      }),
    }),
    Type.Object({
      mode: Type.Literal('pooled'),
      customerNumber: Type.Integer(),
      balanceMills: Mills('Prefunded balance pooled postage is paid from'),
      ascendingRegisterMills: Mills('Postage printed from the balance (the client package’s AR)'),
      descendingRegisterMills: Mills(
        'The balance as the client package mirrors it (its DR): a device signs with these',
      ),
      deviceEnrolled: Type.Boolean(),
      challenge: Type.Union([Type.String(), Type.Null()]),
    }),
  ],
  { $id: 'Meter' },
);

/** The challenge of the package's only live device: with several, each one's is in /v1/devices. */
function onlyChallenge(psd: PsdView | null): string | null {
  const live = psd?.devices.filter((device) => device.revokedAt === null) ?? [];
  return live.length === 1 ? (live[0]?.challenge ?? null) : null;
}

/** The customer's own meter, or prefunded balance when they print from the pool. */
export function meterRoutes(meters: Pick<MetersService, 'customerMeter'>): FastifyPluginAsyncTypebox {
  return (app) => {
    app.get(
      '/v1/meter',
      {
        config: { access: { roles: ['customer'], scope: 'meter:read', verifiedEmail: true } },
        schema: {
          tags: ['meter'],
          summary: "The customer's meter and registers (dedicated) or prefunded balance (pooled)",
          response: { 200: MeterResponse },
        },
      },
      async (request) => {
        const { customerNumber, meterMode } = principalOf(request);
        if (customerNumber === null || meterMode === null)
          throw new AccountError('account.forbidden', 'Only customer accounts have a meter.');
        const found = await meters.customerMeter(customerNumber, meterMode);
        if (found.mode === 'pooled')
          return {
            mode: 'pooled' as const,
            customerNumber,
            balanceMills: found.balance,
            ascendingRegisterMills: found.client?.ascendingRegister ?? 0,
            descendingRegisterMills: found.client?.descendingRegister ?? found.balance,
            deviceEnrolled: found.client?.hasHmk ?? false,
            challenge: onlyChallenge(found.client),
          };
        return {
          mode: 'dedicated' as const,
          customerNumber,
          meterId: found.meter.meter_id,
          status: found.meter.status,
          psdState: found.psd.state,
          licensingZip: found.meter.licensing_zip,
          certificateSerial: found.meter.certificate_serial,
          ascendingRegisterMills: found.psd.ascendingRegister,
          descendingRegisterMills: found.psd.descendingRegister,
          maxDescendingRegisterMills: found.psd.maxDescendingRegister,
          refundRegisterMills: found.psd.refundRegister,
          deviceEnrolled: found.psd.hasHmk,
          challenge: onlyChallenge(found.psd),
        };
      },
    );
    return Promise.resolve();
  };
}
