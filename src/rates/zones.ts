import type { ZipData } from '../addresses/index.ts';

/** A postal zone: `L` (local) or 1–9. */
export type Zone = 'L' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';

/**
 * The USPS distance bands, in miles between the 3-digit ZIP areas' centres: zone 1 up to 50,
 * 2 up to 150, 3 up to 300, 4 up to 600, 5 up to 1,000, 6 up to 1,400, 7 up to 1,800, 8 beyond.
 * Zone 9 is the freely associated states and territories far across the Pacific.
 */
const BANDS: readonly [number, Zone][] = [
  [50, '1'],
  [150, '2'],
  [300, '3'],
  [600, '4'],
  [1000, '5'],
  [1400, '6'],
  [1800, '7'],
];
const PACIFIC_STATES = new Set(['GU', 'MP', 'AS', 'FM', 'MH', 'PW']);

const EARTH_RADIUS_MILES = 3958.8;

/** Great-circle distance in miles (haversine). */
export function greatCircleMiles(
  a: { latitude: number; longitude: number },
  b: { latitude: number; longitude: number },
): number {
  const radians = (degrees: number): number => (degrees * Math.PI) / 180;
  const dLat = radians(b.latitude - a.latitude);
  const dLon = radians(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(radians(a.latitude)) * Math.cos(radians(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_MILES * Math.asin(Math.min(1, Math.sqrt(h)));
}

export interface ZipArea {
  readonly zip3: string;
  readonly latitude: number;
  readonly longitude: number;
  readonly state: string;
}

/** The 3-digit ZIP areas and their centres: the mean of their ZIPs' coordinates. */
export function zipAreas(data: ZipData): ReadonlyMap<string, ZipArea> {
  const sums = new Map<string, { latitude: number; longitude: number; count: number; state: string }>();
  for (const [zip, places] of data.byZip) {
    const place = places[0];
    if (place === undefined || !Number.isFinite(place.latitude) || !Number.isFinite(place.longitude))
      continue;
    const zip3 = zip.slice(0, 3);
    const sum = sums.get(zip3) ?? { latitude: 0, longitude: 0, count: 0, state: place.state };
    sum.latitude += place.latitude;
    sum.longitude += place.longitude;
    sum.count += 1;
    sums.set(zip3, sum);
  }
  return new Map(
    [...sums].map(([zip3, sum]) => [
      zip3,
      { zip3, latitude: sum.latitude / sum.count, longitude: sum.longitude / sum.count, state: sum.state },
    ]),
  );
}

/** A zone chart an operator loaded: origin ZIP3 → destination ZIP3 → zone. It takes precedence. */
export type ZoneChart = ReadonlyMap<string, ReadonlyMap<string, Zone>>;

export interface ZoneAnswer {
  readonly zone: Zone;
  /** Miles between the areas' centres, when computed. */
  readonly miles: number | null;
  readonly source: 'zone chart' | 'distance';
}

/**
 * The zone between two ZIPs: from the official zone chart when one is loaded for the origin, else
 * from the great-circle distance between the 3-digit ZIP areas' centres. Local: the same area.
 */
export function zoneBetween(
  originZip: string,
  destinationZip: string,
  areas: ReadonlyMap<string, ZipArea>,
  chart?: ZoneChart,
): ZoneAnswer | null {
  const from = originZip.slice(0, 3);
  const to = destinationZip.slice(0, 3);
  const charted = chart?.get(from)?.get(to);
  if (charted !== undefined) return { zone: charted, miles: null, source: 'zone chart' };
  const origin = areas.get(from);
  const destination = areas.get(to);
  if (origin === undefined || destination === undefined) return null;
  if (PACIFIC_STATES.has(destination.state) !== PACIFIC_STATES.has(origin.state))
    return { zone: '9', miles: null, source: 'distance' };
  const miles = greatCircleMiles(origin, destination);
  if (from === to) return { zone: 'L', miles, source: 'distance' };
  const band = BANDS.find(([limit]) => miles <= limit);
  return { zone: band?.[1] ?? '8', miles, source: 'distance' };
}
