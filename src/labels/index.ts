export { moduleGrid, symbolPng, type ModuleGrid, type Symbology } from './barcode.ts';
export { MODULE_POINTS, indiciumSvg, indiciumText, moduleRects, type IndiciumText } from './svg-label.ts';
export { indiciumZpl } from './zpl-label.ts';
