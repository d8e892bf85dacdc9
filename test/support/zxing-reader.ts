import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installDebianPackages, runCommand } from './system-packages.ts';

/** Debian's command-line reader of zxing-cpp (package zxing-cpp-tools; 1.4 on bookworm). */
export const ZXING_READER = '/usr/bin/ZXingReader';

/**
 * Installs what the label tests read pages with when it is missing: Debian's zxing-cpp-tools
 * (ZXingReader) and poppler-utils (pdftoppm, pdftotext); fails saying so when it cannot.
 */
export function ensureLabelReadersInstalled(): void {
  const missing = [
    ...(existsSync(ZXING_READER) ? [] : ['zxing-cpp-tools']),
    ...(existsSync('/usr/bin/pdftoppm') ? [] : ['poppler-utils']),
  ];
  if (missing.length > 0)
    installDebianPackages(
      missing,
      "The label tests read pages with Debian's ZXingReader (zxing-cpp 1.4) and poppler-utils",
    );
}

/** The installed zxing-cpp-tools version, e.g. "1.4.0-3+b1". */
export function zxingReaderVersion(): string {
  const query = runCommand('dpkg-query', ['-W', '-f=${Version}', 'zxing-cpp-tools']);
  if (query.status !== 0) throw new Error(`zxing-cpp-tools is not installed:\n${query.output}`);
  return query.output.trim();
}

export interface ReadSymbol {
  readonly format: string;
  readonly bytes: Buffer;
}

/**
 * Every symbol ZXingReader finds in an image, read with its default options (as a scanner app
 * that links zxing-cpp 1.4 would): the format and the exact bytes of each.
 */
export function readWithZXingReader(image: Uint8Array): ReadSymbol[] {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-zxing-'));
  try {
    const file = join(folder, 'page.png');
    writeFileSync(file, image);
    return readImageFile(file);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The same, for an image already on disk. */
export function readImageFile(file: string): ReadSymbol[] {
  // -escape only writes control characters of the text as <NUL>…, so no byte breaks the output up.
  const run = runCommand(ZXING_READER, ['-escape', file]);
  if (run.status !== 0) throw new Error(`ZXingReader failed on ${file}:\n${run.output}`);
  // One paragraph a symbol: "Bytes:" is the hex of its content, "Format:" its symbology.
  return run.output
    .split(/\n\s*\n/)
    .map((paragraph) => ({
      format: /^Format:\s+(\S+)/m.exec(paragraph)?.[1],
      hex: /^Bytes:\s+([0-9A-F ]*)$/m.exec(paragraph)?.[1],
    }))
    .filter((symbol) => symbol.format !== undefined && symbol.hex !== undefined)
    .map((symbol) => ({
      format: symbol.format ?? '',
      bytes: Buffer.from((symbol.hex ?? '').replaceAll(' ', ''), 'hex'),
    }));
}
