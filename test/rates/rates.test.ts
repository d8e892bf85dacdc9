import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { zipData } from '../../src/addresses/index.ts';
import {
  RateBook,
  RateError,
  type RateTable,
  RatesService,
  parseZoneChart,
  pieceOunces,
  zipAreas,
  zoneBetween,
} from '../../src/rates/index.ts';
import { fixtureTable } from '../support/rate-fixtures.ts';

const JULY: RateTable = fixtureTable('fixture-2025-07', '2025-07-13');
const JANUARY: RateTable = {
  ...JULY,
  id: 'fixture-2026-01',
  effective: '2026-01-18',
  classes: [{ ...(JULY.classes[0] as RateTable['classes'][number]), breaks: [{ upTo: 1, priceMills: 750 }] }],
};

function folderWith(...tables: RateTable[]): string {
  const folder = mkdtempSync(join(tmpdir(), 'indicia-rates-'));
  for (const table of tables) writeFileSync(join(folder, `${table.id}.json`), JSON.stringify(table));
  return folder;
}

describe('zones and weights', () => {
  const areas = zipAreas(zipData());

  it('gives the zone of known ZIP pairs from the distance between 3-digit ZIP areas', () => {
    const cases: [string, string, string][] = [
      ['10001', '10002', 'L'], // the same area
      ['10001', '10118', '1'], // Manhattan, next area
      ['10001', '02108', '3'], // New York – Boston, ~190 miles
      ['10001', '20500', '3'], // New York – Washington, ~205 miles
      ['10001', '60601', '5'], // New York – Chicago, ~710 miles
      ['10001', '80202', '7'], // New York – Denver, ~1,630 miles
      ['10001', '90210', '8'], // New York – Beverly Hills, ~2,450 miles
      ['10001', '96813', '8'], // New York – Honolulu
    ];
    for (const [from, to, zone] of cases)
      assert.equal(zoneBetween(from, to, areas)?.zone, zone, `${from} → ${to}`);
    assert.equal(zoneBetween('10001', '00001', areas), null, 'an unknown area has no zone');
    // An official zone chart takes precedence when loaded.
    const chart = new Map([['100', new Map([['021', '4' as const]])]]);
    assert.deepEqual(zoneBetween('10001', '02108', areas, chart), {
      zone: '4',
      miles: null,
      source: 'zone chart',
    });
  });

  it('reads a zone chart: areas and ranges, L or 1–9, refusing malformed lines', () => {
    const chart = parseZoneChart(
      'origin,destination,zone\n# a comment\n100,005-007,8\n100-101,100,L\n',
      'chart.csv',
    );
    assert.equal(chart.get('100')?.get('006'), '8');
    assert.equal(chart.get('101')?.get('100'), 'L');
    assert.throws(() => parseZoneChart('100,005,10\n', 'chart.csv'), /line 1: write origin,destination,zone/);
    assert.throws(() => parseZoneChart('100,007-005,1\n', 'chart.csv'), /runs backwards/);
    assert.throws(() => parseZoneChart('1000,005,1\n', 'chart.csv'), /not a 3-digit ZIP area/);
  });

  it('weighs a piece: sheets × paper weight + the envelope', () => {
    assert.equal(pieceOunces({ sheets: 5 }), 1);
    assert.equal(pieceOunces({ sheets: 10, paper: '24lb', envelope: '9x12' }), 2.7);
    assert.equal(pieceOunces({ sheets: 3, sheetOunces: 0.2, envelopeOunces: 0.3 }), 0.9);
    assert.throws(() => pieceOunces({ sheets: -1 }), RateError);
    assert.throws(() => pieceOunces({ sheets: 1.5 }), RateError);
    assert.throws(() => pieceOunces({ sheets: 1, sheetOunces: Number.NaN }), RateError);
  });
});

