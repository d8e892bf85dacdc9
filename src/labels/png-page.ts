import { Resvg } from '@resvg/resvg-js';
import { labelFontFiles } from './fonts.ts';
import type { Page } from './page.ts';
import { pageSvg } from './svg-page.ts';

/** Resolutions a PNG label may be drawn at: 300 dpi (the default) makes a 20 mil module 6 pixels. */
export const PNG_DPI = { min: 150, max: 600, default: 300 } as const;

/**
 * A page as a PNG on white at `dpi`, drawn by resvg from the page's SVG with DejaVu Sans (shipped
 * as an npm package, so the text looks the same on every machine). Symbol modules are snapped to
 * whole pixels (crisp edges) so scanners see square modules.
 */
export function pagePng(page: Page, dpi: number = PNG_DPI.default): Buffer {
  const svg = pageSvg(page).replace('<svg ', '<svg shape-rendering="crispEdges" ');
  const renderer = new Resvg(svg, {
    background: '#ffffff',
    fitTo: { mode: 'zoom', value: dpi / 72 },
    font: {
      loadSystemFonts: false,
      fontFiles: labelFontFiles(),
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return renderer.render().asPng();
}
