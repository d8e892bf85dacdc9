import type { IndiciumLayout } from './svg-label.ts';

/** Text for a PDF string literal in WinAnsi (Helvetica's standard encoding): ASCII, escaped. */
function pdfString(text: string): string {
  const escaped = text
    .replace(/[\\()]/g, (character) => `\\${character}`)
    .replace(/—/g, '\\227') // WinAnsi's em dash
    .replace(/[^\x20-\x7e]/g, '?');
  return `(${escaped})`;
}

const n = (value: number): string => (Math.round(value * 1000) / 1000).toString();

/** One page's drawing commands: the layout's runs filled black, its lines in Helvetica. */
function pageContent(layout: IndiciumLayout, sampleMark: string | null): string {
  const top = layout.height;
  const parts = ['0 g'];
  for (const run of layout.runs)
    parts.push(`${n(run.x)} ${n(top - run.y - run.height)} ${n(run.width)} ${n(run.height)} re`);
  parts.push('f');
  for (const line of layout.lines)
    parts.push(
      `BT /${line.isBold ? 'F2' : 'F1'} ${line.size} Tf ${n(line.x)} ${n(top - line.y)} Td ${pdfString(line.text)} Tj ET`,
    );
  if (sampleMark !== null)
    parts.push(
      `0.8 0 0 rg BT /F2 12 Tf 0.966 0.259 -0.259 0.966 ${n(layout.width * 0.08)} ${n(top * 0.2)} Tm ${pdfString(sampleMark)} Tj ET`,
    );
  return parts.join('\n');
}

/**
 * A PDF (1.4) of one page per layout, drawn as vectors with the two standard Helvetica fonts (no
 * embedding needed): what `pdftotext` reads back and `pdftoppm` rasterizes.
 */
export function pdfDocument(pages: readonly IndiciumLayout[], options: { sampleMark?: string } = {}): Buffer {
  const objects: string[] = [];
  const add = (body: string): number => {
    objects.push(body);
    return objects.length;
  };
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // the page tree, filled in below
  const regular = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  const bold = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>');
  const kids: number[] = [];
  for (const layout of pages) {
    const content = pageContent(layout, options.sampleMark ?? null);
    const stream = add(
      `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    );
    kids.push(
      add(
        `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${n(layout.width)} ${n(layout.height)}] /Resources << /Font << /F1 ${regular} 0 R /F2 ${bold} 0 R >> >> /Contents ${stream} 0 R >>`,
      ),
    );
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  let output = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((body, index) => {
    offsets.push(Buffer.byteLength(output, 'latin1'));
    output += `${index + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(output, 'latin1');
  output += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) output += `${String(offset).padStart(10, '0')} 00000 n \n`;
  output += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(output, 'latin1');
}
