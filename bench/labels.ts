// `npm run bench -- labels [--seconds 3]`: labels rendered per second, one core, in process, for
// each format (PDF, PNG, SVG, ZPL) of a real 121-byte indicium (issued by a software module on a
// scratch SQLite database first). Issue 6's goal: at least 500 PDF labels/s.
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labelPage, pagePng, pageSvg, pageZpl, pdfDocument } from '../src/labels/index.ts';
import type { Mills } from '../src/money/index.ts';
import { withBenchServices } from './issue.ts';

/** One real indicium: a meter made, funded and printed from by a software module. */
function issuedIndicium(folder: string): Promise<Buffer> {
  return withBenchServices(folder, 1, async ({ meters }) => {
    const meter = await meters.create({
      customerNumber: 1,
      licensingZip: '10118',
      maxDescendingRegister: 1_000_000 as Mills,
    });
    await meters.fund(meter.meterId, 10_000, 'bench');
    const [indicium] = await meters.issue(meter.meterId, [{ postage: 730 as Mills, rateCategory: 'FC' }]);
    if (indicium === undefined) throw new Error('no indicium issued');
    return indicium.data;
  });
}

/** Renders for `seconds`: labels per second (a fresh render each time, nothing cached). */
async function rate(seconds: number, render: () => unknown): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let count = 0;
  while (performance.now() < deadline) {
    await render();
    count += 1;
  }
  return count / ((performance.now() - started) / 1000);
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-labels-'));
  try {
    const bytes = await issuedIndicium(folder);
    const rows: [string, number][] = [];
    for (const [name, render] of [
      ['PDF (vector, one page)', () => pdfDocument([labelPage('indicium', { indicium: bytes })])],
      ['PNG (300 dpi)', () => pagePng(labelPage('indicium', { indicium: bytes }))],
      ['SVG (vector)', () => pageSvg(labelPage('indicium', { indicium: bytes }))],
      ['ZPL (Zebra)', () => pageZpl(labelPage('indicium', { indicium: bytes }))],
    ] as const) {
      console.log(`measuring ${name} (${seconds} s)...`);
      rows.push([name, await rate(seconds, render)]);
    }
    console.log('');
    console.log(`labels: one indicium per label, one core, in process, ${seconds} s per row`);
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    for (const [name, perSecond] of rows)
      console.log(
        `  ${name.padEnd(28)} ${Math.round(perSecond).toLocaleString('en-US').padStart(8)} labels/s`,
      );
    const pdf = rows[0]?.[1] ?? 0;
    console.log(`  goal: at least 500 PDF labels/s — ${pdf >= 500 ? 'met' : 'not met'}`);
    return 0;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
