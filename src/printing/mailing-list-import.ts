import { createHash } from 'node:crypto';
import type { AddressProvider } from '../addresses/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import { type Mills, add } from '../money/index.ts';
import { readCsv } from './csv.ts';
import { type ListField, type ListPiece, type RowError, checkRow, columnsOf } from './mailing-list-rows.ts';
import { PrintingError } from './printing-error.ts';

/** Rows a list may have, and bytes a field may hold. */
export const MAILING_LIST_LIMITS = {
  maxRows: 100_000,
  maxFieldBytes: 1_000,
  maxFileBytes: 32 * 1024 * 1024,
} as const;
export interface ImportRequest {
  readonly accountId: string;
  readonly name: string;
  readonly csv: Buffer;
  readonly mapping?: Partial<Record<ListField, string>>;
  /** Postage for rows without a postage column or value. */
  readonly postageMills?: Mills;
  readonly rateCategory?: string;
  /** A rate class for rows without their own (their weight then rates them). */
  readonly rateClass?: string;
  /** Checks and standardizes each row's address (docs/addresses.md); structural checks only without. */
  readonly addresses?: AddressProvider;
  /** Rates a row's piece from the rate tables. */
  readonly rate?: (
    classCode: string,
    weightOunces: number,
    zip: string,
  ) => { priceMills: number; rateCategory: string };
}

export interface ListRow {
  readonly row: number;
  readonly piece: ListPiece | null;
  readonly errors: readonly RowError[] | null;
}

/**
 * Reads a mailing list's CSV into rows: each row's checked piece or its errors (the file's own
 * problems, structural checks, rating, then the address provider), and the total postage of the
 * rows without errors.
 */
export async function readListRows(
  request: ImportRequest,
): Promise<{ rows: ListRow[]; pieces: ListPiece[]; total: Mills }> {
  if (request.csv.length > MAILING_LIST_LIMITS.maxFileBytes)
    throw new PrintingError('mailing_list.invalid', 'The file is larger than 32 MiB; split the list.');
  const { header, records } = readCsv(request.csv, {
    maxRecords: MAILING_LIST_LIMITS.maxRows,
    maxFieldBytes: MAILING_LIST_LIMITS.maxFieldBytes,
  });
  const columns = columnsOf(header, request.mapping ?? {}, {
    postage: request.postageMills !== undefined || request.rateClass !== undefined,
  });
  const defaults = {
    ...(request.postageMills === undefined ? {} : { postageMills: request.postageMills }),
    rateCategory: request.rateCategory ?? 'FC',
    ...(request.rateClass === undefined ? {} : { rateClass: request.rateClass }),
    ...(request.rate === undefined ? {} : { rate: request.rate }),
  };
  const pieces: ListPiece[] = [];
  let total = 0 as Mills;
  const rowOf = (record: (typeof records)[number], row: number): ListRow => {
    if (record.problem !== null)
      return {
        row,
        piece: null,
        errors: [{ field: 'row', message: `Line ${record.line}: ${record.problem}` }],
      };
    if (record.fields.length !== header.length)
      return {
        row,
        piece: null,
        errors: [
          {
            field: 'row',
            message: `Line ${record.line} has ${record.fields.length} fields; the header has ${header.length}.`,
          },
        ],
      };
    return { row, ...checkRow(record.fields, columns, defaults) };
  };
  const rows: ListRow[] = [];
  for (const [index, record] of records.entries()) {
    let checked = rowOf(record, index + 1);
    if (checked.piece !== null && request.addresses !== undefined)
      checked = await verifiedRow(checked.row, checked.piece, request.addresses);
    if (checked.piece !== null) {
      pieces.push(checked.piece);
      total = add(total, checked.piece.postageMills);
    }
    rows.push(checked);
  }
  if (rows.length === 0)
    throw new PrintingError('mailing_list.invalid', 'The file has a header but no rows.');
  return { rows, pieces, total };
}

/**
 * A row's address through the address provider: the standardized (or clearly corrected) address
 * replaces the given one; an ambiguous or invalid address is the row's error, with the candidates.
 */
async function verifiedRow(row: number, piece: ListPiece, addresses: AddressProvider): Promise<ListRow> {
  const { line1, line2, city, state, zip } = piece;
  const result = await addresses.verify({ line1, line2, city, state, zip });
  if (result.address !== null && result.status !== 'ambiguous') {
    const { line1: street, line2: second, city: town, state: code, zip: postal } = result.address;
    const { line2: _given, ...rest } = piece;
    return {
      row,
      piece: {
        ...rest,
        line1: street,
        ...(second === undefined ? {} : { line2: second }),
        city: town,
        state: code,
        zip: postal,
      },
      errors: null,
    };
  }
  const options = result.candidates
    .slice(0, 3)
    .map((candidate) => `${candidate.address.city} ${candidate.address.state} ${candidate.address.zip}`)
    .join('; ');
  const message =
    result.status === 'ambiguous'
      ? `The address is ambiguous; candidates: ${options}.`
      : `The address was not found: ${result.messages.slice(-2).join('; ')}.`;
  return { row, piece: null, errors: [{ field: 'address', message }] };
}

/** SHA-256 (hex) of the canonical JSON of the pieces, in row order. */
export function digestOf(pieces: readonly ListPiece[]): string {
  return createHash('sha256').update(canonicalJson(pieces)).digest('hex');
}
