import { moduleRuns } from './indicium-block.ts';
import type { Page } from './page.ts';

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (character) => `&#${character.charCodeAt(0)};`);

const n = (value: number): string => (Math.round(value * 1000) / 1000).toString();

const FONT = 'font-family="Helvetica, Arial, DejaVu Sans, sans-serif"';

/** A page as SVG, in points: the symbols as vector rectangles (one per run of dark modules). */
export function pageSvg(page: Page): string {
  const { width, height } = page;
  const boxes = [
    ...page.symbols.flatMap((symbol) => moduleRuns(symbol.grid, symbol.x, symbol.y, symbol.moduleSize)),
    ...page.fills,
  ];
  const body = [
    `<rect width="${n(width)}" height="${n(height)}" fill="#fff"/>`,
    `<g fill="#000">${boxes.map((box) => `<rect x="${n(box.x)}" y="${n(box.y)}" width="${n(box.width)}" height="${n(box.height)}"/>`).join('')}</g>`,
    ...page.strokes.map(
      (box) =>
        `<rect x="${n(box.x)}" y="${n(box.y)}" width="${n(box.width)}" height="${n(box.height)}" fill="none" stroke="#888" stroke-width="0.5"/>`,
    ),
    ...page.lines.map(
      (line) =>
        `<text x="${n(line.x)}" y="${n(line.y)}" ${FONT} font-size="${line.size}" font-weight="${line.isBold ? 'bold' : 'normal'}">${escape(line.text)}</text>`,
    ),
  ];
  if (page.mark !== null) {
    const size = Math.min(48, Math.max(12, width / 16));
    body.push(
      `<text x="${n(width / 2)}" y="${n(height / 2)}" text-anchor="middle" ${FONT} font-size="${n(size)}" font-weight="bold" fill="#c00" opacity="0.6" transform="rotate(-15 ${n(width / 2)} ${n(height / 2)})">${escape(page.mark)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}pt" height="${n(height)}pt" viewBox="0 0 ${n(width)} ${n(height)}">${body.join('')}</svg>\n`;
}
