import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient, type Indicium } from '../../src/client/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { moduleGrid, sampleIndicium, symbolPng } from '../../src/labels/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type TestServer, startTestServer } from '../support/start-server.ts';
import { installDebianPackages, runCommand } from '../support/system-packages.ts';
import { decodeBarcodes } from '../support/zxing.ts';

const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');

describe('barcodes and labels', () => {
  let server: TestServer;
  let client: IndiciaClient;
  let indicium: Indicium;
  let apiKey: string;

  before(async () => {
    assert.ok(sqlite !== undefined);
    if (runCommand('which', ['pdftotext']).status !== 0)
      installDebianPackages(['poppler-utils'], 'The label tests read PDFs with poppler-utils');
    server = await startTestServer(sqlite);
    const demo = server.indicia.demoCredentials.find((credential) => credential.role === 'customer');
    assert.ok(demo !== undefined);
    client = new IndiciaClient({ baseUrl: server.indicia.url });
    await client.signIn(demo.email, demo.password);
    apiKey = (await client.createApiKey('previews', ['indicia:read'])).key;
    await client.enrollDevice('label printer', (await server.indicia.meters.enrollmentKey()).fingerprint);
    await client.addFunds(10_000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
    const printed = await client.issueIndicia([
      { postageMills: 730, rateCategory: 'FC', originZip: '10118' },
    ]);
    assert.ok(printed.indicia[0] !== undefined);
    indicium = printed.indicia[0];
  });
  after(() => server.stop());

  it('carries every byte value: a reader we did not write decodes DataMatrix and PDF417 back exactly', async () => {
    const bytes = Buffer.from(Array.from({ length: 121 }, (_, index) => (index * 37) % 256));
    for (const symbology of ['datamatrix', 'pdf417'] as const) {
      const png = await symbolPng(bytes, { symbology, pixelsPerModule: 4 });
      const [decoded] = await decodeBarcodes(png, [symbology === 'datamatrix' ? 'DataMatrix' : 'PDF417']);
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
      /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="1\.440"\/>/,
      'vector modules of 20 mils',
    );
    // The PDF: text a PDF reader extracts, and a page poppler rasterizes that ZXing decodes.
    const pdf = await client.label(indicium.id, { format: 'pdf' });
    assert.ok(pdf instanceof Uint8Array);
    const folder = mkdtempSync(join(tmpdir(), 'indicia-label-'));
    writeFileSync(join(folder, 'label.pdf'), pdf);
    const text = runCommand('pdftotext', [join(folder, 'label.pdf'), '-']);
    assert.equal(text.status, 0, text.output);
    for (const field of ['US POSTAGE', '$0.73', 'FIRST-CLASS MAIL', 'FROM 10118'])
      assert.ok(text.output.includes(field), field);
    const raster = runCommand('pdftoppm', [
      '-r',
      '300',
      '-png',
      '-singlefile',
      join(folder, 'label.pdf'),
      join(folder, 'page'),
    ]);
    assert.equal(raster.status, 0, raster.output);
    const [fromPdf] = await decodeBarcodes(readFileSync(join(folder, 'page.png')), ['DataMatrix']);
    assert.equal(
      fromPdf?.toString('base64'),
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
    assert.ok(svg.includes('SAMPLE — NOT POSTAGE') && svg.includes('$1.50') && svg.includes('PRIORITY MAIL'));
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
});
