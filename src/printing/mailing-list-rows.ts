import { US_STATE_CODES, ZIP_PATTERN } from '../encoding/index.ts';
import { type Mills, MoneyError, parseDollars } from '../money/index.ts';
import { PrintingError } from './printing-error.ts';

/** What a row of a mailing list becomes: the delivery address and the postage for the piece. */
export interface ListPiece {
  readonly name: string;
  readonly company?: string;
  readonly line1: string;
  readonly line2?: string;
  readonly city: string;
  readonly state: string;
  readonly zip: string;
  readonly postageMills: Mills;
  readonly rateCategory: string;
}

/** A field of a piece that a CSV column fills. */
export const LIST_FIELDS = [
  'name',
  'company',
  'line1',
  'line2',
  'city',
  'state',
  'zip',
  'postage',
  'rateCategory',
  'rateClass',
  'weight',
] as const;
export type ListField = (typeof LIST_FIELDS)[number];

/** The header names recognized without a mapping (compared in lower case, spaces and _ - . ignored). */
const DEFAULT_HEADERS: Readonly<Record<ListField, readonly string[]>> = {
  name: ['name', 'fullname', 'recipient', 'addressee', 'contact'],
  company: ['company', 'organization', 'organisation', 'firm', 'business'],
  line1: ['line1', 'address', 'address1', 'addressline1', 'street', 'streetaddress', 'deliveryaddress'],
  line2: ['line2', 'address2', 'addressline2', 'apt', 'unit', 'suite', 'secondary'],
  city: ['city', 'town'],
  state: ['state', 'st', 'province'],
  zip: ['zip', 'zipcode', 'zip4', 'postalcode', 'postcode'],
  postage: ['postage', 'amount', 'postageusd', 'price'],
  rateCategory: ['class', 'mailclass', 'ratecategory', 'rate'],
  rateClass: ['rateclass', 'service', 'product'],
  weight: ['weight', 'weightoz', 'ounces', 'oz'],
};
const REQUIRED: readonly ListField[] = ['name', 'line1', 'city', 'state', 'zip'];

const simplify = (header: string): string => header.toLowerCase().replace(/[\s_.-]/g, '');

/**
 * Which column holds each field: the mapping's header names first (exactly as in the file, case
 * aside), else the recognized defaults. Refuses a file missing a required column, saying which.
 */
export function columnsOf(
  header: readonly string[],
  mapping: Partial<Record<ListField, string>>,
  defaults: { postage: boolean },
): Partial<Record<ListField, number>> {
  const columns: Partial<Record<ListField, number>> = {};
  const simplified = header.map(simplify);
  for (const field of LIST_FIELDS) {
    const mapped = mapping[field];
    if (mapped !== undefined) {
      const index = simplified.indexOf(simplify(mapped));
      if (index === -1)
        throw new PrintingError(
          'mailing_list.invalid',
          `The mapping names the column "${mapped.slice(0, 60)}" for ${field}, but the header has no such column. The header has: ${header.join(', ').slice(0, 400)}.`,
          { details: { field, header } },
        );
      columns[field] = index;
      continue;
    }
    const index = simplified.findIndex((name) => DEFAULT_HEADERS[field].includes(name));
    if (index !== -1) columns[field] = index;
  }
  const isPriced = defaults.postage || columns.rateClass !== undefined;
  const missing = [...REQUIRED, ...(isPriced ? [] : (['postage'] as const))].filter(
    (field) => columns[field] === undefined,
  );
  if (missing.length > 0)
    throw new PrintingError(
      'mailing_list.invalid',
      `The file has no column for ${missing.join(', ')}. Name the columns in the header (docs/labels.md lists the names understood) or map them. The header has: ${header.join(', ').slice(0, 400)}.`,
      { details: { missing, header } },
    );
  return columns;
}

/** A row's errors: the field at fault and what to do about it. */
export interface RowError {
  readonly field: ListField | 'row' | 'address';
  readonly message: string;
}

/** How a field is named to a person. */
const FIELD_NAMES: Readonly<Record<ListField, string>> = {
  name: 'name',
  company: 'company',
  line1: 'street address',
  line2: 'second address line',
  city: 'city',
  state: 'state',
  zip: 'ZIP code',
  postage: 'postage',
  rateCategory: 'rate category',
  rateClass: 'rate class',
  weight: 'weight',
};

const MAX_LINE = 40;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A row checked and written the postal way (trimmed, single spaces, upper case, ZIP+4 with its
 * hyphen), or its errors. The checks are structural — full address standardization against
 * reference data arrives with the address module (issue 7).
 */
