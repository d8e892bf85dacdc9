import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleIndicium, encodeSignedData } from '../indicium/index.ts';
import type { Mills } from '../money/index.ts';
import type { Box } from './indicium-block.ts';
import { MODULE_POINTS, QUIET_MODULES } from './indicium-block.ts';
import {
  type LabelContent,
  LAYOUTS,
  type Page,
  type PlacedSymbol,
  SHEET,
  labelPage,
  sheetLabelOrigin,
} from './page.ts';

const indicium = assembleIndicium(
  encodeSignedData({
    algorithm: 'ecdsa-p256',
    certificateSerial: 1_234_567n,
    manufacturerId: '04',
    modelId: '2N',
    psdSerial: 12_345_678,
    ascendingRegister: 1_000_000 as Mills,
    postage: 730 as Mills,
    date: '2025-03-14',
    originZip: '10118-1234',
    userId: 42,
    softwareId: 1,
    labelSerial: 123_456_789_012,
    descendingRegister: 99_999 as Mills,
    rateCategory: 'GA',
  }),
  Buffer.alloc(64, 0xa5),
);
const address = {
  name: 'Charles Babbage',
  company: 'Difference Engines Ltd',
  line1: '1600 Pennsylvania Ave NW',
  line2: 'Suite 200',
  city: 'Washington',
  state: 'DC',
  zip: '20500-0003',
};

const contents = (symbology: 'datamatrix' | 'pdf417', position: number): LabelContent => ({
  indicium,
  symbology,
  from: { name: 'Ada Lovelace', line1: '12 Main St', city: 'Troy', state: 'NY', zip: '12180' },
  to: address,
  adText: ['HOLIDAY SALE', 'SHOP.EXAMPLE.COM'],
  stock: { sheetSerial: 1, labelSerial: 2, position },
});

/** A symbol with its quiet zone, in points. */
const quietZone = (symbol: PlacedSymbol): Box => {
  const quiet = QUIET_MODULES * MODULE_POINTS;
  return {
    x: symbol.x - quiet,
    y: symbol.y - quiet,
    width: symbol.grid.width * symbol.moduleSize + 2 * quiet,
    height: symbol.grid.height * symbol.moduleSize + 2 * quiet,
  };
};

const overlaps = (a: Box, b: Box): boolean =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Generous room a line of text takes: 0.8 em a character, from its cap height to its descenders. */
const textBoxes = (page: Page): Box[] =>
  page.lines.map((line) => ({
    x: line.x,
    y: line.y - 0.8 * line.size,
    width: 0.8 * line.size * line.text.length,
    height: 1.05 * line.size,
  }));

/** Does the page's horizontal (upright symbol) or vertical (turned a quarter) centre line cross it? */
const crossedByCentreLine = (page: Page, symbol: PlacedSymbol): boolean => {
  const margin = 4 * symbol.moduleSize;
  const crosses = (centre: number, start: number, length: number): boolean =>
    centre > start + margin && centre < start + length - margin;
  return symbol.rotation === 0
    ? crosses(page.height / 2, symbol.y, symbol.grid.height * symbol.moduleSize)
    : crosses(page.width / 2, symbol.x, symbol.grid.width * symbol.moduleSize);
};

describe('where layouts put the symbol', () => {
  for (const symbology of ['datamatrix', 'pdf417'] as const)
    for (const layout of LAYOUTS)
      it(`${layout}, ${symbology}: the quiet zone is clear and on the page (or its label)`, () => {
        for (const position of layout === 'sheet-label' ? [1, 5, 6, 10] : [1]) {
          const page = labelPage(layout, contents(symbology, position));
          assert.equal(page.symbols.length, 1);
          const [symbol] = page.symbols;
          assert.ok(symbol !== undefined);
          const zone = quietZone(symbol);
          const area =
            layout === 'sheet-label'
              ? { ...sheetLabelOrigin(position), width: SHEET.labelWidth, height: SHEET.labelHeight }
              : { x: 0, y: 0, width: page.width, height: page.height };
          assert.ok(
            zone.x >= area.x && zone.y >= area.y && zone.x + zone.width <= area.x + area.width,
            `${layout} ${position}: the symbol and its quiet zone lie inside ${JSON.stringify(area)}`,
          );
          assert.ok(
            zone.y + zone.height <= area.y + area.height,
            `${layout} ${position}: not past the bottom`,
          );
          for (const box of [...textBoxes(page), ...page.fills, ...page.strokes])
            assert.ok(
              !overlaps(box, zone),
              `${layout} ${position}: ${JSON.stringify(box)} in the quiet zone`,
            );
        }
      });

  it('puts every DataMatrix where a page centre line crosses it, as zxing-cpp 1.4 looks for it', () => {
    for (const layout of LAYOUTS) {
      // On a sheet only the middle row (labels 5 and 6) can be: the vertical line runs between the columns.
      for (const position of layout === 'sheet-label' ? [5, 6] : [1]) {
        const page = labelPage(layout, contents('datamatrix', position));
        const [symbol] = page.symbols;
        assert.ok(symbol !== undefined && crossedByCentreLine(page, symbol), `${layout} ${position}`);
      }
    }
    assert.equal(labelPage('label-4x6', contents('datamatrix', 1)).symbols[0]?.rotation, 90);
    assert.equal(labelPage('envelope-10', contents('datamatrix', 1)).symbols[0]?.rotation, 0);
  });
});
