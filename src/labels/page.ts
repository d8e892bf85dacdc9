import { type ModuleGrid, type Symbology, moduleGrid } from './barcode.ts';
import {
  type Box,
  type TextLine,
  MODULE_POINTS,
  QUIET_MODULES,
  indiciumLines,
  indiciumText,
} from './indicium-block.ts';

/** A 2-D symbol placed on a page: drawn from its module grid (PDF, SVG, PNG) or by the printer (ZPL). */
export interface PlacedSymbol {
  /** Top-left corner of the symbol itself (the quiet zone lies around it), in points. */
  readonly x: number;
  readonly y: number;
  readonly moduleSize: number;
  readonly grid: ModuleGrid;
  /** The exact bytes the symbol carries. */
  readonly bytes: Buffer;
}

/**
 * One printed page, in points from the top-left corner: what every output format draws. Symbols are
 * the indicia's barcodes, fills are solid black (rules, banners), strokes are hairline outlines
 * (label edges on stock and test prints).
 */
export interface Page {
  readonly width: number;
  readonly height: number;
  readonly symbols: readonly PlacedSymbol[];
  readonly fills: readonly Box[];
  readonly strokes: readonly Box[];
  readonly lines: readonly TextLine[];
  /** Words drawn large and red across the page: a sample or test print, which is no postage. */
  readonly mark: string | null;
}

/** The layouts a label prints in (docs/labels.md draws each). */
export const LAYOUTS = ['indicium', 'envelope-10', 'label-4x6', 'sheet-label'] as const;
export type LayoutName = (typeof LAYOUTS)[number];

/** A mailing address as it is printed: upper case, the city line last. */
export interface LabelAddress {
  readonly name: string;
  readonly company?: string | undefined;
  readonly line1: string;
  readonly line2?: string | undefined;
  readonly city: string;
  readonly state: string;
  readonly zip: string;
}

/** The printed lines of an address: name, company, street lines, "CITY ST ZIP" (Publication 28 style caps). */
export function addressLines(address: LabelAddress): string[] {
  const lines = [address.name, address.company, address.line1, address.line2]
    .map((line) => line?.trim() ?? '')
    .filter((line) => line !== '');
  lines.push(`${address.city.trim()} ${address.state.trim()}  ${address.zip.trim()}`);
  return lines.map((line) => line.toUpperCase());
}

/** What one label carries: the indicium and, for envelopes and shipping labels, the addresses. */
export interface LabelContent {
  readonly indicium: Buffer;
  readonly symbology?: Symbology;
  readonly from?: LabelAddress | null;
  readonly to?: LabelAddress | null;
  /** Up to three short lines of operator-approved ad text beside the indicium on an envelope. */
  readonly adText?: readonly string[];
  /** Serialized stock: the sheet and label serials printed on the label, and its place on the sheet. */
  readonly stock?: { readonly sheetSerial: number; readonly labelSerial: number; readonly position: number };
}

/** An indicium block: its size, and what it draws with its top-left corner at (0, 0). */
interface IndiciumBlock extends Pick<Page, 'symbols' | 'lines'> {
  readonly width: number;
  readonly height: number;
}

/** The indicium block of a label (the symbol encoded once, whatever the layout does with it). */
function indiciumBlock(content: LabelContent): IndiciumBlock {
  const grid = moduleGrid(content.indicium, content.symbology);
  const quiet = QUIET_MODULES * MODULE_POINTS;
  const symbolWidth = grid.width * MODULE_POINTS + 2 * quiet;
  const symbolHeight = grid.height * MODULE_POINTS + 2 * quiet;
  const text = indiciumLines(content.indicium, symbolWidth + 6);
  return {
    width: symbolWidth + 6 + 120,
    height: Math.max(symbolHeight, text.height),
    symbols: [{ x: quiet, y: quiet, moduleSize: MODULE_POINTS, grid, bytes: content.indicium }],
    lines: text.lines,
  };
}

/** The block moved to (x, y). */
function moved(block: IndiciumBlock, x: number, y: number): IndiciumBlock {
  return {
    ...block,
    symbols: block.symbols.map((symbol) => ({ ...symbol, x: symbol.x + x, y: symbol.y + y })),
    lines: block.lines.map((line) => ({ ...line, x: line.x + x, y: line.y + y })),
  };
}

/** Where an indicium block sits, and what it draws. */
function indiciumAt(content: LabelContent, x: number, y: number): IndiciumBlock {
  return moved(indiciumBlock(content), x, y);
}

const text = (value: string, x: number, y: number, size: number, isBold = false): TextLine => ({
  text: value,
  x,
  y,
  size,
  isBold,
});

/** Lines of text one under the other, `leading` points apart, the first baseline at `y`. */
const block = (
  values: readonly string[],
  x: number,
  y: number,
  size: number,
  leading: number,
  isBold = false,
) => values.map((value, index) => text(value, x, y + index * leading, size, isBold));

const EMPTY = { fills: [], strokes: [], mark: null } as const;

/** The indicium alone, as big as it needs to be. */
function indiciumPage(content: LabelContent): Page {
  const placed = indiciumAt(content, 0, 0);
  return {
    ...EMPTY,
    width: placed.width,
    height: placed.height,
    symbols: placed.symbols,
    lines: placed.lines,
  };
}

