import { type LabelContent, type LayoutName, labelPage, markedPage, sheetPage } from './page.ts';
import { pageStream, pdfDocument } from './pdf-document.ts';
import { pagePng } from './png-page.ts';
import { pageSvg } from './svg-page.ts';
import { pageZpl } from './zpl-page.ts';

export type LabelFileFormat = 'svg' | 'pdf' | 'png' | 'zpl';

/** What a render thread is asked for: one label page as a file, or as a PDF page stream. */
export interface RenderJob {
  /** `sheet` draws several labels on one sheet page (serialized stock, test prints). */
  readonly layout: LayoutName | 'sheet';
  readonly contents: readonly LabelContent[];
  /** A file, or `stream`: the page's size and deflated drawing for a PDF being written elsewhere. */
  readonly output: LabelFileFormat | 'stream';
  readonly dpi?: number | undefined;
  /** SAMPLE or TEST PRINT words across the page, and the page edge drawn for a test print. */
  readonly mark?:
    { readonly text: string; readonly outline: boolean; readonly outlines?: boolean } | undefined;
}

/** Does a render job: the page, then the file (a stream job: width and height as two doubles, then the stream). */
export function renderJob(job: RenderJob): Buffer {
  const [first] = job.contents;
  if (first === undefined) throw new Error('a render job needs a label');
  let page =
    job.layout === 'sheet'
      ? sheetPage(job.contents, { outlines: job.mark?.outlines === true })
      : labelPage(job.layout, first);
  if (job.mark !== undefined) page = markedPage(page, job.mark.text, { outline: job.mark.outline });
  switch (job.output) {
    case 'stream': {
      const stream = pageStream(page);
      const size = Buffer.alloc(16);
      size.writeDoubleBE(stream.width, 0);
      size.writeDoubleBE(stream.height, 8);
      return Buffer.concat([size, stream.content]);
    }
    case 'pdf':
      return pdfDocument([page]);
    case 'png':
      return pagePng(page, job.dpi);
    case 'zpl':
      return Buffer.from(pageZpl(page));
    case 'svg':
      return Buffer.from(pageSvg(page));
  }
}
