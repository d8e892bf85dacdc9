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
    // The page's width in pixels at `dpi`: resvg reads the SVG's "pt" sizes as 4/3 CSS pixels, so
    // a zoom of dpi / 72 drew pages at 4/3 the resolution asked (400 dpi for 300).
    fitTo: { mode: 'width', value: Math.round((page.width / 72) * dpi) },
    font: {
      loadSystemFonts: false,
      fontFiles: labelFontFiles(),
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return renderer.render().asPng();
}
