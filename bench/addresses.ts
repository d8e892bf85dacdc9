// `npm run bench -- addresses [--seconds 3]`: address verifications per second on one core, in
// process, through the offline provider (Publication 28 standardization and the ZIP reference):
// right addresses, free-form text, and misspelled cities. Issue 7's goal: at least 20,000/s.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { type AddressRequest, offlineAddressProvider } from '../src/addresses/index.ts';

const KINDS: readonly [string, readonly AddressRequest[]][] = [
  [
    'right addresses (parts)',
    [
      { line1: '350 Fifth Avenue Suite 3300', city: 'New York', state: 'NY', zip: '10118' },
      { line1: '1600 Pennsylvania Ave NW', city: 'Washington', state: 'DC', zip: '20500' },
      { line1: '12 north main street apartment 4', city: 'Troy', state: 'New York', zip: '12180' },
      { line1: 'P.O. Box 123', city: 'Salt Lake City', state: 'UT', zip: '84101' },
      { line1: 'Rural Route 2 Box 15', city: 'Springfield', state: 'IL', zip: '62704' },
    ],
  ],
  [
    'free-form text',
    [
      { text: '350 Fifth Avenue, Suite 3300, New York, NY 10118' },
      { text: '1600 Pennsylvania Ave NW Washington DC 20500' },
      { text: '12 Main St\nSalt Lake City, Utah 84101' },
    ],
  ],
  [
    'misspelled city, wrong or no ZIP',
    [
      { line1: '12 Main St', city: 'Troyy', state: 'NY', zip: '12180' },
      { line1: '12 Main St', city: 'Sacramnto', state: 'CA' },
      { line1: '12 Main St', city: 'Salt Lake City', state: 'UT', zip: '12180' },
    ],
  ],
];

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  const provider = offlineAddressProvider(); // loads the ZIP reference once
  const rows: [string, number][] = [];
  for (const [name, requests] of KINDS) {
    console.log(`measuring ${name} (${seconds} s)...`);
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    let count = 0;
    while (performance.now() < deadline) {
      for (const request of requests) await provider.verify(request);
      count += requests.length;
    }
    rows.push([name, count / ((performance.now() - started) / 1000)]);
  }
  console.log('');
  console.log(`addresses: verifications per second, one core, in process, ${seconds} s per row`);
  console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
  for (const [name, perSecond] of rows)
    console.log(`  ${name.padEnd(36)} ${Math.round(perSecond).toLocaleString('en-US').padStart(9)}/s`);
  const right = rows[0]?.[1] ?? 0;
  console.log(
    `  goal: at least 20,000 verifications/s — ${right >= 20_000 ? 'met' : 'not met'} (right addresses)`,
  );
  return 0;
}
