import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';

let prepared = false;

/**
 * Decodes 2-D barcodes in an image with ZXing-C++ (zxing-wasm): a reader we did not write, given
 * its bundled .wasm file (no network). Returns each symbol's raw bytes.
 */
export async function decodeBarcodes(
  image: Uint8Array,
  formats: ('DataMatrix' | 'PDF417')[],
): Promise<Buffer[]> {
  if (!prepared) {
    const wasm = readFileSync(
      join(
        import.meta.dirname,
        '..',
        '..',
        'node_modules',
        'zxing-wasm',
        'dist',
        'reader',
        'zxing_reader.wasm',
      ),
    );
    prepareZXingModule({
      overrides: { wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) },
    });
    prepared = true;
  }
  const results = await readBarcodes(new Blob([image]), { formats, tryHarder: true });
  return results.filter((result) => result.isValid).map((result) => Buffer.from(result.bytes));
}
