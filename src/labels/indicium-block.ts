import { decodeIndicium, formatMeterNumber } from '../indicium/index.ts';
import { formatUsd } from '../money/index.ts';
import type { ModuleGrid } from './barcode.ts';

/** The x-dimension (module size) on paper: 20 mils = 0.508 mm, in points (1/72 inch). */
export const MODULE_POINTS = 0.02 * 72;
/** The quiet zone around a symbol, in modules. */
export const QUIET_MODULES = 2;

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

/** A line of text: its baseline's start in points from the top-left. */
export interface TextLine {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly size: number;
  readonly isBold: boolean;
}

/**
 * The human-readable part of an indicium the way a postal indicium looks — "US POSTAGE", the
 * amount, mail class, date, origin ZIP, meter number and vendor — starting at `x`; and its height.
 */
export function indiciumLines(bytes: Buffer, x: number): { lines: TextLine[]; height: number } {
  const text = indiciumText(bytes);
  const rows: [string, number, boolean][] = [
    ['US POSTAGE', 9, true],
    [text.postage, 14, true],
    [text.mailClass, 8, false],
    [text.date, 8, false],
    [`FROM ${text.originZip}`, 8, false],
    [text.meterNumber, 8, false],
    [text.vendor, 7, false],
  ];
  return {
    lines: rows.map(([line, size, isBold], index) => ({ text: line, x, y: 14 + index * 12, size, isBold })),
    height: 14 + rows.length * 12,
  };
}

/** The words a sample carries across it: a preview moves no value and is no postage. */
export const SAMPLE_MARK = 'SAMPLE — NOT POSTAGE';
/** The words across a test print. */
export const TEST_PRINT_MARK = 'TEST PRINT — NOT POSTAGE';
