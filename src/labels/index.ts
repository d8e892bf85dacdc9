export { moduleGrid, symbolPng, type ModuleGrid, type Symbology } from './barcode.ts';
export {
  MODULE_POINTS,
  SAMPLE_MARK,
  indiciumLayout,
  indiciumSvg,
  indiciumText,
  moduleRuns,
  type Box,
  type IndiciumLayout,
  type IndiciumText,
  type TextLine,
} from './svg-label.ts';
export { pdfDocument } from './pdf-document.ts';
export { indiciumZpl } from './zpl-label.ts';
export { sampleIndicium } from './sample.ts';
