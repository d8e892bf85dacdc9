import { PrintingError } from './printing-error.ts';

/** One record of a CSV file: its fields, or what is wrong with it; `line` is where it starts. */
export interface CsvRecord {
  readonly line: number;
  readonly fields: readonly string[];
  readonly problem: string | null;
}

export interface CsvLimits {
  /** Records after the header. */
  readonly maxRecords: number;
  /** Bytes in one field: a longer one makes its record's error and is never decoded. */
  readonly maxFieldBytes: number;
}

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The delimiter the header line uses: a comma, or the semicolon or tab some spreadsheets write. */
function delimiterOf(bytes: Buffer, start: number): number {
  let end = bytes.indexOf(LF, start);
  if (end === -1) end = bytes.length;
  const counts = new Map<number, number>([
    [0x2c, 0],
    [0x3b, 0],
    [0x09, 0],
  ]);
  for (let index = start; index < end; index += 1) {
    const byte = bytes[index] ?? 0;
    const count = counts.get(byte);
    if (count !== undefined) counts.set(byte, count + 1);
  }
  let best = 0x2c;
  for (const [byte, count] of counts) if (count > (counts.get(best) ?? 0)) best = byte;
  return best;
}

/**
 * Reads RFC 4180 CSV from raw bytes: quoted fields (with "" for a quote, and line breaks inside),
 * CRLF or LF line ends, a UTF-8 byte-order mark skipped. Every field must be UTF-8; a field that
 * is not, or is longer than the limit, makes an error for its record alone, and reading goes on.
 * The first record is the header. Refuses the file as a whole only when it cannot be a UTF-8 CSV
 * at all (empty, UTF-16) or has more records than the limit.
 */
export function readCsv(bytes: Buffer, limits: CsvLimits): { header: string[]; records: CsvRecord[] } {
  let position = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    throw new PrintingError(
      'mailing_list.invalid',
      'The file is UTF-16 text; save it as "CSV UTF-8 (comma delimited)" and import it again.',
    );
  const delimiter = delimiterOf(bytes, position);
  const records: CsvRecord[] = [];
  let line = 1;
  while (position < bytes.length) {
    const startLine = line;
    const fields: string[] = [];
    let problem: string | null = null;
    // One record: fields until an unquoted line end.
    for (;;) {
      let field: Buffer;
      if (bytes[position] === QUOTE) {
        const parts: Buffer[] = [];
        let from = position + 1;
        let closed = false;
        let cursor = from;
        while (cursor < bytes.length) {
          const quote = bytes.indexOf(QUOTE, cursor);
          if (quote === -1) break;
          for (let index = cursor; index < quote; index += 1) if (bytes[index] === LF) line += 1;
          if (bytes[quote + 1] === QUOTE) {
            parts.push(bytes.subarray(from, quote + 1));
            from = quote + 2;
            cursor = from;
            continue;
          }
          parts.push(bytes.subarray(from, quote));
          cursor = quote + 1;
          closed = true;
          break;
        }
        if (!closed) {
          records.push({
            line: startLine,
            fields,
            problem: 'A quoted field is never closed: a " is missing; nothing after it could be read.',
          });
          return { header: headerOf(records), records: records.slice(1) };
        }
        field = Buffer.concat(parts);
        position = cursor;
        // Anything between the closing quote and the delimiter is kept, as spreadsheets do.
        let end = position;
        while (end < bytes.length && bytes[end] !== delimiter && bytes[end] !== LF && bytes[end] !== CR)
          end += 1;
        if (end > position) field = Buffer.concat([field, bytes.subarray(position, end)]);
        position = end;
      } else {
        let end = position;
        while (end < bytes.length && bytes[end] !== delimiter && bytes[end] !== LF && bytes[end] !== CR)
          end += 1;
        field = bytes.subarray(position, end);
        position = end;
      }
      if (field.length > limits.maxFieldBytes) {
        problem ??= `Field ${fields.length + 1} is ${field.length.toLocaleString('en-US')} bytes long; a field may hold at most ${limits.maxFieldBytes.toLocaleString('en-US')}.`;
        fields.push('');
      } else {
        try {
          fields.push(utf8.decode(field));
        } catch {
          problem ??= `Field ${fields.length + 1} is not UTF-8 text; save the file as "CSV UTF-8" and import it again.`;
          fields.push('');
        }
      }
      if (bytes[position] === delimiter) {
        position += 1;
        continue;
      }
      break;
    }
    if (bytes[position] === CR) position += 1;
    if (bytes[position] === LF) position += 1;
    line += 1;
    const isBlank = fields.length === 1 && fields[0] === '' && problem === null;
    if (!isBlank) records.push({ line: startLine, fields, problem });
    if (records.length > limits.maxRecords + 1)
      throw new PrintingError(
        'mailing_list.invalid',
        `The list has more than ${limits.maxRecords.toLocaleString('en-US')} rows; split it into smaller lists.`,
      );
  }
  return { header: headerOf(records), records: records.slice(1) };
}

function headerOf(records: readonly CsvRecord[]): string[] {
  const header = records[0];
  if (header === undefined)
    throw new PrintingError(
      'mailing_list.invalid',
      'The file is empty: a header line and one row per piece are needed.',
    );
  if (header.problem !== null)
    throw new PrintingError('mailing_list.invalid', `The header line cannot be read: ${header.problem}`);
  return header.fields.map((field) => field.trim());
}