describe('rate tables', () => {
  it('prices every weight break and zone of every class as the table says', () => {
    const rates = new RatesService([folderWith(JULY)]);
    const mailingDate = '2025-08-01';
    for (const rateClass of JULY.classes) {
      let previous = 0;
      for (const step of rateClass.breaks) {
        const ounces = (weight: number) => (rateClass.weightUnit === 'lb' ? weight * 16 : weight);
        for (const weight of [step.upTo, previous + (step.upTo - previous) / 2]) {
          if (rateClass.zoned) {
            for (const [destination, zone] of [
              ['10002', 'L'],
              ['02108', '3'],
              ['90210', '8'],
            ] as const) {
              const quote = rates.quote({
                classCode: rateClass.code,
                weightOunces: ounces(weight),
                originZip: '10001',
                destinationZip: destination,
                mailingDate,
              });
              assert.equal(quote.zone?.zone, zone);
              assert.equal(
                quote.priceMills,
                step.zones?.[zone === 'L' ? '1' : zone],
                `${rateClass.code} ${weight} zone ${zone}`,
              );
            }
          } else {
            const quote = rates.quote({
              classCode: rateClass.code,
              weightOunces: ounces(weight),
              mailingDate,
            });
            assert.equal(quote.priceMills, step.priceMills, `${rateClass.code} ${weight}`);
            assert.equal(quote.weightBreak, step.upTo);
          }
        }
        previous = step.upTo;
      }
    }
    const surcharged = rates.quote({
      classCode: 'LETTER',
      weightOunces: 1,
      mailingDate,
      surcharges: ['nonmachinable'],
    });
    assert.equal(surcharged.priceMills, 1100);
    assert.equal(surcharged.table.source, JULY.source);
  });

  it('chooses the table by mailing date, reloads without a restart, and answers housekeeping', () => {
    const folder = folderWith(JULY);
    const rates = new RatesService([folder]);
    assert.equal(
      rates.quote({ classCode: 'LETTER', weightOunces: 1, mailingDate: '2026-02-01' }).priceMills,
      700,
    );
    const julyVersion = rates.quote({ classCode: 'LETTER', weightOunces: 1, mailingDate: '2026-02-01' }).table
      .version;
    writeFileSync(join(folder, 'fixture-2026-01.json'), JSON.stringify(JANUARY));
    assert.deepEqual(rates.book.reload(), { tables: 2 });
    assert.equal(
      rates.quote({ classCode: 'LETTER', weightOunces: 1, mailingDate: '2026-01-17' }).priceMills,
      700,
    );
    assert.equal(
      rates.quote({ classCode: 'LETTER', weightOunces: 1, mailingDate: '2026-01-18' }).priceMills,
      750,
    );
    // A class the newer table does not price is still priced by the older one.
    assert.equal(
      rates.quote({
        classCode: 'PARCEL',
        weightOunces: 16,
        originZip: '10001',
        destinationZip: '10002',
        mailingDate: '2026-02-01',
      }).table.id,
      'fixture-2025-07',
    );
    const housekeeping = rates.isCurrent(julyVersion, 'LETTER', '2026-02-01');
    assert.equal(housekeeping.isCurrent, false);
    const { current } = housekeeping;
    assert.ok(current !== null);
    assert.equal(current.id, 'fixture-2026-01');
    assert.equal(rates.isCurrent(current.version, 'LETTER', '2026-02-01').isCurrent, true);
    // A bad file refuses the reload; the tables in force stay.
    writeFileSync(join(folder, 'broken.json'), JSON.stringify({ ...JANUARY, id: 'broken', source: '' }));
    assert.throws(
      () => rates.book.reload(),
      (error: unknown) => error instanceof RateError && /source must say/.test(error.message),
    );
    assert.equal(rates.book.list().length, 2);
  });

  it("gives the operator's folder precedence over the shipped one", () => {
    const letters = (table: RateTable, priceMills: number): RateTable => ({
      ...table,
      classes: [{ ...(table.classes[0] as RateTable['classes'][number]), breaks: [{ upTo: 1, priceMills }] }],
    });
    const shipped = folderWith(JULY, JANUARY);
    const price = (rates: RatesService, mailingDate: string) => {
      const quote = rates.quote({ classCode: 'LETTER', weightOunces: 1, mailingDate });
      return [quote.priceMills, quote.table.id];
    };
    // The same id replaces the shipped table; the other shipped table stays.
    const replaced = new RatesService([shipped, folderWith(letters(JULY, 720))]);
    assert.deepEqual(price(replaced, '2025-08-01'), [720, 'fixture-2025-07']);
    assert.deepEqual(price(replaced, '2026-02-01'), [750, 'fixture-2026-01']);
    assert.equal(replaced.book.list().length, 2);
    // Effective the same day under another id: the operator's prices the classes it has.
    const sameDay = letters({ ...JULY, id: 'operator-2025-07' }, 710);
    const both = new RatesService([shipped, folderWith(sameDay)]);
    assert.deepEqual(price(both, '2025-08-01'), [710, 'operator-2025-07']);
    assert.equal(
      both.quote({ classCode: 'PARCEL', weightOunces: 16, originZip: '10001', destinationZip: '10002' }).table
        .id,
      'fixture-2025-07',
      'a class the operator does not price stays with the shipped table',
    );
    // Otherwise the later effective date wins, whichever folder it is in.
    const older = letters({ ...JULY, id: 'operator-2025-01', effective: '2025-01-01' }, 650);
    const dated = new RatesService([shipped, folderWith(older)]);
    assert.deepEqual(price(dated, '2025-03-01'), [650, 'operator-2025-01']);
    assert.deepEqual(price(dated, '2025-08-01'), [700, 'fixture-2025-07']);
    // Within one folder a repeated id is still a mistake.
    const twice = folderWith(JULY);
    writeFileSync(join(twice, 'copy.json'), JSON.stringify(JULY));
    assert.throws(() => new RateBook([twice]), /table id fixture-2025-07 is loaded twice/);
  });

  it('refuses bad tables and bad requests with the place and the problem', () => {
    const broken = (change: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(
        () => new RateBook([folderWith({ ...JULY, ...change })]),
        (error: unknown) =>
          error instanceof RateError && error.code === 'rate.table_invalid' && pattern.test(error.message),
      );
    broken({ source: 'x' }, /source must say/);
    broken({ effective: '2025-13-45' }, /effective is a date/);
    broken(
      {
        classes: [
          {
            ...JULY.classes[0],
            breaks: [
              { upTo: 2, priceMills: 1 },
              { upTo: 1, priceMills: 2 },
            ],
          },
        ],
      },
      /upTo must grow/,
    );
    broken({ classes: [{ ...JULY.classes[0], breaks: [{ upTo: 1, priceMills: 1.5 }] }] }, /priceMills/);
    broken(
      { classes: [{ ...JULY.classes[1], breaks: [{ upTo: 1, zones: { 1: 100 } }] }] },
      /zone 2 needs a price/,
    );
    const rates = new RatesService([folderWith(JULY)]);
    const refused = (request: Parameters<RatesService['quote']>[0], code: string, pattern: RegExp) =>
      assert.throws(
        () => rates.quote(request),
        (error: unknown) => error instanceof RateError && error.code === code && pattern.test(error.message),
      );
    refused({ classCode: 'LETTER', weightOunces: 0, mailingDate: '2025-08-01' }, 'rate.invalid', /above 0/);
    refused(
      { classCode: 'LETTER', weightOunces: Number.NaN, mailingDate: '2025-08-01' },
      'rate.invalid',
      /above 0/,
    );
    refused(
      { classCode: 'LETTER', weightOunces: 4, mailingDate: '2025-08-01' },
      'rate.invalid',
      /goes up to 3.5 oz/,
    );
    refused(
      { classCode: 'LETTER', weightOunces: 1, mailingDate: '2025-01-01' },
      'rate.not_found',
      /No rate table in force on 2025-01-01/,
    );
    refused(
      { classCode: 'POSTCARD', weightOunces: 1, mailingDate: '2025-08-01' },
      'rate.not_found',
      /classes priced are: LETTER, PARCEL/,
    );
    refused(
      { classCode: 'PARCEL', weightOunces: 1, mailingDate: '2025-08-01' },
      'rate.invalid',
      /priced by zone/,
    );
    refused(
      { classCode: 'PARCEL', weightOunces: 1, originZip: '1000', destinationZip: '90210' },
      'rate.invalid',
      /ZIP code/,
    );
    refused(
      { classCode: 'LETTER', weightOunces: 1, mailingDate: '2025-08-01', surcharges: ['oversize'] },
      'rate.invalid',
      /no surcharge oversize/,
    );
  });
});
