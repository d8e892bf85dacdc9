import { type ModuleGrid, type Symbology, moduleGrid, turnedClockwise } from './barcode.ts';
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
  /** The modules as drawn: already turned when `rotation` is 90. */
  readonly grid: ModuleGrid;
  /** Degrees clockwise the symbol is turned from upright (ZPL asks the printer to turn its own). */
  readonly rotation: 0 | 90;
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

/**
 * The two parts of an indicium, each drawn with its top-left corner where a layout puts it: the
 * symbol inside its quiet zone (`width` and `height` include it) and the human-readable lines.
 */
interface IndiciumParts {
  readonly symbol: {
    readonly width: number;
    readonly height: number;
    at(x: number, y: number, rotation?: 0 | 90): PlacedSymbol;
  };
  readonly text: { readonly width: number; readonly height: number; at(x: number, y: number): TextLine[] };
}

/** Room the human-readable lines are given beside or above the symbol, and the gap to it. */
const TEXT_WIDTH = 120;
const TEXT_GAP = 6;
/** The least room they need: the widest, GROUND ADVANTAGE in 8 pt, is 87 pt of Helvetica. */
const TEXT_MIN_WIDTH = 90;

/**
 * Symbols start on the grid of a 150 dpi printer's dots (1/150 inch, so of 300 and 600 dpi too):
 * every module then covers whole pixels of a PNG or a rasterized PDF, none smeared grey.
 */
const DOT = 72 / 150;
const onDotGrid = (points: number): number => Math.round(points / DOT) * DOT;

/** The indicium's symbol (encoded once, whatever the layout does with it) and its text. */
function indiciumParts(content: LabelContent): IndiciumParts {
  const grid = moduleGrid(content.indicium, content.symbology);
  const quiet = QUIET_MODULES * MODULE_POINTS;
  const lines = indiciumLines(content.indicium, 0);
  return {
    symbol: {
      width: grid.width * MODULE_POINTS + 2 * quiet,
      height: grid.height * MODULE_POINTS + 2 * quiet,
      // Turned a quarter, a rectangle's width and height swap; a layout turns only square ones.
      at: (x, y, rotation = 0) => ({
        x: onDotGrid(x + quiet),
        y: onDotGrid(y + quiet),
        moduleSize: MODULE_POINTS,
        grid: rotation === 90 ? turnedClockwise(grid) : grid,
        rotation,
        bytes: content.indicium,
      }),
    },
    text: {
      width: TEXT_WIDTH,
      height: lines.height,
      at: (x, y) => lines.lines.map((line) => ({ ...line, x: line.x + x, y: line.y + y })),
    },
  };
}

/**
 * The symbol beside its text, the symbol centred on the text's height, with its top-left corner
 * at (x, y): the indicium alone and the 4×6 label.
 */
function besideText(
  parts: IndiciumParts,
  x: number,
  y: number,
  rotation: 0 | 90 = 0,
): Pick<Page, 'symbols' | 'lines'> {
  const height = Math.max(parts.symbol.height, parts.text.height);
  return {
    symbols: [parts.symbol.at(x, y + (height - parts.symbol.height) / 2, rotation)],
    lines: parts.text.at(x + parts.symbol.width + TEXT_GAP, y),
  };
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

/**
 * The indicium alone, as big as it needs to be. The page is little more than the symbol, so its
 * centre lines cross it (see `envelopePage`).
 */
function indiciumPage(content: LabelContent): Page {
  const parts = indiciumParts(content);
  return {
    ...EMPTY,
    width: parts.symbol.width + TEXT_GAP + parts.text.width,
    height: Math.max(parts.symbol.height, parts.text.height),
    ...besideText(parts, 0, 0),
  };
}

/**
 * A #10 envelope (9½ × 4⅛ inch): the return address at the top left; the indicium's text in the
 * upper right corner, approved ad text to its left, the delivery address in the address block.
 * A square symbol (DataMatrix) sits at the right edge under the text, centred on the envelope's
 * horizontal centre line: zxing-cpp 1.4, in many scanners still, looks for a DataMatrix only along
 * the centre lines of the image it is given (docs/labels.md). A wider one (PDF417, which it finds
 * anywhere) stays beside the text at the top.
 */
function envelopePage(content: LabelContent): Page {
  const width = 9.5 * 72;
  const height = 4.125 * 72;
  const parts = indiciumParts(content);
  const textX = width - 18 - parts.text.width;
  const isSquare = parts.symbol.width === parts.symbol.height;
  const symbolX = isSquare ? width - 18 - parts.symbol.width : textX - TEXT_GAP - parts.symbol.width;
  const symbol = parts.symbol.at(symbolX, isSquare ? (height - parts.symbol.height) / 2 : 18);
  // 30 characters of 9 pt bold (W, the widest, is 8.5 pt) still end 12 pt short of the indicium.
  const adX = isSquare ? textX - 267 : symbolX - 150;
  const lines = [
    ...block(content.from ? addressLines(content.from) : [], 24, 30, 9, 11),
    ...block(content.adText ?? [], adX, 34, 9, 12, true),
    ...parts.text.at(textX, 18),
    ...block(content.to ? addressLines(content.to) : [], 3.5 * 72, 2.25 * 72, 12, 15),
  ];
  return { ...EMPTY, width, height, symbols: [symbol], lines };
}

/**
 * A 4 × 6 inch shipping label: the indicium at the top, a banner with the mail class, the return
 * address, then "SHIP TO" and the delivery address in large type. A square symbol (DataMatrix) is
 * centred on the label's vertical centre line and turned a quarter, the way zxing-cpp 1.4 finds a
 * symbol there (see `envelopePage`); a wider one (PDF417, which it finds anywhere) starts at the
 * left margin.
 */
function shippingLabelPage(content: LabelContent): Page {
  const width = 4 * 72;
  const height = 6 * 72;
  const parts = indiciumParts(content);
  const centred = (width - parts.symbol.width) / 2;
  const isCentred =
    parts.symbol.width === parts.symbol.height &&
    centred + parts.symbol.width + TEXT_GAP + TEXT_MIN_WIDTH <= width - 12;
  const placed = isCentred ? besideText(parts, centred, 12, 90) : besideText(parts, 12, 12);
  const bannerTop = 12 + Math.max(parts.symbol.height, parts.text.height) + 8;
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
    const parts = indiciumParts(label);
    // Centred on the label's height: the sheet's horizontal centre line then crosses the symbols of
    // labels 5 and 6 (see `envelopePage`; the vertical one runs between the columns).
    symbols.push(parts.symbol.at(origin.x + 14, origin.y + (SHEET.labelHeight - parts.symbol.height) / 2));
    lines.push(
      ...parts.text.at(origin.x + 14 + parts.symbol.width + TEXT_GAP, origin.y + 14),
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
