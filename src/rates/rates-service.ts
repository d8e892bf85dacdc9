import { ZIP_PATTERN } from '../encoding/index.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipData } from '../addresses/index.ts';
import { type Quote, RateBook } from './rate-book.ts';
import { RateError } from './weight.ts';
import { loadZoneCharts } from './zone-chart.ts';
import { type ZipArea, type ZoneChart, zipAreas, zoneBetween } from './zones.ts';

export interface RateRequest {
  readonly classCode: string;
  readonly weightOunces: number;
  readonly originZip?: string;
  readonly destinationZip?: string;
  readonly mailingDate?: string;
  readonly surcharges?: readonly string[];
}

/**
 * Where rate tables are read from: the tables shipped with Indicia (`rates/` in the repository,
 * docs/rates.md) and the operator's own, `<data dir>/rates/`.
 */
export function rateTableDirectories(dataDir: string): string[] {
  return [fileURLToPath(new URL('../../rates/', import.meta.url)), join(dataDir, 'rates')];
}

/** Quotes with zones from the ZIP areas (or a loaded zone chart), and the housekeeping answer. */
export class RatesService {
  readonly book: RateBook;
  private readonly areas: ReadonlyMap<string, ZipArea>;
  private chart: ZoneChart | undefined;

  private readonly directories: readonly string[];

  constructor(directories: readonly string[]) {
    this.directories = directories;
    this.book = new RateBook(directories);
    this.areas = zipAreas(zipData());
    this.chart = loadZoneCharts(directories);
  }

  /** Reads the rate tables and zone charts again (no restart); a bad file refuses it all. */
  reload(): { tables: number; zoneChartOrigins: number } {
    const chart = loadZoneCharts(this.directories);
    const { tables } = this.book.reload();
    this.chart = chart;
    return { tables, zoneChartOrigins: chart?.size ?? 0 };
  }

  quote(request: RateRequest): Quote {
    for (const [name, value] of [
      ['originZip', request.originZip],
      ['destinationZip', request.destinationZip],
    ] as const)
      if (value !== undefined && !ZIP_PATTERN.test(value))
        throw new RateError('rate.invalid', `${name} is a ZIP code like 10001.`);
    const zone =
      request.originZip === undefined || request.destinationZip === undefined
        ? null
        : zoneBetween(request.originZip, request.destinationZip, this.areas, this.chart);
    if (request.originZip !== undefined && request.destinationZip !== undefined && zone === null)
      throw new RateError(
        'rate.invalid',
        'One of the ZIPs is not in the ZIP reference, so the zone is unknown.',
      );
    return this.book.quote({
      classCode: request.classCode,
      weightOunces: request.weightOunces,
      zone,
      ...(request.mailingDate === undefined ? {} : { mailingDate: request.mailingDate }),
      ...(request.surcharges === undefined ? {} : { surcharges: request.surcharges }),
    });
  }

  /**
   * Housekeeping: whether a client's cached table (by version) is the one in force for a mailing
   * date and class, and if not which one is.
   */
  isCurrent(knownVersion: string, classCode: string, mailingDate = new Date().toISOString().slice(0, 10)) {
    const entry = this.book.tableFor(mailingDate, classCode);
    return {
      isCurrent: entry !== undefined && entry.version === knownVersion,
      current:
        entry === undefined
          ? null
          : { id: entry.table.id, effective: entry.table.effective, version: entry.version },
    };
  }
}
