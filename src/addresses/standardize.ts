import { DIRECTIONALS, SECONDARY_UNITS, SUFFIXES } from './publication28.ts';

/** What kind of delivery line an address has. */
export type LineKind =
  'street' | 'po_box' | 'rural_route' | 'highway_contract' | 'military' | 'general_delivery';

/** A delivery line written the Publication 28 way, and what was changed to get there. */
export interface StandardLine {
  readonly text: string;
  readonly kind: LineKind;
  readonly changes: readonly string[];
}

/**
 * Upper case, punctuation out (periods, commas and most symbols; a hyphen or slash between
 * characters stays, `#` becomes its own word), single spaces.
 */
export function cleanLine(line: string): string {
  return line
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '') // José → JOSE: no diacritics on mail
    .toUpperCase()
    .replace(/#/g, ' # ')
    .replace(/(\w)\.(?=\w\.)/g, '$1') // N.W. → NW., P.O. → PO.
    .replace(/[.,;:'"’`()[\]{}!?*_=+|\\<>@$%^&~]/g, (character) => (character === '.' ? '' : ' '))
    .replace(/(^|\s)[-/]+|[-/]+(?=\s|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const PO_BOX =
  /^(?:P\s?O\s?B(?:OX)?|P\s?O|POST\s+OFFICE(?:\s+BOX)?|POST\s+BOX|BOX|CALLER|FIRM\s+CALLER|BIN|LOCKBOX|DRAWER)\s*(?:#\s*)?([A-Z0-9-]+)$/;
const RURAL_ROUTE =
  /^(?:RURAL\s+(?:ROUTE|RTE|RT)|R\s?R|RFD|RURAL\s+FREE\s+DELIVERY|(?:ROUTE|RTE|RT))\s*(?:#\s*)?(\d+[A-Z]?)\s+(?:BOX|BX)\s*(?:#\s*)?([A-Z0-9-]+)$/;
const HIGHWAY_CONTRACT =
  /^(?:HIGHWAY\s+CONTRACT(?:\s+ROUTE)?|HWY\s+CONTRACT|H\s?C|STAR\s+(?:ROUTE|RTE))\s*(?:#\s*)?(\d+[A-Z]?)\s+(?:BOX|BX)\s*(?:#\s*)?([A-Z0-9-]+)$/;
const MILITARY = /^(PSC|CMR|UNIT)\s*(?:#\s*)?(\d+)\s+(?:BOX|BX)\s*(?:#\s*)?(\d+)$/;
const PRIMARY_NUMBER = /^\d+[A-Z]?(?:-\d+[A-Z]?)?$|^[A-Z]\d+$/;
const FRACTION = /^\d\/\d{1,2}$/;

/** A secondary unit: its designator and range, written the C2 way, or null when `words` is none. */
export function secondaryOf(words: readonly string[]): { text: string; changed: boolean } | null {
  const [first, ...rest] = words;
  if (first === undefined) return null;
  if (first === '#') return rest.length === 1 ? { text: `# ${rest[0] ?? ''}`, changed: false } : null;
  // "APT4", "STE200": the designator and its range run together.
  const glued = /^([A-Z]+?)(\d+[A-Z]?)$/.exec(first);
  if (glued !== null && rest.length === 0 && SECONDARY_UNITS.get(glued[1] ?? '')?.needsRange === true)
    return secondaryOf([glued[1] ?? '', glued[2] ?? '']);
  const unit = SECONDARY_UNITS.get(first);
  if (unit === undefined) return null;
  const range = rest.filter((word) => word !== '#');
  if (unit.needsRange ? range.length !== 1 : range.length > 1) return null;
  const text = [unit.abbreviation, ...range].join(' ');
  return { text, changed: unit.abbreviation !== first || range.length !== rest.length };
}

/** Standardizes one delivery address line (Publication 28: sections 2 and 3, appendices C1, C2). */
export function standardizeLine(line: string): StandardLine {
  const cleaned = cleanLine(line);
  const changes: string[] = [];
  if (cleaned !== line.trim().replace(/\s+/g, ' ')) changes.push('written in capitals without punctuation');
  if (cleaned === 'GENERAL DELIVERY') return { text: cleaned, kind: 'general_delivery', changes };
  const special: [RegExp, LineKind, (match: RegExpExecArray) => string][] = [
    [MILITARY, 'military', (match) => `${match[1] ?? ''} ${match[2] ?? ''} BOX ${match[3] ?? ''}`],
    [PO_BOX, 'po_box', (match) => `PO BOX ${match[1] ?? ''}`],
    [RURAL_ROUTE, 'rural_route', (match) => `RR ${match[1] ?? ''} BOX ${match[2] ?? ''}`],
    [HIGHWAY_CONTRACT, 'highway_contract', (match) => `HC ${match[1] ?? ''} BOX ${match[2] ?? ''}`],
  ];
  for (const [pattern, kind, write] of special) {
    const match = pattern.exec(cleaned);
    if (match === null) continue;
    const text = write(match);
    if (text !== cleaned) changes.push(`${kind.replace('_', ' ')} written the standard way`);
    return { text, kind, changes };
  }
  return { text: streetLine(cleaned.split(' '), changes), kind: 'street', changes };
}

/** Number, predirectional, name, suffix, postdirectional, secondary unit. */
function streetLine(words: string[], changes: string[]): string {
  // The secondary unit: from the first designator after the number and name.
  let secondary: string | null = null;
  for (let index = 2; index < words.length; index += 1) {
    const found = secondaryOf(words.slice(index));
    if (found === null) continue;
    secondary = found.text;
    if (found.changed) changes.push('secondary unit abbreviated (Appendix C2)');
    words = words.slice(0, index);
    break;
  }
  const parts: string[] = [];
  let rest = words;
  if (rest[0] !== undefined && PRIMARY_NUMBER.test(rest[0])) {
    parts.push(rest[0]);
    rest = rest.slice(1);
    if (rest[0] !== undefined && FRACTION.test(rest[0])) {
      parts.push(rest[0]);
      rest = rest.slice(1);
    }
  }
  let predirectional: string | null = null;
  let suffix: string | null = null;
  let postdirectional: string | null = null;
  const last = rest.at(-1);
  if (rest.length >= 2 && last !== undefined && DIRECTIONALS.has(last)) {
    // "MAIN ST NORTHWEST": a directional after the suffix is a postdirectional.
    const beforeLast = rest.at(-2) ?? '';
    if (SUFFIXES.has(beforeLast) && rest.length >= 3) {
      postdirectional = DIRECTIONALS.get(last) ?? last;
      rest = rest.slice(0, -1);
    }
  }
  const maybeSuffix = rest.at(-1);
  if (rest.length >= 2 && maybeSuffix !== undefined && SUFFIXES.has(maybeSuffix)) {
    suffix = SUFFIXES.get(maybeSuffix) ?? maybeSuffix;
    rest = rest.slice(0, -1);
  }
  const first = rest[0];
  if (rest.length >= 2 && first !== undefined && DIRECTIONALS.has(first)) {
    predirectional = DIRECTIONALS.get(first) ?? first;
    rest = rest.slice(1);
  }
  const lastName = rest.at(-1);
  if (
    postdirectional === null &&
    suffix === null &&
    rest.length >= 2 &&
    lastName !== undefined &&
    DIRECTIONALS.has(lastName)
  ) {
    // "MAIN NORTH" with no suffix: the directional follows the name.
    postdirectional = DIRECTIONALS.get(lastName) ?? lastName;
    rest = rest.slice(0, -1);
  }
  if (predirectional !== null && predirectional !== first) changes.push('directional abbreviated');
  if (postdirectional !== null && postdirectional !== words.at(-1)) changes.push('directional abbreviated');
  if (suffix !== null && suffix !== maybeSuffix) changes.push('street suffix abbreviated (Appendix C1)');
  parts.push(...(predirectional === null ? [] : [predirectional]), ...rest);
  if (suffix !== null) parts.push(suffix);
  if (postdirectional !== null) parts.push(postdirectional);
  if (secondary !== null) parts.push(secondary);
  return parts.join(' ');
}
