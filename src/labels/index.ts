export { PDF417_COLUMNS, moduleGrid, type ModuleGrid, type Symbology } from './barcode.ts';
export {
  MODULE_POINTS,
  QUIET_MODULES,
  SAMPLE_MARK,
  TEST_PRINT_MARK,
  indiciumLines,
  indiciumText,
  moduleRuns,
  type Box,
  type IndiciumText,
  type TextLine,
} from './indicium-block.ts';
export {
  LAYOUTS,
  SHEET,
  sheetLabelOrigin,
  labelPage,
  markedPage,
  sheetPage,
  type LabelAddress,
  type LabelContent,
  type LayoutName,
  type Page,
  type PlacedSymbol,
} from './page.ts';
export { PdfWriter, pdfDocument } from './pdf-document.ts';
export { PNG_DPI, pagePng } from './png-page.ts';
export { pageSvg } from './svg-page.ts';
export { pageZpl } from './zpl-page.ts';
export { sampleIndicium } from './sample.ts';
export { type PageStream, pageStream } from './pdf-document.ts';
export { RenderPool } from './render-pool.ts';
export { type LabelFileFormat, type RenderJob, renderJob } from './render-job.ts';