export function checkRow(
  fields: readonly string[],
  columns: Partial<Record<ListField, number>>,
  defaults: {
    postageMills?: Mills;
    rateCategory: string;
    rateClass?: string;
    /** Rates a piece (the rate tables): its postage and rate category, or throws what is wrong. */
    rate?: (
      classCode: string,
      weightOunces: number,
      zip: string,
    ) => { priceMills: number; rateCategory: string };
  },
): { piece: ListPiece; errors: null } | { piece: null; errors: RowError[] } {
  const errors: RowError[] = [];
  const value = (field: ListField): string => {
    const index = columns[field];
    const raw = index === undefined ? '' : (fields[index] ?? '');
    if (CONTROL.test(raw)) {
      errors.push({
        field,
        message: `The ${FIELD_NAMES[field]} holds a control character (a tab or line break).`,
      });
      return '';
    }
    return raw.trim().replace(/\s+/g, ' ').toUpperCase();
  };
  const text = (field: ListField, isRequired: boolean): string => {
    const reported = errors.length;
    const found = value(field);
    if (found === '' && isRequired && errors.length === reported)
      errors.push({ field, message: `The ${FIELD_NAMES[field]} is empty.` });
    if (found.length > MAX_LINE)
      errors.push({
        field,
        message: `The ${FIELD_NAMES[field]} has ${found.length} characters; an address line has at most ${MAX_LINE}.`,
      });
    return found;
  };
  const name = text('name', true);
  const company = text('company', false);
  const line1 = text('line1', true);
  const line2 = text('line2', false);
  const city = text('city', true);
  const state = value('state');
  if (!US_STATE_CODES.has(state))
    errors.push({
      field: 'state',
      message: `"${state.slice(0, 20)}" is not a USPS state code (like NY or CA).`,
    });
  let zip = value('zip');
  if (/^\d{9}$/.test(zip)) zip = `${zip.slice(0, 5)}-${zip.slice(5)}`;
  else if (/^\d{4}$/.test(zip)) zip = `0${zip}`; // a spreadsheet dropped the leading zero
  if (!ZIP_PATTERN.test(zip))
    errors.push({
      field: 'zip',
      message: `"${zip.slice(0, 20)}" is not a ZIP code: 5 digits, or ZIP+4 like 10001-1234.`,
    });
  let postageMills = defaults.postageMills;
  const postage = value('postage');
  if (postage !== '') {
    try {
      postageMills = parseDollars(postage);
    } catch (error) {
      if (!(error instanceof MoneyError)) throw error;
      errors.push({
        field: 'postage',
        message: `"${postage.slice(0, 20)}" is not a dollar amount like 0.73.`,
      });
    }
  }
  let rateCategory = value('rateCategory') || defaults.rateCategory;
  const rateClass = value('rateClass') || defaults.rateClass;
  if (rateClass !== undefined && rateClass !== '') {
    const weight = Number(value('weight'));
    if (!(weight > 0))
      errors.push({ field: 'weight', message: 'The weight in ounces is needed to rate the piece.' });
    else if (defaults.rate === undefined)
      errors.push({ field: 'rateClass', message: 'Rating is not available here; give the postage.' });
    else if (errors.every((error) => error.field !== 'zip')) {
      try {
        const rated = defaults.rate(rateClass, weight, zip);
        if (postage === '') postageMills = rated.priceMills as Mills;
        else if (postageMills !== undefined && postageMills < rated.priceMills)
          errors.push({
            field: 'postage',
            message: `${postage} is less than the ${rateClass} rate of ${(rated.priceMills / 1000).toFixed(2)} for this piece.`,
          });
        rateCategory = rated.rateCategory;
      } catch (error) {
        errors.push({ field: 'rateClass', message: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  if (postageMills === undefined) {
    if (postage === '' && !errors.some((error) => error.field === 'rateClass' || error.field === 'weight'))
      errors.push({
        field: 'postage',
        message: 'The postage is empty: give it, or a rate class and weight.',
      });
  } else if (postageMills <= 0 || postageMills > 100_000_000) {
    errors.push({ field: 'postage', message: 'The postage must be more than $0 and at most $100,000.' });
  }
  if (!/^[A-Z0-9]{1,4}$/.test(rateCategory))
    errors.push({
      field: 'rateCategory',
      message: `"${rateCategory.slice(0, 20)}" is not a rate category like FC.`,
    });
  if (errors.length > 0 || postageMills === undefined) return { piece: null, errors };
  return {
    piece: {
      name,
      ...(company === '' ? {} : { company }),
      line1,
      ...(line2 === '' ? {} : { line2 }),
      city,
      state,
      zip,
      postageMills,
      rateCategory,
    },
    errors: null,
  };
}
