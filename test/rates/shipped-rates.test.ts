import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IndiciaApiError, IndiciaClient } from '../../src/client/index.ts';
import { decodeIndicium } from '../../src/indicium/index.ts';
import { RateError, RatesService, rateTableDirectories } from '../../src/rates/index.ts';
import { projectRoot, runIndicia, serveIndicia } from '../support/cli-process.ts';

// The tables in rates/ (prices from public reports of the USPS price changes, cited in each file),
// read the way a fresh install reads them: the default folders of an empty data directory.
const CLASS = 'FCM-LETTER-METERED';
const PRICES: readonly [string, readonly [number, number][]][] = [
  [
    '2024-07-14',
    [
      [1, 690],
      [2, 970],
      [3, 1250],
      [3.5, 1530],
    ],
  ],
  [
    '2025-07-13',
    [
      [1, 740],
      [2, 1030],
      [3, 1320],
      [3.5, 1610],
    ],
  ],
];

const emptyDataDir = (): string => join(mkdtempSync(join(tmpdir(), 'indicia-shipped-rates-')), 'data');

describe('the shipped rate tables (a fresh install, no tables of the operator)', () => {
  const rates = new RatesService(rateTableDirectories(emptyDataDir()));
  const quote = (weightOunces: number, mailingDate: string) =>
    rates.quote({ classCode: CLASS, weightOunces, mailingDate });
  const refused = (weightOunces: number, mailingDate: string, code: string, pattern: RegExp) =>
    assert.throws(
      () => quote(weightOunces, mailingDate),
      (error: unknown) => error instanceof RateError && error.code === code && pattern.test(error.message),
    );

  it('prices a metered letter by the ounce from the price change in force on the mailing date', () => {
    assert.equal(quote(1, '2025-07-13').priceMills, 740);
    assert.equal(quote(1, '2025-07-12').priceMills, 690);
    assert.equal(quote(1, '2024-07-14').priceMills, 690);
    for (const [effective, steps] of PRICES) {
      let previous = 0;
      for (const [upTo, priceMills] of steps) {
        // A piece is priced at the first break at or above its weight.
        for (const weight of [upTo, (previous + upTo) / 2]) {
          const answer = quote(weight, effective);
          assert.equal(answer.priceMills, priceMills, `${weight} oz on ${effective}`);
          assert.equal(answer.weightBreak, upTo);
          assert.equal(answer.rateCategory, 'FC');
          assert.equal(answer.table.effective, effective);
        }
        previous = upTo;
      }
    }
  });

  it('refuses a letter over 3.5 oz and a mailing date before the earliest table', () => {
    refused(3.51, '2025-07-13', 'rate.invalid', /First-Class Mail letters, metered goes up to 3\.5 oz/);
    refused(4, '2024-07-14', 'rate.invalid', /goes up to 3\.5 oz; this piece weighs 4 oz/);
    refused(
      1,
      '2024-07-13',
      'rate.not_found',
      /^No rate table in force on 2024-07-13 prices FCM-LETTER-METERED; the classes priced are: none on that date \(the earliest table loaded takes effect 2024-07-14\)\.$/,
    );
  });

  it('ships only the listed class, each table citing its price change and the reports', () => {
    const tables = rates.book.list();
    assert.deepEqual(
      tables.map((table) => [table.effective, table.id, table.classes]),
      [
        ['2024-07-14', 'usps-2024-07-14-fcm-metered-letters', [CLASS]],
        ['2025-07-13', 'usps-2025-07-13-fcm-metered-letters', [CLASS]],
      ],
    );
    for (const table of tables) {
      const month = table.effective === '2025-07-13' ? 'July 13, 2025' : 'July 14, 2024';
      assert.match(table.source, new RegExp(`^USPS price change effective ${month}`));
      for (const report of ['capitaldigest.com', 'evrimagaci.org', 'U.S. Sun', 'Notice 123'])
        assert.ok(table.source.includes(report), `${table.id} cites ${report}`);
    }
    // Postcards, flats, Priority Mail, surcharges, international: absent, not guessed.
    assert.throws(
      () => rates.quote({ classCode: 'POSTCARD', weightOunces: 1, mailingDate: '2025-08-01' }),
      (error: unknown) =>
        error instanceof RateError && /the classes priced are: FCM-LETTER-METERED\.$/.test(error.message),
    );
    assert.throws(
      () =>
        rates.quote({
          classCode: CLASS,
          weightOunces: 1,
          mailingDate: '2025-08-01',
          surcharges: ['nonmachinable'],
        }),
      /has no surcharge nonmachinable/,
    );
    // The rates/ folder holds exactly these tables, and the npm package carries the folder.
    assert.deepEqual(
      readdirSync(join(projectRoot, 'rates'))
        .filter((name) => name.endsWith('.json'))
        .sort(),
      tables.map((table) => `${table.id}.json`),
    );
    const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      files: string[];
    };
    assert.ok(manifest.files.includes('rates'), 'package.json "files" lists rates');
  });

  it('quotes and issues them from `indicia serve` on an empty data directory', async () => {
    const dataDir = emptyDataDir();
    const served = await serveIndicia(['--data-dir', dataDir, '--port', '0']);
    try {
      const password = /customer@demo\.indicia\.test\s+([A-Za-z0-9]{20})/.exec(served.output())?.[1];
      assert.ok(password !== undefined, served.output());
      const client = new IndiciaClient({ baseUrl: served.url });
      await client.signIn('customer@demo.indicia.test', password);
      const priced = async (weightOunces: number, mailingDate: string) =>
        (
          await client.request<{ priceMills: number; table: { id: string } }>('POST', '/v1/rates', {
            classCode: CLASS,
            weightOunces,
            mailingDate,
          })
        ).priceMills;
      assert.equal(await priced(1, '2025-07-13'), 740);
      assert.equal(await priced(1, '2025-07-12'), 690);
      assert.equal(await priced(3.5, '2025-07-13'), 1610);

      await client.enrollDevice('shipped rates', (await client.enrollmentKey()).fingerprint);
      await client.addFunds(10_000, { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });
      // A meter prints for today (the 2025-07-13 prices are in force) up to a few days ahead.
      const issued = await client.issueIndicia([
        { rateClass: CLASS, weightOunces: 1 },
        { rateClass: CLASS, weightOunces: 2 },
        { rateClass: CLASS, weightOunces: 1, postageMills: 800 },
      ]);
      assert.deepEqual(
        issued.indicia.map((indicium) => indicium.postageMills),
        [740, 1030, 800],
      );
      const printed = decodeIndicium(Buffer.from(issued.indicia[0]?.data ?? '', 'base64'));
      assert.equal(printed.rateCategory.trim(), 'FC');
      const before = await client.meter();
      for (const [piece, status, code] of [
        [{ rateClass: CLASS, weightOunces: 3.6 }, 422, 'rate.invalid'],
        [{ rateClass: CLASS, weightOunces: 1, postageMills: 739 }, 422, 'rate.invalid'],
        [{ rateClass: 'FCM-FLAT-METERED', weightOunces: 1 }, 404, 'rate.not_found'],
        [{ rateClass: CLASS, weightOunces: 1, mailingDate: '2025-07-13' }, 422, 'meter.mailing_date_invalid'],
      ] as const)
        await assert.rejects(client.issueIndicia([piece]), (error: unknown) => {
          assert.ok(error instanceof IndiciaApiError, String(error));
          assert.deepEqual([error.status, error.code], [status, code], error.message);
          return true;
        });
      assert.deepEqual(await client.meter(), before, 'refusals move nothing');

      const offline = await runIndicia([
        'rates',
        'quote',
        '--class',
        CLASS,
        '--weight',
        '2',
        '--date',
        '2025-07-13',
        '--data-dir',
        dataDir,
      ]);
      assert.equal(offline.status, 0, offline.stderr);
      assert.match(
        offline.stdout,
        /^\$1\.03 {2}First-Class Mail letters, metered, 2 oz \(up to 2 oz\)\n {2}table usps-2025-07-13-fcm-metered-letters /,
      );
    } finally {
      assert.equal(await served.stop(), 0);
    }
  });
});
