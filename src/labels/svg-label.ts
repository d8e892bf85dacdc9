import { decodeIndicium, formatMeterNumber } from '../indicium/index.ts';
import { formatUsd } from '../money/index.ts';
import { type ModuleGrid, type Symbology, moduleGrid } from './barcode.ts';

/** The x-dimension (module size) on paper: 20 mils = 0.508 mm, in points (1/72 inch). */
export const MODULE_POINTS = 0.02 * 72;
const QUIET_MODULES = 2;

const RATE_NAMES: Readonly<Record<string, string>> = {
  FC: 'FIRST-CLASS MAIL',
  PM: 'PRIORITY MAIL',
  GA: 'GROUND ADVANTAGE',
};

/** The human-readable fields of an indicium, as printed beside its barcode. */
export interface IndiciumText {
  readonly postage: string;
  readonly mailClass: string;
  readonly date: string;
  readonly originZip: string;
  readonly meterNumber: string;
  readonly vendor: string;
}

/** What a person reads on the indicium, all taken from the indicium's own bytes. */
export function indiciumText(bytes: Buffer, vendor = 'INDICIA'): IndiciumText {
  const decoded = decodeIndicium(bytes);
  return {
    postage: formatUsd(decoded.postage),
    mailClass: RATE_NAMES[decoded.rateCategory.trim()] ?? decoded.rateCategory.trim(),
    date: decoded.date,
    originZip: decoded.originZip,
    meterNumber: formatMeterNumber({
      manufacturerId: decoded.manufacturerId,
      modelId: decoded.modelId,
      serial: decoded.psdSerial,
    }),
    vendor,
  };
}

/** A rectangle in points, from the top-left corner. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Dark modules as one rectangle per horizontal run: a vector symbol, exact at any scale. */
export function moduleRuns(grid: ModuleGrid, x0: number, y0: number, size: number): Box[] {
  const runs: Box[] = [];
  for (let y = 0; y < grid.height; y += 1) {
    for (let x = 0; x < grid.width;) {
      if (!grid.dark[y * grid.width + x]) {
        x += 1;
        continue;
      }
      let end = x;
      while (end < grid.width && grid.dark[y * grid.width + end]) end += 1;
      runs.push({ x: x0 + x * size, y: y0 + y * size, width: (end - x) * size, height: size });
      x = end;
    }
  }
  return runs;
}

/** A line of the human-readable part: its baseline position in points from the top-left. */
export interface TextLine {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly size: number;
  readonly isBold: boolean;
}

/** The indicium laid out once, for every output format: size, symbol runs, text lines. */
export interface IndiciumLayout {
  readonly width: number;
  readonly height: number;
  readonly runs: readonly Box[];
  readonly lines: readonly TextLine[];
}

/**
 * The indicium the way a postal indicium looks: the barcode (20 mil modules, a quiet zone of two
 * modules) with the postage, mail class, date, origin ZIP, meter number and vendor beside it.
 */
export function indiciumLayout(bytes: Buffer, symbology?: Symbology): IndiciumLayout {
  const grid = moduleGrid(bytes, symbology);
  const text = indiciumText(bytes);
  const quiet = QUIET_MODULES * MODULE_POINTS;
  const symbolWidth = grid.width * MODULE_POINTS + 2 * quiet;
  const symbolHeight = grid.height * MODULE_POINTS + 2 * quiet;
  const textX = symbolWidth + 6;
  const lines: [string, number, boolean][] = [
    ['US POSTAGE', 9, true],
    [text.postage, 14, true],
    [text.mailClass, 8, false],
    [text.date, 8, false],
    [`FROM ${text.originZip}`, 8, false],
    [text.meterNumber, 8, false],
    [text.vendor, 7, false],
  ];
  return {
    width: textX + 120,
    height: Math.max(symbolHeight, 14 + lines.length * 12),
    runs: moduleRuns(grid, quiet, quiet, MODULE_POINTS),
    lines: lines.map(([line, size, isBold], index) => ({
      text: line,
      x: textX,
      y: 14 + index * 12,
      size,
      isBold,
    })),
  };
}

/** The words a sample carries across it: a preview moves no value and is no postage. */
export const SAMPLE_MARK = 'SAMPLE — NOT POSTAGE';

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (character) => `&#${character.charCodeAt(0)};`);

const number = (value: number): string => value.toFixed(3);

/** An indicium as SVG (units are points); `sample` marks it as a preview. */
export function indiciumSvg(
  bytes: Buffer,
  options: { symbology?: Symbology; sample?: boolean } = {},
): string {
  const layout = indiciumLayout(bytes, options.symbology);
  const { width, height } = layout;
  const body = [
    `<rect width="${number(width)}" height="${number(height)}" fill="#fff"/>`,
    `<g fill="#000">${layout.runs.map((run) => `<rect x="${number(run.x)}" y="${number(run.y)}" width="${number(run.width)}" height="${number(run.height)}"/>`).join('')}</g>`,
    ...layout.lines.map(
      (line) =>
        `<text x="${number(line.x)}" y="${number(line.y)}" font-family="Helvetica, Arial, sans-serif" font-size="${line.size}" font-weight="${line.isBold ? 'bold' : 'normal'}">${escape(line.text)}</text>`,
    ),
    ...(options.sample === true
      ? [
          `<text x="${number(width / 2)}" y="${number(height / 2)}" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="12" font-weight="bold" fill="#c00" opacity="0.6" transform="rotate(-15 ${number(width / 2)} ${number(height / 2)})">${SAMPLE_MARK}</text>`,
        ]
      : []),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${number(width)}pt" height="${number(height)}pt" viewBox="0 0 ${number(width)} ${number(height)}">${body.join('')}</svg>\n`;
}
