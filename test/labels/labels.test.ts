import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient, type Indicium } from '../../src/client/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { moduleGrid, pagePng, sampleIndicium } from '../../src/labels/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';
import { decodeBarcodes } from '../support/zxing.ts';

const DELIVERY = {
  name: 'Charles Babbage',
  line1: '1600 Pennsylvania Ave NW',
  city: 'Washington',
  state: 'DC',
  zip: '20500-0003',
};

/** The text of a PDF (pdftotext) and the symbols ZXing decodes from its first page at 300 dpi. */
async function readPdf(
  pdf: Uint8Array,
  formats: ('DataMatrix' | 'PDF417')[] = ['DataMatrix'],
): Promise<{ text: string; decoded: Buffer[] }> {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-pdf-'));
  writeFileSync(join(folder, 'label.pdf'), pdf);
  const text = runCommand('pdftotext', ['-raw', join(folder, 'label.pdf'), '-']);
  assert.equal(text.status, 0, text.output);
  const raster = runCommand('pdftoppm', [
    '-r',
    '300',
    '-png',
    '-singlefile',
    join(folder, 'label.pdf'),
    join(folder, 'page'),
  ]);
  assert.equal(raster.status, 0, raster.output);
  return {
    text: text.output,
    decoded: await decodeBarcodes(readFileSync(join(folder, 'page.png')), formats),
  };
}

