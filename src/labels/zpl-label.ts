import { indiciumText } from './svg-label.ts';

/** Dots a module at 203 dpi (Zebra's usual resolution): 4 dots = 19.7 mils, the nearest to 20. */
const DOTS_PER_MODULE = 4;

/**
 * The indicium in ZPL II for Zebra thermal printers (203 dpi): the printer draws the DataMatrix
 * (`^BX`, ECC 200) from the exact bytes, each written as a hex escape (`^FH`), with the
 * human-readable fields beside it. A 4×6 label has room for it at the top right.
 */
export function indiciumZpl(bytes: Buffer): string {
  const text = indiciumText(bytes);
  const hex = [...bytes].map((byte) => `_${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  const line = (y: number, size: number, value: string): string =>
    // ^FH_ lets "_XX" stand for any byte; the text fields never hold "^" or "~".
    `^FO200,${y}^A0N,${size},${size}^FH_^FD${value.replace(/[_^~]/g, (character) => `_${character.charCodeAt(0).toString(16).toUpperCase()}`)}^FS`;
  return [
    '^XA',
    '^CI28',
    `^FO20,20^BXN,${DOTS_PER_MODULE},200^FH_^FD${hex}^FS`,
    line(20, 24, 'US POSTAGE'),
    line(50, 34, text.postage),
    line(90, 20, text.mailClass),
    line(115, 20, text.date),
    line(140, 20, `FROM ${text.originZip}`),
    line(165, 20, text.meterNumber),
    line(190, 18, text.vendor),
    '^XZ',
    '',
  ].join('\n');
}
