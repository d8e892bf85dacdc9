import type { RateTable } from '../../src/rates/index.ts';

// TEST FIXTURES, not prices: the rating machinery is tested (and benchmarked) on made-up numbers,
// since the shipped tables (docs/rates.md) have one unzoned class and no surcharge.

/** A price for each of zones 1–9, `base` for zone 1 and `step` more a zone. */
export const fixtureZones = (base: number, step = 100): Record<string, number> =>
  Object.fromEntries(
    ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((zone, index) => [zone, base + index * step]),
  );

/** A fixture table: letters by the ounce (with a surcharge) and parcels by the pound and zone. */
export function fixtureTable(
  id: string,
  effective: string,
  letterBreaks: readonly number[] = [1, 2, 3, 3.5],
  parcelPounds: readonly number[] = [1, 2, 5],
): RateTable {
  return {
    format: 'indicia-rates/1',
    id,
    effective,
    source: 'test fixture: made-up numbers for the rating machinery, not USPS prices',
    classes: [
      {
        code: 'LETTER',
        name: 'Letters (fixture)',
        rateCategory: 'FC',
        weightUnit: 'oz',
        zoned: false,
        breaks: letterBreaks.map((upTo, index) => ({ upTo, priceMills: 700 + index * 300 })),
        surcharges: [{ code: 'nonmachinable', name: 'Nonmachinable', priceMills: 400 }],
      },
      {
        code: 'PARCEL',
        name: 'Parcels (fixture)',
        rateCategory: 'PM',
        weightUnit: 'lb',
        zoned: true,
        breaks: parcelPounds.map((upTo, index) => ({ upTo, zones: fixtureZones(9000 + index * 500) })),
      },
    ],
  };
}