for (const fixture of dialectFixtures) {
  describe(`barcodes and labels on ${fixture.name}`, () => {
    // What only renders runs once; what reads or writes the database runs on every dialect.
    const isRenderingRun = fixture.name === 'sqlite';
    let server: TestServer;
    let client: IndiciaClient;
    let indicium: Indicium;
    let apiKey: string;

    before(async () => {
      if (runCommand('which', ['pdftotext']).status !== 0)
        installDebianPackages(['poppler-utils'], 'The label tests read PDFs with poppler-utils');
      server = await startTestServer(fixture);
      const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
      assert.ok(demo !== undefined);
      client = new IndiciaClient({ baseUrl: server.indicia.url });
      await client.signIn(demo.email, demo.password);
      apiKey = (await client.createApiKey('previews', ['indicia:read'])).key;
      await client.enrollDevice('label printer', (await server.indicia.meters.enrollmentKey()).fingerprint);
      await client.addFunds(10_000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
      const printed = await client.issueIndicia([
        { postageMills: 730, rateCategory: 'FC', originZip: '10118', to: DELIVERY },
      ]);
      assert.ok(printed.indicia[0] !== undefined);
      indicium = printed.indicia[0];
    });
    after(() => server.stop());

    if (isRenderingRun)
      it('carries every byte value: a reader we did not write decodes DataMatrix and PDF417 back exactly', async () => {
        const bytes = Buffer.from(Array.from({ length: 121 }, (_, index) => (index * 37) % 256));
        for (const symbology of ['datamatrix', 'pdf417'] as const) {
          const grid = moduleGrid(bytes, symbology);
          const symbol = { x: 4, y: 4, moduleSize: 1.44, grid, rotation: 0 as const, bytes };
          const page = {
            width: grid.width * 1.44 + 8,
            height: grid.height * 1.44 + 8,
            symbols: [symbol],
            fills: [],
            strokes: [],
            lines: [],
            mark: null,
          };
          const [decoded] = await decodeBarcodes(pagePng(page, 300), [
            symbology === 'datamatrix' ? 'DataMatrix' : 'PDF417',
          ]);
          assert.ok(decoded !== undefined, `${symbology} decoded`);
          assert.ok(decoded.equals(bytes), `${symbology} round trip`);
        }
        const grid = moduleGrid(bytes);
        assert.equal(grid.width, grid.height, 'a square DataMatrix');
        assert.equal(grid.dark.length, grid.width * grid.height);
      });

    it('serves an issued indicium as PNG, SVG, PDF and ZPL; the PNG and the rasterized PDF decode to the issued bytes, which verify', async () => {
      const png = await client.label(indicium.id, { format: 'png' });
      assert.ok(png instanceof Uint8Array);
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      const [decoded] = await decodeBarcodes(png, ['DataMatrix']);
      assert.ok(decoded !== undefined);
      assert.equal(decoded.toString('base64'), indicium.data);
      const scan = await server.indicia.meters.verify(decoded, 'label test');
      assert.equal(scan.outcome, 'valid');

      const svg = await client.label(indicium.id);
      assert.equal(typeof svg, 'string');
      for (const field of ['US POSTAGE', '$0.73', 'FIRST-CLASS MAIL', 'FROM 10118', 'INDICIA'])
        assert.ok(String(svg).includes(field), field);
      assert.match(
        String(svg),
        /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="1\.44"\/>/,
        'vector modules of 20 mils',
      );
      // The PDF: text a PDF reader extracts, and a page poppler rasterizes that ZXing decodes.
      const pdf = await client.label(indicium.id, { format: 'pdf' });
      assert.ok(pdf instanceof Uint8Array);
      const read = await readPdf(pdf);
      for (const field of ['US POSTAGE', '$0.73', 'FIRST-CLASS MAIL', 'FROM 10118'])
        assert.ok(read.text.includes(field), field);
      assert.equal(
        read.decoded[0]?.toString('base64'),
        indicium.data,
        'the rasterized PDF decodes to the issued bytes',
      );

      const zpl = String(await client.label(indicium.id, { format: 'zpl' }));
      assert.match(zpl, /^\^XA\n/);
      const field = /\^BXN,4,200\^FH_\^FD((?:_[0-9A-F]{2})+)\^FS/.exec(zpl)?.[1] ?? '';
      assert.equal(
        Buffer.from(field.replaceAll('_', ''), 'hex').toString('base64'),
        indicium.data,
        'ZPL carries the bytes',
      );
      assert.ok(zpl.includes('^FD$0.73^FS') && zpl.includes('FROM 10118'));
      const pdf417 = await client.label(indicium.id, { format: 'png', symbology: 'pdf417' });
      assert.ok(pdf417 instanceof Uint8Array);
      const [fromPdf417] = await decodeBarcodes(pdf417, ['PDF417']);
      assert.equal(fromPdf417?.toString('base64'), indicium.data);
    });

    it('previews a label marked SAMPLE — NOT POSTAGE, from a sample that never verifies, moving nothing', async () => {
      const before = await client.meter();
      const piece = { postageMills: 1_500, rateCategory: 'PM', originZip: '10118' };
      const svg = await client.request<string>('POST', '/v1/labels/preview', { piece });
      assert.ok(
        svg.includes('SAMPLE — NOT POSTAGE') && svg.includes('$1.50') && svg.includes('PRIORITY MAIL'),
      );
      const response = await fetch(`${server.indicia.url}/v1/labels/preview`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ piece, format: 'pdf' }),
      });
      assert.equal(response.status, 200);
      const folder = mkdtempSync(join(tmpdir(), 'indicia-preview-'));
      writeFileSync(join(folder, 'preview.pdf'), Buffer.from(await response.arrayBuffer()));
      // -raw: in the order drawn (the mark is rotated, so layout analysis would interleave it).
      const text = runCommand('pdftotext', ['-raw', join(folder, 'preview.pdf'), '-']);
      assert.ok(text.output.includes('SAMPLE — NOT POSTAGE'), text.output);
      // A sample carries a real indicium's fields but a zero signature: no scan accepts it.
      const sample = sampleIndicium(decodeIndicium(Buffer.from(indicium.data, 'base64')));
      assert.notEqual((await server.indicia.meters.verify(sample, 'preview test')).outcome, 'valid');
      assert.deepEqual(await client.meter(), before, 'no value moved');
    });

    if (isRenderingRun)
      it('lays the indicium out on a #10 envelope and a 4×6 label with the addresses, in every format, decodable', async () => {
        for (const layout of ['envelope-10', 'label-4x6'] as const) {
          const pdf = await client.label(indicium.id, { layout, format: 'pdf' });
          assert.ok(pdf instanceof Uint8Array);
          const { text, decoded } = await readPdf(pdf);
          for (const field of [
            'US POSTAGE',
            '$0.73',
            'CHARLES BABBAGE',
            '1600 PENNSYLVANIA AVE NW',
            'WASHINGTON DC 20500-0003',
            'DEMO',
          ])
            assert.ok(text.toUpperCase().includes(field), `${layout} PDF: ${field}`);
          assert.equal(decoded[0]?.toString('base64'), indicium.data, `${layout} PDF decodes`);
          const png = await client.label(indicium.id, { layout, format: 'png', dpi: 300 });
          assert.ok(png instanceof Uint8Array);
          assert.equal(
            (await decodeBarcodes(png, ['DataMatrix']))[0]?.toString('base64'),
            indicium.data,
            `${layout} PNG decodes`,
          );
          const svg = String(await client.label(indicium.id, { layout }));
          assert.ok(svg.includes('CHARLES BABBAGE') && svg.includes('US POSTAGE'), `${layout} SVG`);
          const zpl = String(await client.label(indicium.id, { layout, format: 'zpl' }));
          // The 4×6 label turns its symbol a quarter (docs/labels.md); the printer turns its own with R.
          const command = layout === 'label-4x6' ? '^BXR,4,200' : '^BXN,4,200';
          assert.ok(zpl.includes(command) && zpl.includes('CHARLES BABBAGE'), `${layout} ZPL`);
        }
        const plain = await client.issueIndicia([{ postageMills: 500, rateCategory: 'FC' }]);
        await assert.rejects(
          client.label(plain.indicia[0]?.id ?? '', { layout: 'envelope-10' }),
          (error: unknown) => {
            assert.ok(error instanceof IndiciaApiError);
            assert.equal(error.status, 422);
            assert.equal(error.code, 'label.address_missing');
            return true;
          },
        );
      });

    it('serialized sheets: ten labels printable once each; reuse, unknown serials and an exhausted sheet are refused, moving nothing', async () => {
      const sheet = await client.printing.createLabelSheet();
      assert.equal(sheet.labels.length, 10);
      assert.ok(sheet.labels.every((label) => label.state === 'valid'));
      const printed = [];
      for (let index = 0; index < 10; index += 1)
        printed.push(
          await client.printing.printOnSheet(sheet.serial, { postageMills: 600, rateCategory: 'FC' }),
        );
      assert.deepEqual(
        printed.map((answer) => answer.label.position),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      for (const answer of printed)
        assert.equal(
          decodeIndicium(Buffer.from(answer.indicium.data, 'base64')).labelSerial,
          answer.label.serial,
          'the indicium carries its label serial',
        );
      const before = await client.meter();
      const refusal = async (promise: Promise<unknown>, status: number, code: string): Promise<void> => {
        await assert.rejects(promise, (error: unknown) => {
          assert.ok(error instanceof IndiciaApiError, String(error));
          assert.equal(error.status, status, error.message);
          assert.equal(error.code, code);
          return true;
        });
      };
      await refusal(
        client.printing.printOnSheet(sheet.serial, { postageMills: 600, rateCategory: 'FC' }),
        409,
        'label.sheet_exhausted',
      );
      const used = printed[3]?.label.serial ?? 0;
      await refusal(
        client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: used }]),
        409,
        'label.serial_used',
      );
      await refusal(
        client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: 123_456_789 }]),
        404,
        'label.serial_unknown',
      );
      await refusal(client.printing.labelSheet(42), 404, 'label.sheet_unknown');
      // The device's challenge survived every refusal; nothing moved.
      assert.deepEqual(await client.meter(), before);
      const after = await client.printing.labelSheet(sheet.serial);
      assert.ok(after.labels.every((label) => label.state === 'used' && label.indiciumId !== null));

      // A label from a new sheet by serial, and its place on the sheet drawn where the label is.
      const next = await client.printing.createLabelSheet();
      const label = next.labels[6];
      assert.ok(label !== undefined);
      // An issuance that fails after the label was reserved (more postage than the meter holds)
      // puts the label back; a reservation a crash left behind is taken over after 10 minutes.
      await refusal(
        client.issueIndicia([{ postageMills: 90_000_000, rateCategory: 'PM', labelSerial: label.serial }]),
        422,
        'psd.insufficient_funds',
      );
      assert.equal((await client.printing.labelSheet(next.serial)).labels[6]?.state, 'valid');
      const stranded = next.labels[7];
      assert.ok(stranded !== undefined);
      const db = server.indicia.store.db;
      const strand = (minutesAgo: number) =>
        db
          .updateTable('sheet_labels')
          .set({ state: 'reserved', used_at: new Date(Date.now() - minutesAgo * 60_000).toISOString() })
          .where('label_serial', '=', stranded.serial)
          .execute();
      await strand(1);
      await refusal(
        client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: stranded.serial }]),
        409,
        'label.serial_used',
      );
      await strand(11);
      await client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: stranded.serial }]);
      assert.equal((await client.printing.labelSheet(next.serial)).labels[7]?.state, 'used');
      const [onLabel] = (
        await client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: label.serial }])
      ).indicia;
      assert.ok(onLabel !== undefined);
      const pdf = await client.label(onLabel.id, { layout: 'sheet-label', format: 'pdf' });
      assert.ok(pdf instanceof Uint8Array);
      const { text, decoded } = await readPdf(pdf);
      assert.ok(
        text.includes(`SHEET ${next.serial}  LABEL ${label.serial}`) ||
          text.includes(`LABEL ${label.serial}`),
        text,
      );
      assert.equal(decoded[0]?.toString('base64'), onLabel.data);
      await refusal(client.label(indicium.id, { layout: 'sheet-label' }), 404, 'label.serial_unknown');
    });

    if (isRenderingRun)
      it('test prints an envelope, a 4×6 label and a sheet with the edges drawn and TEST PRINT across, moving nothing', async () => {
        const before = await client.meter();
        for (const layout of ['envelope-10', 'label-4x6', 'sheet-label'] as const) {
          const pdf = await client.printing.testPrint({ layout });
          assert.ok(pdf instanceof Uint8Array, layout);
          const { text } = await readPdf(pdf);
          assert.ok(text.includes('TEST PRINT — NOT POSTAGE'), `${layout}: ${text}`);
          assert.ok(text.includes('US POSTAGE'), layout);
        }
        const preview = await client.printing.preview(
          { postageMills: 730, rateCategory: 'FC', to: DELIVERY },
          { layout: 'envelope-10', format: 'png', dpi: 150 },
        );
        assert.ok(preview instanceof Uint8Array);
        assert.deepEqual(await client.meter(), before);
      });

    it('prints only operator-approved ad text beside the indicium on an envelope', async () => {
      const operator = server.indicia.demoCredentials.find((credential) => credential.role === 'admin');
      assert.ok(operator !== undefined);
      const admin = new IndiciaClient({ baseUrl: server.indicia.url });
      await admin.signIn(operator.email, operator.password);
      const ad = await admin.printing.approveAdText(['Holiday sale', 'SHOP.EXAMPLE.COM']);
      assert.deepEqual(
        (await client.printing.adTexts()).map((text) => text.id),
        [ad.id],
      );
      const pdf = await client.label(indicium.id, { layout: 'envelope-10', format: 'pdf', ad: ad.id });
      assert.ok(pdf instanceof Uint8Array);
      const { text, decoded } = await readPdf(pdf);
      assert.ok(text.includes('Holiday sale') && text.includes('SHOP.EXAMPLE.COM'), text);
      assert.equal(decoded[0]?.toString('base64'), indicium.data);
      await assert.rejects(
        client.printing.approveAdText(['mine']),
        (error: unknown) => error instanceof IndiciaApiError && error.status === 403,
      );
      await assert.rejects(
        admin.printing.approveAdText(['x'.repeat(31)]),
        (error: unknown) => error instanceof IndiciaApiError && error.code === 'label.ad_invalid',
      );
      await admin.printing.withdrawAdText(ad.id);
      assert.deepEqual(await client.printing.adTexts(), []);
      await assert.rejects(
        client.label(indicium.id, { layout: 'envelope-10', ad: ad.id }),
        (error: unknown) =>
          error instanceof IndiciaApiError && error.status === 404 && error.code === 'label.ad_unknown',
      );
    });
  });
}
