import { PDF417_COLUMNS } from './barcode.ts';
import type { Page } from './page.ts';

/** Zebra's usual resolution. */
const DOTS_PER_INCH = 203;
const dots = (points: number): number => Math.round((points * DOTS_PER_INCH) / 72);

/** A ZPL field's text: "^", "~" and "_" written as ^FH hex escapes. */
const field = (value: string): string =>
  `^FH_^FD${value.replace(/[_^~]/g, (character) => `_${character.charCodeAt(0).toString(16).toUpperCase()}`)}^FS`;

/**
 * A page in ZPL II for Zebra thermal printers at 203 dpi: the printer draws each symbol itself
 * (`^BX` DataMatrix ECC 200 at 4 dots = 19.7 mils a module, or `^B7` PDF417; `R` turned a quarter
 * clockwise as the page turns it, else `N`) from the exact bytes,
 * each written as a hex escape, with the text (font 0) and rules (`^GB`) in place.
 */
export function pageZpl(page: Page): string {
  const commands = ['^XA', '^CI28', `^PW${dots(page.width)}`, `^LL${dots(page.height)}`];
  for (const symbol of page.symbols) {
    const hex = [...symbol.bytes]
      .map((byte) => `_${byte.toString(16).padStart(2, '0').toUpperCase()}`)
      .join('');
    const orientation = symbol.rotation === 90 ? 'R' : 'N';
    const command =
      symbol.grid.symbology === 'datamatrix'
        ? `^BX${orientation},4,200`
        : `^BY2^B7${orientation},6,5,${PDF417_COLUMNS}`;
    commands.push(`^FO${dots(symbol.x)},${dots(symbol.y)}${command}^FH_^FD${hex}^FS`);
  }
  for (const box of page.fills)
    commands.push(
      `^FO${dots(box.x)},${dots(box.y)}^GB${dots(box.width)},${dots(box.height)},${Math.max(1, dots(Math.min(box.width, box.height)))}^FS`,
    );
  for (const box of page.strokes)
    commands.push(`^FO${dots(box.x)},${dots(box.y)}^GB${dots(box.width)},${dots(box.height)},1^FS`);
  for (const line of page.lines) {
    const height = dots(line.size);
    // ^FO places the field's top; a line's y is its baseline, about 0.8 em below the top.
    commands.push(
      `^FO${dots(line.x)},${Math.max(0, dots(line.y - line.size * 0.8))}^A0N,${height},${height}${field(line.text)}`,
    );
  }
  if (page.mark !== null)
    commands.push(`^FO${dots(12)},${dots(page.height / 2)}^A0N,${dots(18)},${dots(18)}${field(page.mark)}`);
  commands.push('^XZ', '');
  return commands.join('\n');
}
