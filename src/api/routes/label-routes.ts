import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { AccountsService, Principal } from '../../accounts/index.ts';
import { type IndiciumFields, parseMeterNumber } from '../../indicium/index.ts';
import {
  type LabelAddress,
  type LabelContent,
  type LayoutName,
  LAYOUTS,
  type LabelFileFormat,
  type RenderJob,
  type RenderPool,
  PNG_DPI,
  SAMPLE_MARK,
  SHEET,
  TEST_PRINT_MARK,
  sampleIndicium,
} from '../../labels/index.ts';
import { DEFAULT_METER_SETTINGS, type MetersService } from '../../meters/index.ts';
import type { Mills } from '../../money/index.ts';
import { type AdTexts, type LabelStock, PrintingError } from '../../printing/index.ts';
import type { DatabaseSchema } from '../../store/index.ts';
import { principalOf } from '../authentication.ts';
import { returnAddressOf } from '../return-address.ts';
import { Digits, wholeNumber } from '../schemas.ts';
import { pricePiece } from '../piece-pricing.ts';
import type { RatesService } from '../../rates/index.ts';
import { Piece } from './value-schemas.ts';

export const LabelFormat = Type.Optional(
  Type.Union([Type.Literal('svg'), Type.Literal('pdf'), Type.Literal('png'), Type.Literal('zpl')]),
);
export const Layout = Type.Optional(
  Type.Union(
    [
      Type.Literal('indicium'),
      Type.Literal('envelope-10'),
      Type.Literal('label-4x6'),
      Type.Literal('sheet-label'),
    ],
    { description: `One of ${LAYOUTS.join(', ')} (docs/labels.md)` },
  ),
);
const Ad = Type.Optional(
  Type.String({
    maxLength: 60,
    description: 'Approved ad text beside the indicium on an envelope (GET /v1/ad-texts)',
  }),
);
const BodyDpi = Type.Optional(
  Type.Integer({
    minimum: PNG_DPI.min,
    maximum: PNG_DPI.max,
    description: 'PNG resolution (300 unless given)',
  }),
);
const Dpi = Type.Optional(
  Digits(`PNG resolution in dots per inch, ${PNG_DPI.min}–${PNG_DPI.max} (300 unless given)`),
);
const dpiOf = (dpi: string | undefined): number | undefined =>
  dpi === undefined ? undefined : wholeNumber(dpi, 'dpi', PNG_DPI);

const CONTENT_TYPES: Readonly<Record<LabelFileFormat, string>> = {
  pdf: 'application/pdf',
  png: 'image/png',
  zpl: 'application/x-zpl; charset=utf-8',
  svg: 'image/svg+xml; charset=utf-8',
};

/** Renders a label on the render threads and sends it in the asked format (SVG unless asked). */
async function sendLabel(
  reply: FastifyReply,
  renderer: RenderPool,
  job: Omit<RenderJob, 'output'>,
  format: LabelFileFormat = 'svg',
): Promise<FastifyReply> {
  return reply.type(CONTENT_TYPES[format]).send(await renderer.render({ ...job, output: format }));
}

export interface LabelRouteDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly meters: Pick<MetersService, 'dedicatedMeterOf' | 'indicium'>;
  readonly accounts: Pick<AccountsService, 'profile' | 'account'>;
  readonly stock: LabelStock;
  readonly renderer: RenderPool;
  readonly ads: AdTexts;
  readonly rates: RatesService;
}

const READERS = ['customer', 'support', 'admin', 'auditor'] as const;

/** The delivery address a test print shows where a real one would go. */
const TEST_ADDRESS: LabelAddress = {
  name: 'Delivery address here',
  line1: '123 Any Street',
  city: 'Anytown',
  state: 'NY',
  zip: '12345-6789',
};

/**
 * Labels: any indicium in any layout and format, the print preview (the same renderer on a sample
 * indicium, marked "SAMPLE — NOT POSTAGE"), and the test print for lining up printer and stock.
 * A sample signs nothing and moves no value.
 */
