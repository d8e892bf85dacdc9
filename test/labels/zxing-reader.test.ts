import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient, type Indicium } from '../../src/client/index.ts';
import { SHEET, sheetLabelOrigin } from '../../src/labels/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';
import { runCommand } from '../support/system-packages.ts';
import {
  type ReadSymbol,
  ensureLabelReadersInstalled,
  readImageFile,
  readWithZXingReader,
  zxingReaderVersion,
} from '../support/zxing-reader.ts';

// Whole-page reads with Debian's ZXingReader (zxing-cpp 1.4), what many scanners still run: its
// DataMatrix detector looks only along the image's centre lines (docs/labels.md, "Where the symbol
// sits"), so these fail when a layout puts the symbol where neither centre line crosses it.

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
const DPI = 300;
const folders: string[] = [];

const DELIVERY = {
  name: 'Charles Babbage',
  company: 'Difference Engines Ltd',
  line1: '1600 Pennsylvania Ave NW',
  line2: 'Suite 200',
  city: 'Washington',
  state: 'DC',
  zip: '20500-0003',
};
const RETURN = { name: 'Ada Lovelace', line1: '12 Main St', city: 'Troy', state: 'NY', zip: '12180' };

/** A PDF's first page rasterized by poppler at 300 dpi (or the part of it in `crop`, in points). */
function rasterize(pdf: Uint8Array, crop?: { x: number; y: number; width: number; height: number }): string {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-zxing-pdf-'));
  folders.push(folder);
  writeFileSync(join(folder, 'label.pdf'), pdf);
  const pixels = (points: number): string => String(Math.round((points * DPI) / 72));
  const area =
    crop === undefined
      ? []
      : ['-x', pixels(crop.x), '-y', pixels(crop.y), '-W', pixels(crop.width), '-H', pixels(crop.height)];
  const raster = runCommand('pdftoppm', [
    '-r',
    String(DPI),
    ...area,
    '-png',
    '-singlefile',
    join(folder, 'label.pdf'),
    join(folder, 'page'),
  ]);
  assert.equal(raster.status, 0, raster.output);
  return join(folder, 'page.png');
}

/** Exactly one symbol, of the format asked, carrying the issued bytes. */
function assertReads(symbols: readonly ReadSymbol[], format: string, issued: Indicium, what: string): void {
  assert.equal(symbols.length, 1, `${what}: ZXingReader found ${symbols.length} symbols`);
  const [symbol] = symbols;
  assert.ok(symbol !== undefined);
  assert.equal(symbol.format, format, what);
  assert.equal(symbol.bytes.toString('base64'), issued.data, `${what}: the issued bytes`);
}

describe('whole pages read by ZXingReader 1.4 with its default options', () => {
  let server: TestServer;
  let client: IndiciaClient;
  let indicium: Indicium;
  /** Indicia printed on a serialized sheet, by label position (1–10). */
  const onSheet = new Map<number, Indicium>();

  before(async () => {
    assert.ok(sqlite !== undefined);
    ensureLabelReadersInstalled();
    assert.match(
      zxingReaderVersion(),
      /^1\.4\./,
      'these tests are about the zxing-cpp 1.4 reader Debian bookworm ships',
    );
    server = await startTestServer(sqlite);
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.signIn(demo.email, demo.password);
    await client.enrollDevice('label printer', (await server.indicia.meters.enrollmentKey()).fingerprint);
    await client.addFunds(10_000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
    const printed = await client.issueIndicia([
      { postageMills: 730, rateCategory: 'FC', originZip: '10118', to: DELIVERY, from: RETURN },
    ]);
    assert.ok(printed.indicia[0] !== undefined);
    indicium = printed.indicia[0];
    const sheet = await client.printing.createLabelSheet();
    for (const position of [1, 5, 6, 10]) {
      const label = sheet.labels[position - 1];
      assert.ok(label !== undefined);
      const [issued] = (
        await client.issueIndicia([{ postageMills: 600, rateCategory: 'FC', labelSerial: label.serial }])
      ).indicia;
      assert.ok(issued !== undefined);
      onSheet.set(position, issued);
    }
  });
  after(async () => {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
    await server.stop();
  });

  /** The PDF at 300 dpi and the PNG at its default resolution, each read whole. */
  async function assertWholePages(
    issued: Indicium,
    layout: 'indicium' | 'envelope-10' | 'label-4x6' | 'sheet-label',
    symbology: 'datamatrix' | 'pdf417',
  ): Promise<void> {
    const format = symbology === 'datamatrix' ? 'DataMatrix' : 'PDF417';
    const pdf = await client.label(issued.id, { layout, format: 'pdf', symbology });
    assert.ok(pdf instanceof Uint8Array);
    assertReads(readImageFile(rasterize(pdf)), format, issued, `${layout} ${symbology} PDF at ${DPI} dpi`);
    const png = await client.label(issued.id, { layout, format: 'png', symbology });
    assert.ok(png instanceof Uint8Array);
    assertReads(readWithZXingReader(png), format, issued, `${layout} ${symbology} PNG`);
  }

  for (const layout of ['indicium', 'envelope-10', 'label-4x6'] as const)
    it(`decodes the DataMatrix of the ${layout} layout to the issued bytes`, async () => {
      await assertWholePages(indicium, layout, 'datamatrix');
    });

  it('decodes the DataMatrix on a whole Avery 5163 sheet for labels 5 and 6, the row its centre line crosses', async () => {
    for (const position of [5, 6]) {
      const issued = onSheet.get(position);
      assert.ok(issued !== undefined);
      await assertWholePages(issued, 'sheet-label', 'datamatrix');
    }
  });

  it('decodes every other sheet label once the label is cut from the sheet, as it is peeled off', async () => {
    for (const position of [1, 10]) {
      const issued = onSheet.get(position);
      assert.ok(issued !== undefined);
      const pdf = await client.label(issued.id, { layout: 'sheet-label', format: 'pdf' });
      assert.ok(pdf instanceof Uint8Array);
      const crop = { ...sheetLabelOrigin(position), width: SHEET.labelWidth, height: SHEET.labelHeight };
      assertReads(readImageFile(rasterize(pdf, crop)), 'DataMatrix', issued, `sheet label ${position}`);
    }
  });

  it('decodes the PDF417 of every layout to the issued bytes', async () => {
    for (const layout of ['indicium', 'envelope-10', 'label-4x6'] as const)
      await assertWholePages(indicium, layout, 'pdf417');
    const issued = onSheet.get(1);
    assert.ok(issued !== undefined);
    await assertWholePages(issued, 'sheet-label', 'pdf417');
  });

  it('draws a PNG at the dpi asked: a #10 envelope is 9½ × 4⅛ inches of pixels, a 20 mil module 6 pixels at 300 dpi', async () => {
    for (const dpi of [undefined, 150, 600]) {
      const png = await client.label(indicium.id, { layout: 'envelope-10', format: 'png', dpi });
      assert.ok(png instanceof Uint8Array);
      const header = Buffer.from(png);
      const expected = dpi ?? 300;
      assert.deepEqual(
        [header.readUInt32BE(16), header.readUInt32BE(20)],
        [Math.round(9.5 * expected), Math.round(4.125 * expected)],
        `envelope PNG at ${dpi ?? 'the default'} dpi`,
      );
    }
  });
});
