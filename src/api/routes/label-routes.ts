import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseMeterNumber } from '../../indicium/index.ts';
import { indiciumLayout, indiciumSvg, pdfDocument, SAMPLE_MARK, sampleIndicium } from '../../labels/index.ts';
import { DEFAULT_METER_SETTINGS, type MetersService } from '../../meters/index.ts';
import type { Mills } from '../../money/index.ts';
import { principalOf } from '../authentication.ts';
import { Piece } from './value-schemas.ts';

/**
 * The print preview: the same renderer as a real label, from a sample indicium (zero signature,
 * registers at zero), marked "SAMPLE — NOT POSTAGE". Nothing is signed and no value moves.
 */
export function labelRoutes(meters: Pick<MetersService, 'dedicatedMeterOf'>): FastifyPluginAsyncTypebox {
  return (app) => {
    app.post(
      '/v1/labels/preview',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary:
            'A print preview: the label as it would print, marked SAMPLE — NOT POSTAGE; moves no value',
          body: Type.Object(
            {
              piece: Piece,
              format: Type.Optional(Type.Union([Type.Literal('svg'), Type.Literal('pdf')])),
            },
            { additionalProperties: false },
          ),
          produces: ['image/svg+xml', 'application/pdf'],
        },
      },
      async (request, reply) => {
        const { customerNumber } = principalOf(request);
        const meter = customerNumber === null ? undefined : await meters.dedicatedMeterOf(customerNumber);
        const number = meter === undefined ? null : parseMeterNumber(meter.meter_id);
        const { piece } = request.body;
        const bytes = sampleIndicium({
          algorithm: 'ecdsa-p256',
          certificateSerial: 0n,
          manufacturerId: number?.manufacturerId ?? DEFAULT_METER_SETTINGS.manufacturerId,
          modelId: number?.modelId ?? DEFAULT_METER_SETTINGS.dedicatedModelId,
          psdSerial: number?.serial ?? 0,
          ascendingRegister: 0 as Mills,
          postage: piece.postageMills as Mills,
          date: piece.mailingDate ?? new Date().toISOString().slice(0, 10),
          originZip: piece.originZip ?? meter?.licensing_zip ?? '00000',
          userId: customerNumber ?? 0,
          softwareId: DEFAULT_METER_SETTINGS.softwareId,
          labelSerial: 0,
          descendingRegister: 0 as Mills,
          rateCategory: piece.rateCategory,
        });
        if (request.body.format === 'pdf')
          return reply
            .type('application/pdf')
            .send(pdfDocument([indiciumLayout(bytes)], { sampleMark: SAMPLE_MARK }));
        return reply.type('image/svg+xml; charset=utf-8').send(indiciumSvg(bytes, { sample: true }));
      },
    );
    return Promise.resolve();
  };
}