/**
 * A #10 envelope (9½ × 4⅛ inch): the return address at the top left, the indicium in the upper
 * right corner, approved ad text to its left, the delivery address in the address block.
 */
function envelopePage(content: LabelContent): Page {
  const width = 9.5 * 72;
  const height = 4.125 * 72;
  const indicium = indiciumBlock(content);
  const indiciumX = width - 18 - indicium.width;
  const shifted = moved(indicium, indiciumX, 18);
  const lines = [
    ...block(content.from ? addressLines(content.from) : [], 24, 30, 9, 11),
    ...block(content.adText ?? [], indiciumX - 150, 34, 9, 12, true),
    ...shifted.lines,
    ...block(content.to ? addressLines(content.to) : [], 3.5 * 72, 2.25 * 72, 12, 15),
  ];
  return { ...EMPTY, width, height, symbols: shifted.symbols, lines };
}

/**
 * A 4 × 6 inch shipping label: the indicium at the top, a banner with the mail class, the return
 * address, then "SHIP TO" and the delivery address in large type.
 */
function shippingLabelPage(content: LabelContent): Page {
  const width = 4 * 72;
  const height = 6 * 72;
  const placed = indiciumAt(content, 12, 12);
  const bannerTop = 12 + placed.height + 8;
  const { mailClass } = indiciumText(content.indicium);
  const lines = [
    ...placed.lines,
    text(`USPS ${mailClass}`, 16, bannerTop + 26, 16, true),
    ...block(content.from ? addressLines(content.from) : [], 16, bannerTop + 64, 8, 10),
    text('SHIP TO:', 16, bannerTop + 140, 9, true),
    ...block(content.to ? addressLines(content.to) : [], 40, bannerTop + 160, 13, 17, true),
  ];
  const fills: Box[] = [
    { x: 0, y: bannerTop, width, height: 2 },
    { x: 0, y: bannerTop + 38, width, height: 2 },
    { x: 0, y: height - 40, width, height: 2 },
  ];
  return { ...EMPTY, width, height, symbols: placed.symbols, lines, fills };
}

/**
 * Serialized stock: a US Letter sheet of 10 stamp labels, 4 × 2 inch in two columns of five (the
 * Avery 5163 geometry). Each label carries an indicium and its sheet and label serials.
 */
export const SHEET = {
  width: 8.5 * 72,
  height: 11 * 72,
  labels: 10,
  labelWidth: 4 * 72,
  labelHeight: 2 * 72,
  left: 0.15625 * 72,
  top: 0.5 * 72,
  columnGap: 0.1875 * 72,
} as const;

/** The top-left corner of label `position` (1–10, row by row) on a sheet. */
export function sheetLabelOrigin(position: number): { x: number; y: number } {
  const index = position - 1;
  return {
    x: SHEET.left + (index % 2) * (SHEET.labelWidth + SHEET.columnGap),
    y: SHEET.top + Math.floor(index / 2) * SHEET.labelHeight,
  };
}

/** The text a serialized label carries under its indicium. */
const stockLine = (stock: NonNullable<LabelContent['stock']>): string =>
  `SHEET ${stock.sheetSerial}  LABEL ${stock.labelSerial}`;

/**
 * Labels printed onto serialized stock: a sheet page with each indicium at its own label's place
 * (the others left blank, so a part-used sheet goes through the printer again). `outlines` draws
 * every label's edge, for the blank stock itself and for test prints.
 */
export function sheetPage(labels: readonly LabelContent[], options: { outlines?: boolean } = {}): Page {
  const symbols: PlacedSymbol[] = [];
  const lines: TextLine[] = [];
  for (const label of labels) {
    if (label.stock === undefined) throw new Error('a sheet label needs its stock position');
    const origin = sheetLabelOrigin(label.stock.position);
    const placed = indiciumAt(label, origin.x + 14, origin.y + 14);
    symbols.push(...placed.symbols);
    lines.push(
      ...placed.lines,
      text(stockLine(label.stock), origin.x + 14, origin.y + SHEET.labelHeight - 12, 7),
    );
  }
  const strokes =
    options.outlines === true
      ? Array.from({ length: SHEET.labels }, (_, index) => ({
          ...sheetLabelOrigin(index + 1),
          width: SHEET.labelWidth,
          height: SHEET.labelHeight,
        }))
      : [];
  return { ...EMPTY, width: SHEET.width, height: SHEET.height, symbols, lines, strokes };
}

/** One label in the chosen layout. */
export function labelPage(layout: LayoutName, content: LabelContent): Page {
  switch (layout) {
    case 'indicium':
      return indiciumPage(content);
    case 'envelope-10':
      return envelopePage(content);
    case 'label-4x6':
      return shippingLabelPage(content);
    case 'sheet-label':
      return sheetPage([content]);
  }
}

/** The same page marked as a sample (a print preview) or a test print: never postage. */
export function markedPage(page: Page, mark: string, options: { outline?: boolean } = {}): Page {
  const strokes =
    options.outline === true
      ? [...page.strokes, { x: 4, y: 4, width: page.width - 8, height: page.height - 8 }]
      : page.strokes;
  return { ...page, strokes, mark };
}
