import { createRequire } from 'node:module';

/**
 * The tables of USPS Publication 28 (Postal Addressing Standards) the standardizer uses: street
 * suffixes (Appendix C1, from the npm package `street-types`), secondary unit designators
 * (Appendix C2), directionals and state names.
 */

interface StreetType {
  readonly suffix: string;
  readonly abbrs: readonly string[];
  readonly standardAbbr: string;
}

const require = createRequire(import.meta.url);
const STREET_TYPES = require('street-types') as readonly StreetType[];

/** Appendix C1: every street suffix spelling (and common abbreviation) → its standard abbreviation. */
export const SUFFIXES: ReadonlyMap<string, string> = new Map(
  STREET_TYPES.flatMap((type) =>
    [...type.abbrs, type.suffix, type.standardAbbr].map((spelling) => [
      spelling.trim(),
      type.standardAbbr.trim(),
    ]),
  ),
);

/** Directionals, spelled out or abbreviated → the one- or two-letter form. */
export const DIRECTIONALS: ReadonlyMap<string, string> = new Map([
  ['NORTH', 'N'],
  ['SOUTH', 'S'],
  ['EAST', 'E'],
  ['WEST', 'W'],
  ['NORTHEAST', 'NE'],
  ['NORTHWEST', 'NW'],
  ['SOUTHEAST', 'SE'],
  ['SOUTHWEST', 'SW'],
  ['N', 'N'],
  ['S', 'S'],
  ['E', 'E'],
  ['W', 'W'],
  ['NE', 'NE'],
  ['NW', 'NW'],
  ['SE', 'SE'],
  ['SW', 'SW'],
]);

/**
 * Appendix C2: secondary unit designators → the standard abbreviation, and whether a number (the
 * range) must follow. `#` stands for a designator the sender did not name.
 */
export const SECONDARY_UNITS: ReadonlyMap<string, { abbreviation: string; needsRange: boolean }> = new Map(
  (
    [
      ['APARTMENT', 'APT', true],
      ['APT', 'APT', true],
      ['BASEMENT', 'BSMT', false],
      ['BSMT', 'BSMT', false],
      ['BUILDING', 'BLDG', true],
      ['BLDG', 'BLDG', true],
      ['DEPARTMENT', 'DEPT', true],
      ['DEPT', 'DEPT', true],
      ['FLOOR', 'FL', true],
      ['FL', 'FL', true],
      ['FRONT', 'FRNT', false],
      ['FRNT', 'FRNT', false],
      ['HANGAR', 'HNGR', true],
      ['HNGR', 'HNGR', true],
      ['KEY', 'KEY', true],
      ['LOBBY', 'LBBY', false],
      ['LBBY', 'LBBY', false],
      ['LOT', 'LOT', true],
      ['LOWER', 'LOWR', false],
      ['LOWR', 'LOWR', false],
      ['OFFICE', 'OFC', false],
      ['OFC', 'OFC', false],
      ['PENTHOUSE', 'PH', false],
      ['PH', 'PH', false],
      ['PIER', 'PIER', true],
      ['REAR', 'REAR', false],
      ['ROOM', 'RM', true],
      ['RM', 'RM', true],
      ['SIDE', 'SIDE', false],
      ['SLIP', 'SLIP', true],
      ['SPACE', 'SPC', true],
      ['SPC', 'SPC', true],
      ['STOP', 'STOP', true],
      ['SUITE', 'STE', true],
      ['STE', 'STE', true],
      ['TRAILER', 'TRLR', true],
      ['TRLR', 'TRLR', true],
      ['UNIT', 'UNIT', true],
      ['UPPER', 'UPPR', false],
      ['UPPR', 'UPPR', false],
    ] as const
  ).map(([word, abbreviation, needsRange]) => [word, { abbreviation, needsRange }]),
);

/** State and territory names (and the armed forces' "states") → USPS codes. */
export const STATE_NAMES: ReadonlyMap<string, string> = new Map(
  (
    'ALABAMA AL|ALASKA AK|ARIZONA AZ|ARKANSAS AR|CALIFORNIA CA|COLORADO CO|CONNECTICUT CT|DELAWARE DE|' +
    'DISTRICT OF COLUMBIA DC|FLORIDA FL|GEORGIA GA|HAWAII HI|IDAHO ID|ILLINOIS IL|INDIANA IN|IOWA IA|' +
    'KANSAS KS|KENTUCKY KY|LOUISIANA LA|MAINE ME|MARYLAND MD|MASSACHUSETTS MA|MICHIGAN MI|MINNESOTA MN|' +
    'MISSISSIPPI MS|MISSOURI MO|MONTANA MT|NEBRASKA NE|NEVADA NV|NEW HAMPSHIRE NH|NEW JERSEY NJ|' +
    'NEW MEXICO NM|NEW YORK NY|NORTH CAROLINA NC|NORTH DAKOTA ND|OHIO OH|OKLAHOMA OK|OREGON OR|' +
    'PENNSYLVANIA PA|RHODE ISLAND RI|SOUTH CAROLINA SC|SOUTH DAKOTA SD|TENNESSEE TN|TEXAS TX|UTAH UT|' +
    'VERMONT VT|VIRGINIA VA|WASHINGTON WA|WEST VIRGINIA WV|WISCONSIN WI|WYOMING WY|AMERICAN SAMOA AS|' +
    'GUAM GU|NORTHERN MARIANA ISLANDS MP|PUERTO RICO PR|VIRGIN ISLANDS VI|US VIRGIN ISLANDS VI|' +
    'FEDERATED STATES OF MICRONESIA FM|MARSHALL ISLANDS MH|PALAU PW|ARMED FORCES AMERICAS AA|' +
    'ARMED FORCES EUROPE AE|ARMED FORCES PACIFIC AP'
  )
    .split('|')
    .map((entry) => {
      const words = entry.split(' ');
      const code = words.pop() ?? '';
      return [words.join(' '), code];
    }),
);

/** The military "cities" (Army/Air Force, Fleet, Diplomatic post offices) and their "states". */
export const MILITARY_CITIES = new Set(['APO', 'FPO', 'DPO']);
export const MILITARY_STATES = new Set(['AA', 'AE', 'AP']);
