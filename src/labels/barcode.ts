import bwipjs from 'bwip-js/node';

export type Symbology = 'datamatrix' | 'pdf417';

/** A 2-D symbol as its module grid, quiet zone not included: `dark[y * width + x]`. */
export interface ModuleGrid {
  readonly symbology: Symbology;
  readonly width: number;
  readonly height: number;
  readonly dark: readonly boolean[];
}

/**
 * The symbol carrying exactly `bytes` (binary mode, every byte value allowed): DataMatrix ECC 200
 * by default, PDF417 on request, as a grid of modules for vector drawing.
 */
export function moduleGrid(bytes: Buffer, symbology: Symbology = 'datamatrix'): ModuleGrid {
  const [symbol] = bwipjs.raw({
    bcid: symbology,
    text: bytes.toString('latin1'),
    binarytext: true,
    ...(symbology === 'pdf417' ? { columns: 6 } : {}),
  }) as unknown as { pixs: number[]; pixx: number; pixy: number }[];
  if (symbol === undefined) throw new Error(`bwip-js drew no ${symbology} symbol`);
  return {
    symbology,
    width: symbol.pixx,
    height: symbol.pixy,
    dark: symbol.pixs.map((pixel) => pixel === 1),
  };
}

/**
 * The symbol as a PNG on white: `pixelsPerModule` pixels a module (at 300 dpi, 6 pixels are the
 * 20 mil x-dimension of docs/labels.md), with a quiet zone of `quietModules` modules all round.
 */
export async function symbolPng(
  bytes: Buffer,
  options: { symbology?: Symbology; pixelsPerModule?: number; quietModules?: number } = {},
): Promise<Buffer> {
  const symbology = options.symbology ?? 'datamatrix';
  const scale = options.pixelsPerModule ?? 6;
  const quiet = options.quietModules ?? 2;
  return bwipjs.toBuffer({
    bcid: symbology,
    text: bytes.toString('latin1'),
    binarytext: true,
    scale,
    paddingwidth: quiet,
    paddingheight: quiet,
    backgroundcolor: 'FFFFFF',
    ...(symbology === 'pdf417' ? { columns: 6 } : {}),
  });
}
