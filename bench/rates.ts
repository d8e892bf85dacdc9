// `npm run bench -- rates [--seconds 3]`: rate quotes per second on one core, in process, from a
// fixture table written to a scratch folder (made-up numbers: the shipped tables have no zoned
// class): an unzoned letter by weight, and a zoned parcel with its zone from the ZIP areas.
// Issue 7's goal: at least 100,000 rate quotes/s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type RateRequest, RatesService } from '../src/rates/index.ts';
import { fixtureTable } from '../test/support/rate-fixtures.ts';

const FIXTURE = fixtureTable(
  'bench-fixture',
  '2025-01-01',
  [1, 2, 3, 3.5],
  Array.from({ length: 70 }, (_, index) => index + 1),
);

export function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-rates-'));
  try {
    writeFileSync(join(folder, 'fixture.json'), JSON.stringify(FIXTURE));
    const rates = new RatesService([folder]);
    const kinds: [string, RateRequest[]][] = [
      [
        'letter by weight',
        [0.5, 1.2, 2.7, 3.4].map((weightOunces) => ({
          classCode: 'LETTER',
          weightOunces,
          mailingDate: '2026-11-23',
        })),
      ],
      [
        'zoned parcel (zone from ZIP areas)',
        ['10002', '02108', '60601', '90210'].map((destinationZip, index) => ({
          classCode: 'PARCEL',
          weightOunces: 20 + index * 100,
          originZip: '10001',
          destinationZip,
          mailingDate: '2026-11-23',
        })),
      ],
    ];
    const rows: [string, number][] = [];
    for (const [name, requests] of kinds) {
      console.log(`measuring ${name} (${seconds} s)...`);
      const deadline = performance.now() + seconds * 1000;
      const started = performance.now();
      let count = 0;
      while (performance.now() < deadline) {
        for (const request of requests) rates.quote(request);
        count += requests.length;
      }
      rows.push([name, count / ((performance.now() - started) / 1000)]);
    }
    console.log('');
    console.log(`rates: quotes per second, one core, in process, ${seconds} s per row (fixture table)`);
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    for (const [name, perSecond] of rows)
      console.log(`  ${name.padEnd(36)} ${Math.round(perSecond).toLocaleString('en-US').padStart(10)}/s`);
    const slowest = Math.min(...rows.map(([, perSecond]) => perSecond));
    console.log(
      `  goal: at least 100,000 rate quotes/s — ${slowest >= 100_000 ? 'met' : 'not met'} (slowest row)`,
    );
    return Promise.resolve(0);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
