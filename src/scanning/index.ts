// `scanning`: reads the 2-D barcodes on a printed label's image, as a scanner would, with
// ZXing-C++ (zxing-wasm) and its bundled .wasm file (no network). The CLI's `client verify` and the
// label tests read labels through it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { prepareZXingModule, readBarcodes as readWithZxing } from 'zxing-wasm/reader';

export type BarcodeFormat = 'DataMatrix' | 'PDF417';

let isPrepared = false;

function prepare(): void {
  if (isPrepared) return;
  // dist/es/reader/index.js → dist/reader/zxing_reader.wasm, inside the installed package.
  const wasmUrl = new URL('../../reader/zxing_reader.wasm', import.meta.resolve('zxing-wasm/reader'));
  const wasm = readFileSync(fileURLToPath(wasmUrl));
  prepareZXingModule({
    overrides: { wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) },
  });
  isPrepared = true;
}

/** Every valid symbol of these formats in an image (PNG, JPEG, …), as its raw bytes. */
export async function readBarcodes(
  image: Uint8Array,
  formats: readonly BarcodeFormat[] = ['DataMatrix', 'PDF417'],
): Promise<Buffer[]> {
  prepare();
  const results = await readWithZxing(new Blob([image]), { formats: [...formats], tryHarder: true });
  return results.filter((result) => result.isValid).map((result) => Buffer.from(result.bytes));
}
