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

/** Dark modules as one rectangle per horizontal run: a vector symbol, exact at any scale. */
export function moduleRects(grid: ModuleGrid, x0: number, y0: number, size: number): string[] {
  const rects: string[] = [];
  for (let y = 0; y < grid.height; y += 1) {
    for (let x = 0; x < grid.width;) {
      if (!grid.dark[y * grid.width + x]) {
        x += 1;
        continue;
      }
      let end = x;
      while (end < grid.width && grid.dark[y * grid.width + end]) end += 1;
      rects.push(
        `<rect x="${(x0 + x * size).toFixed(3)}" y="${(y0 + y * size).toFixed(3)}" width="${((end - x) * size).toFixed(3)}" height="${size.toFixed(3)}"/>`,
      );
      x = end;
    }
  }
  return rects;
}

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (character) => `&#${character.charCodeAt(0)};`);

/**
 * An indicium as SVG, the way a postal indicium looks: the barcode (vector rectangles from the
 * module grid, 20 mil modules, a quiet zone of two modules) with the postage, mail class, date,
 * origin ZIP, meter number and vendor beside it. Units are points.
 */
export function indiciumSvg(
  bytes: Buffer,
  options: { symbology?: Symbology; sample?: boolean } = {},
): string {
  const grid = moduleGrid(bytes, options.symbology);
  const text = indiciumText(bytes);
  const symbolWidth = (grid.width + 2 * QUIET_MODULES) * MODULE_POINTS;
  const symbolHeight = (grid.height + 2 * QUIET_MODULES) * MODULE_POINTS;
  const textX = symbolWidth + 6;
  const lines = [
    ['US POSTAGE', 9, 'bold'],
    [text.postage, 14, 'bold'],
    [text.mailClass, 8, 'normal'],
    [text.date, 8, 'normal'],
    [`FROM ${text.originZip}`, 8, 'normal'],
    [text.meterNumber, 8, 'normal'],
    [text.vendor, 7, 'normal'],
  ] as const;
  const height = Math.max(symbolHeight, 14 + lines.length * 12);
  const width = textX + 120;
  const quiet = QUIET_MODULES * MODULE_POINTS;
  const body = [
    `<rect width="${width.toFixed(3)}" height="${height.toFixed(3)}" fill="#fff"/>`,
    `<g fill="#000">${moduleRects(grid, quiet, quiet, MODULE_POINTS).join('')}</g>`,
    ...lines.map(
      ([line, size, weight], index) =>
        `<text x="${textX.toFixed(3)}" y="${(14 + index * 12).toFixed(3)}" font-family="Helvetica, Arial, sans-serif" font-size="${size}" font-weight="${weight}">${escape(line)}</text>`,
    ),
    ...(options.sample === true
      ? [
          `<text x="${(width / 2).toFixed(3)}" y="${(height / 2).toFixed(3)}" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="16" font-weight="bold" fill="#c00" opacity="0.6" transform="rotate(-15 ${(width / 2).toFixed(3)} ${(height / 2).toFixed(3)})">SAMPLE — NOT POSTAGE</text>`,
        ]
      : []),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width.toFixed(3)}pt" height="${height.toFixed(3)}pt" viewBox="0 0 ${width.toFixed(3)} ${height.toFixed(3)}">${body.join('')}</svg>\n`;
}
