import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RateError } from './weight.ts';
import type { Zone, ZoneChart } from './zones.ts';

const ZONE = /^(L|[1-9])$/;
const AREA = /^(\d{3})(?:-(\d{3}))?$/;

/** The 3-digit ZIP areas of `005` or of a range `005-098`. */
function areas(text: string, where: string): string[] {
  const match = AREA.exec(text.trim());
  if (match === null)
    throw new RateError(
      'rate.table_invalid',
      `${where}: "${text.slice(0, 20)}" is not a 3-digit ZIP area or a range like 005-098`,
    );
  const first = Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  if (last < first) throw new RateError('rate.table_invalid', `${where}: the range ${text} runs backwards`);
  return Array.from({ length: last - first + 1 }, (_, index) => String(first + index).padStart(3, '0'));
}

/**
 * Reads zone charts (docs/rates.md): CSV lines `origin,destination,zone`, each side a 3-digit ZIP
 * area or a range (`005-098`), the zone `L` or 1–9; a header line and `#` comments are skipped.
 * This is how the official USPS zone chart for an origin is written down; it takes precedence over
 * distances wherever it has an entry.
 */
export function parseZoneChart(
  text: string,
  where: string,
  into = new Map<string, Map<string, Zone>>(),
): Map<string, Map<string, Zone>> {
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || /^origin\s*,/i.test(line)) continue;
    const at = `${where}, line ${index + 1}`;
    const [origin = '', destination = '', zone = '', ...extra] = line.split(',').map((field) => field.trim());
    if (extra.length > 0 || !ZONE.test(zone))
      throw new RateError(
        'rate.table_invalid',
        `${at}: write origin,destination,zone with the zone L or 1–9`,
      );
    for (const from of areas(origin, at)) {
      let row = into.get(from);
      if (row === undefined) {
        row = new Map();
        into.set(from, row);
      }
      for (const to of areas(destination, at)) row.set(to, zone as Zone);
    }
  }
  return into;
}

/** Every `zone-chart*.csv` in the directories, together; undefined when there is none. */
export function loadZoneCharts(directories: readonly string[]): ZoneChart | undefined {
  const chart = new Map<string, Map<string, Zone>>();
  let found = false;
  for (const directory of directories) {
    if (!existsSync(directory)) continue;
    for (const file of readdirSync(directory)
      .filter((name) => /^zone-chart.*\.csv$/.test(name))
      .sort()) {
      parseZoneChart(readFileSync(join(directory, file), 'utf8'), join(directory, file), chart);
      found = true;
    }
  }
  return found ? chart : undefined;
}
