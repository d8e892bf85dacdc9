import { US_STATE_CODES } from '../encoding/index.ts';
import { STATE_NAMES } from './publication28.ts';
import { cleanLine } from './standardize.ts';
import { cityKey, zipData } from './zip-data.ts';

/** An address as a sender gives it: lines, city, state, ZIP, any of them rough. */
export interface AddressInput {
  readonly line1: string;
  readonly line2?: string | undefined;
  readonly city?: string | undefined;
  readonly state?: string | undefined;
  readonly zip?: string | undefined;
}

/** A state code, from a code or a name in any case; null when it is neither. */
export function stateCode(text: string): string | null {
  const cleaned = cleanLine(text);
  if (US_STATE_CODES.has(cleaned)) return cleaned;
  return STATE_NAMES.get(cleaned) ?? null;
}

const ZIP_AT_END = /(?:^|\s)(\d{5})(?:\s?-\s?(\d{4})|(\d{4}))?$/;

/** The state at the end of `words` (a code, or a name of up to four words) and how many words it took. */
function stateAtEnd(words: readonly string[]): { code: string; taken: number } | null {
  for (let taken = Math.min(4, words.length); taken >= 1; taken -= 1) {
    const code = stateCode(words.slice(words.length - taken).join(' '));
    if (code !== null) return { code, taken };
  }
  return null;
}

/**
 * Splits a free-form address ("123 Main St Apt 4, Springfield, IL 62704", or several lines) into
 * lines, city, state and ZIP. Commas and line breaks separate parts when there are any; otherwise
 * the city is the longest run of words before the state that names a city of that state.
 */
export function parseFreeForm(text: string): AddressInput {
  const parts = text
    .split(/[\n,]+/)
    .map((part) => part.replace(/\s+/g, ' ').trim())
    .filter((part) => part !== '');
  let last = parts.pop() ?? '';
  let zip: string | undefined;
  const zipMatch = ZIP_AT_END.exec(last.toUpperCase());
  if (zipMatch !== null) {
    const plus4 = zipMatch[2] ?? zipMatch[3];
    zip = plus4 === undefined ? zipMatch[1] : `${zipMatch[1] ?? ''}-${plus4}`;
    last = last.slice(0, zipMatch.index).trim();
    if (last === '' && parts.length > 0) last = parts.pop() ?? '';
  }
  let words = cleanLine(last)
    .split(' ')
    .filter((word) => word !== '');
  const state = stateAtEnd(words);
  if (state !== null) words = words.slice(0, words.length - state.taken);
  let city: string | undefined;
  if (words.length > 0 && parts.length > 0) {
    city = words.join(' ');
  } else if (words.length > 0) {
    // One run of words: the street, then the city. The longest known city of the state wins.
    const cities = state === null ? undefined : zipData().citiesByState.get(state.code);
    let taken = 0;
    for (let size = Math.min(4, words.length - 1); size >= 1 && cities !== undefined; size -= 1)
      if (cities.has(cityKey(words.slice(words.length - size).join(' ')))) {
        taken = size;
        break;
      }
    if (taken === 0) taken = words.length > 1 ? 1 : 0;
    city = taken === 0 ? undefined : words.slice(words.length - taken).join(' ');
    parts.push(words.slice(0, words.length - taken).join(' '));
  } else if (parts.length > 1) {
    city = parts.pop();
  }
  const [line1 = '', line2] = parts;
  return { line1, line2, city, state: state?.code, zip };
}
