import bwipjs from 'bwip-js/node';

export type Symbology = 'datamatrix' | 'pdf417';

/** PDF417 data columns: a symbol about as wide as it is tall for a 121-byte indicium. */
export const PDF417_COLUMNS = 6;

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
    ...(symbology === 'pdf417' ? { columns: PDF417_COLUMNS } : {}),
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
 * The grid turned a quarter clockwise: the same symbol, read in any orientation, drawn so that a
 * reader scanning a page's vertical centre line finds it (docs/labels.md, "Where the symbol sits").
 */
export function turnedClockwise(grid: ModuleGrid): ModuleGrid {
  const dark: boolean[] = [];
  for (let y = 0; y < grid.width; y += 1)
    for (let x = 0; x < grid.height; x += 1)
      dark.push(grid.dark[(grid.height - 1 - x) * grid.width + y] === true);
  return { symbology: grid.symbology, width: grid.height, height: grid.width, dark };
}