export function labelRoutes({
  db,
  meters,
  accounts,
  renderer,
  ads,
  rates,
  stock,
}: LabelRouteDependencies): FastifyPluginAsyncTypebox {
  /** The customer's own name and mailing address: the return address unless a piece gives one. */
  /** A sample indicium with the fields the customer's meter would print. */
  const meterOf = async (principal: Principal) =>
    principal.customerNumber === null ? undefined : meters.dedicatedMeterOf(principal.customerNumber);

  const sampleFor = (
    principal: Principal,
    meter: Awaited<ReturnType<typeof meterOf>>,
    piece: Partial<Pick<IndiciumFields, 'postage' | 'date' | 'originZip' | 'rateCategory'>>,
  ) => {
    const { customerNumber } = principal;
    const number = meter === undefined ? null : parseMeterNumber(meter.meter_id);
    return sampleIndicium({
      algorithm: 'ecdsa-p256',
      certificateSerial: 0n,
      manufacturerId: number?.manufacturerId ?? DEFAULT_METER_SETTINGS.manufacturerId,
      modelId: number?.modelId ?? DEFAULT_METER_SETTINGS.dedicatedModelId,
      psdSerial: number?.serial ?? 0,
      ascendingRegister: 0 as Mills,
      postage: piece.postage ?? (0 as Mills),
      date: piece.date ?? new Date().toISOString().slice(0, 10),
      originZip: piece.originZip ?? meter?.licensing_zip ?? '00000',
      userId: customerNumber ?? 0,
      softwareId: DEFAULT_METER_SETTINGS.softwareId,
      labelSerial: 0,
      descendingRegister: 0 as Mills,
      rateCategory: piece.rateCategory ?? 'FC',
    });
  };

  return (app) => {
    app.get(
      '/v1/indicia/:id/label',
      {
        config: { access: { roles: READERS, scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary:
            'The printable label: SVG, PDF (vector barcode and the human-readable fields), PNG (at a chosen dpi) or ZPL (Zebra); as the indicium alone, on a #10 envelope, a 4×6 label or its place on a serialized sheet',
          params: Type.Object({ id: Type.String({ maxLength: 60 }) }),
          querystring: Type.Object(
            {
              format: LabelFormat,
              layout: Layout,
              symbology: Type.Optional(Type.Union([Type.Literal('datamatrix'), Type.Literal('pdf417')])),
              ad: Ad,
              dpi: Dpi,
            },
            { additionalProperties: false },
          ),
          produces: ['image/svg+xml', 'application/pdf', 'image/png', 'application/x-zpl'],
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const scope = principal.role === 'customer' ? (principal.customerNumber ?? -1) : null;
        const row = await meters.indicium(scope, request.params.id);
        const layout: LayoutName = request.query.layout ?? 'indicium';
        const content: { -readonly [K in keyof LabelContent]: LabelContent[K] } = {
          indicium: Buffer.from(row.data, 'base64'),
          symbology: request.query.symbology ?? 'datamatrix',
        };
        if (layout === 'envelope-10' || layout === 'label-4x6') {
          const addresses = await db
            .selectFrom('piece_addresses')
            .selectAll()
            .where('indicium_id', '=', row.id)
            .executeTakeFirst();
          if (addresses === undefined || addresses.to_address === null)
            throw new PrintingError(
              'label.address_missing',
              `Indicium ${row.id} was printed without a delivery address, so it has no ${layout} label: print it with layout=indicium, or give "to" with the piece when printing.`,
            );
          content.to = JSON.parse(addresses.to_address) as LabelAddress;
          content.from =
            addresses.from_address === null
              ? await returnAddressOf(accounts, principal)
              : (JSON.parse(addresses.from_address) as LabelAddress);
        }
        if (request.query.ad !== undefined) content.adText = await ads.lines(request.query.ad);
        if (layout === 'sheet-label') {
          const place = row.label_serial === 0 ? undefined : await stock.placeOf(row.label_serial);
          if (place === undefined)
            throw new PrintingError(
              'label.serial_unknown',
              `Indicium ${row.id} was not printed on serialized stock; choose another layout.`,
            );
          content.stock = place;
        }
        return sendLabel(
          reply,
          renderer,
          { layout, contents: [content], dpi: dpiOf(request.query.dpi) },
          request.query.format,
        );
      },
    );

    app.post(
      '/v1/labels/preview',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary:
            'A print preview: the label as it would print, marked SAMPLE — NOT POSTAGE; moves no value',
          body: Type.Object(
            { piece: Piece, format: LabelFormat, layout: Layout, dpi: BodyDpi, ad: Ad },
            { additionalProperties: false },
          ),
          produces: ['image/svg+xml', 'application/pdf', 'image/png', 'application/x-zpl'],
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const meter = await meterOf(principal);
        const piece = pricePiece(request.body.piece, rates, meter?.licensing_zip ?? null);
        const layout = request.body.layout ?? 'indicium';
        const indicium = sampleFor(principal, meter, {
          postage: piece.postage,
          ...(piece.mailingDate === undefined ? {} : { date: piece.mailingDate }),
          ...(piece.originZip === undefined ? {} : { originZip: piece.originZip }),
          rateCategory: piece.rateCategory,
        });
        const content: LabelContent = {
          indicium,
          from: piece.from ?? (await returnAddressOf(accounts, principal)),
          ...(request.body.ad === undefined ? {} : { adText: await ads.lines(request.body.ad) }),
          to: piece.to ?? null,
          ...(layout === 'sheet-label' ? { stock: { labelSerial: 0, sheetSerial: 0, position: 1 } } : {}),
        };
        const mark = { text: SAMPLE_MARK, outline: false };
        const job = { layout, contents: [content], dpi: request.body.dpi, mark };
        return sendLabel(reply, renderer, job, request.body.format);
      },
    );

    app.post(
      '/v1/labels/test-print',
      {
        config: { access: { roles: ['customer'], scope: 'indicia:read' } },
        schema: {
          tags: ['indicia'],
          summary:
            'A test print: an envelope, 4×6 label or sheet with sample indicia and the edges drawn, to line up printer and stock; moves no value',
          body: Type.Object(
            { format: LabelFormat, layout: Layout, dpi: BodyDpi },
            { additionalProperties: false },
          ),
          produces: ['application/pdf', 'image/svg+xml', 'image/png', 'application/x-zpl'],
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const layout = request.body.layout ?? 'envelope-10';
        const indicium = sampleFor(principal, await meterOf(principal), {});
        const isSheet = layout === 'sheet-label';
        const contents = isSheet
          ? Array.from({ length: SHEET.labels }, (_, index) => ({
              indicium,
              stock: { labelSerial: 0, sheetSerial: 0, position: index + 1 },
            }))
          : [{ indicium, from: await returnAddressOf(accounts, principal), to: TEST_ADDRESS }];
        const mark = { text: TEST_PRINT_MARK, outline: !isSheet, outlines: isSheet };
        const job = { layout: isSheet ? ('sheet' as const) : layout, contents, dpi: request.body.dpi, mark };
        return sendLabel(reply, renderer, job, request.body.format ?? 'pdf');
      },
    );
    return Promise.resolve();
  };
}
