import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

/**
 * The sfnt (TrueType) font inside a WOFF 1.0 file: each table, zlib-compressed when that made it
 * smaller, written back uncompressed behind a fresh table directory (W3C WOFF File Format 1.0).
 */
export function woffToSfnt(woff: Buffer): Buffer {
  if (woff.toString('latin1', 0, 4) !== 'wOFF') throw new Error('not a WOFF 1.0 font');
  const flavor = woff.readUInt32BE(4);
  const count = woff.readUInt16BE(12);
  const tables = Array.from({ length: count }, (_, index) => {
    const entry = 44 + index * 20;
    const offset = woff.readUInt32BE(entry + 4);
    const compressed = woff.readUInt32BE(entry + 8);
    const length = woff.readUInt32BE(entry + 12);
    const raw = woff.subarray(offset, offset + compressed);
    return {
      tag: woff.subarray(entry, entry + 4),
      checksum: woff.readUInt32BE(entry + 16),
      data: compressed < length ? inflateSync(raw) : raw,
    };
  });
  const entrySelector = Math.floor(Math.log2(count));
  const searchRange = 2 ** entrySelector * 16;
  const header = Buffer.alloc(12 + 16 * count);
  header.writeUInt32BE(flavor, 0);
  header.writeUInt16BE(count, 4);
  header.writeUInt16BE(searchRange, 6);
  header.writeUInt16BE(entrySelector, 8);
  header.writeUInt16BE(count * 16 - searchRange, 10);
  const parts: Buffer[] = [header];
  let offset = header.length;
  tables.forEach((table, index) => {
    const record = 12 + index * 16;
    table.tag.copy(header, record);
    header.writeUInt32BE(table.checksum, record + 4);
    header.writeUInt32BE(offset, record + 8);
    header.writeUInt32BE(table.data.length, record + 12);
    const padding = (4 - (table.data.length % 4)) % 4;
    parts.push(table.data, Buffer.alloc(padding));
    offset += table.data.length + padding;
  });
  return Buffer.concat(parts);
}

const FONTS = {
  regular: '@fontsource/dejavu-sans/files/dejavu-sans-latin-400-normal.woff',
  bold: '@fontsource/dejavu-sans/files/dejavu-sans-latin-700-normal.woff',
} as const;

let fontFiles: string[] | null = null;

/**
 * TrueType files of DejaVu Sans (regular and bold, from the `@fontsource/dejavu-sans` package),
 * unpacked once into the temporary directory: the fonts PNG labels are drawn with, the same on
 * every machine whatever fonts it has installed.
 */
export function labelFontFiles(): string[] {
  if (fontFiles !== null) return fontFiles;
  const require = createRequire(import.meta.url);
  const directory = join(tmpdir(), 'indicia-fonts-dejavu-5.3.0');
  mkdirSync(directory, { recursive: true });
  fontFiles = Object.entries(FONTS).map(([weight, module]) => {
    const file = join(directory, `DejaVuSans-${weight}.ttf`);
    if (!existsSync(file)) {
      const partial = `${file}.${process.pid}.part`;
      writeFileSync(partial, woffToSfnt(readFileSync(require.resolve(module))));
      renameSync(partial, file);
    }
    return file;
  });
  return fontFiles;
}
