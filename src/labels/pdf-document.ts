import { deflateSync } from 'node:zlib';
import { moduleRuns } from './indicium-block.ts';
import type { Page } from './page.ts';

/** Text for a PDF string literal in WinAnsi (Helvetica's standard encoding): ASCII, escaped. */
function pdfString(text: string): string {
  const escaped = text
    .replace(/[\\()]/g, (character) => `\\${character}`)
    .replace(/—/g, '\\227') // WinAnsi's em dash
    .replace(/[^\x20-\x7e]/g, '?');
  return `(${escaped})`;
}

const n = (value: number): string => (Math.round(value * 1000) / 1000).toString();

/** One page's drawing commands: symbols and fills black, strokes grey, lines in Helvetica. */
function pageContent(page: Page): string {
  const top = page.height;
  const parts = ['0 g'];
  const rectangle = (box: { x: number; y: number; width: number; height: number }): string =>
    `${n(box.x)} ${n(top - box.y - box.height)} ${n(box.width)} ${n(box.height)} re`;
  for (const symbol of page.symbols)
    for (const run of moduleRuns(symbol.grid, symbol.x, symbol.y, symbol.moduleSize))
      parts.push(rectangle(run));
  for (const fill of page.fills) parts.push(rectangle(fill));
  parts.push('f');
  if (page.strokes.length > 0) {
    parts.push('0.5 G 0.5 w');
    for (const stroke of page.strokes) parts.push(rectangle(stroke));
    parts.push('S');
  }
  for (const line of page.lines)
    parts.push(
      `BT /${line.isBold ? 'F2' : 'F1'} ${line.size} Tf ${n(line.x)} ${n(top - line.y)} Td ${pdfString(line.text)} Tj ET`,
    );
  if (page.mark !== null) {
    // Centred by Helvetica-Bold's mean capital width (about 0.68 em), turned 15 degrees.
    const size = Math.min(48, Math.max(12, page.width / 16));
    const half = (page.mark.length * size * 0.68) / 2;
    const [cos, sin] = [Math.cos(Math.PI / 12), Math.sin(Math.PI / 12)];
    const x = page.width / 2 - half * cos;
    const y = top / 2 - half * sin;
    parts.push(
      `0.8 0 0 rg BT /F2 ${n(size)} Tf ${n(cos)} ${n(sin)} ${n(-sin)} ${n(cos)} ${n(x)} ${n(y)} Tm ${pdfString(page.mark)} Tj ET`,
    );
  }
  return parts.join('\n');
}

/** A page ready for a PDF: its size in points and its drawing, deflated. */
export interface PageStream {
  readonly width: number;
  readonly height: number;
  readonly content: Buffer;
}

/** The page's drawing as a deflated content stream (the costly part of a PDF page). */
export function pageStream(page: Page): PageStream {
  const content = deflateSync(Buffer.from(pageContent(page), 'latin1'), { level: 1 });
  return { width: page.width, height: page.height, content };
}

/**
 * A PDF 1.4 written page by page to `sink` (a file for a 10,000-piece mailing list, an array for
 * one label): vectors only, each page's drawing deflated, the two standard Helvetica fonts (no
 * embedding needed). What `pdftotext` reads back and `pdftoppm` rasterizes.
 */
export class PdfWriter {
  private readonly offsets: number[] = [];
  private readonly kids: number[] = [];
  private written = 0;
  private next = 5; // 1 catalog, 2 page tree, 3 and 4 the fonts
  private readonly sink: (chunk: Buffer) => void;

  constructor(sink: (chunk: Buffer) => void) {
    this.sink = sink;
    this.emit(Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'));
    this.object(1, '<< /Type /Catalog /Pages 2 0 R >>');
    this.object(3, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
    this.object(4, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>');
  }

  get pages(): number {
    return this.kids.length;
  }

  addPage(page: Page): void {
    this.addStream(pageStream(page));
  }

  /** A page drawn elsewhere (a render worker): its size and deflated drawing. */
  addStream({ width, height, content }: PageStream): void {
    const stream = this.next;
    const kid = this.next + 1;
    this.next += 2;
    this.offsets[stream] = this.written;
    this.emit(
      Buffer.from(
        `${stream} 0 obj\n<< /Length ${content.length} /Filter /FlateDecode >>\nstream\n`,
        'latin1',
      ),
    );
    this.emit(content);
    this.emit(Buffer.from('\nendstream\nendobj\n', 'latin1'));
    this.object(
      kid,
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${n(width)} ${n(height)}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${stream} 0 R >>`,
    );
    this.kids.push(kid);
  }

  /** Writes the page tree, the cross-reference table and the trailer. */
  finish(): void {
    this.object(
      2,
      `<< /Type /Pages /Kids [${this.kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${this.kids.length} >>`,
    );
    const xref = this.written;
    const rows = [`xref\n0 ${this.next}\n0000000000 65535 f \n`];
    for (let object = 1; object < this.next; object += 1)
      rows.push(`${String(this.offsets[object] ?? 0).padStart(10, '0')} 00000 n \n`);
    rows.push(`trailer\n<< /Size ${this.next} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
    this.emit(Buffer.from(rows.join(''), 'latin1'));
  }

  private object(number: number, body: string): void {
    this.offsets[number] = this.written;
    this.emit(Buffer.from(`${number} 0 obj\n${body}\nendobj\n`, 'latin1'));
  }

  private emit(chunk: Buffer): void {
    this.written += chunk.length;
    this.sink(chunk);
  }
}

/** A whole PDF of these pages, in memory. */
export function pdfDocument(pages: readonly Page[]): Buffer {
  const chunks: Buffer[] = [];
  const writer = new PdfWriter((chunk) => chunks.push(chunk));
  for (const page of pages) writer.addPage(page);
  writer.finish();
  return Buffer.concat(chunks);
}
