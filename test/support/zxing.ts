import { type BarcodeFormat, readBarcodes } from '../../src/scanning/index.ts';

/**
 * Decodes 2-D barcodes in an image with ZXing-C++ (zxing-wasm): a reader we did not write.
 * Returns each symbol's raw bytes.
 */
export function decodeBarcodes(image: Uint8Array, formats: BarcodeFormat[]): Promise<Buffer[]> {
  return readBarcodes(image, formats);
}
