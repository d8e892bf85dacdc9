// `npm run bench -- labels [--seconds 3] [--pieces 10000]`: labels rendered per second for each
// format (PDF, PNG, SVG, ZPL) of a real 121-byte indicium — on one core in process, and for PDF
// also through the render pool (a worker thread a core) — and the time to issue and render a
// 10,000-piece mailing list into one PDF (import, one batch issuance, the PDF). Issue 6's goal:
// at least 500 PDF labels/s on this machine.
import 'reflect-metadata';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDemoAccountsIfEmpty } from '../src/accounts/index.ts';
import { type LabelFileFormat, RenderPool, renderJob } from '../src/labels/index.ts';
import type { Mills } from '../src/money/index.ts';
import { MAX_LIST_PIECES, MailingLists } from '../src/printing/index.ts';
import { withBenchServices } from './issue.ts';

const ADDRESS = { name: 'Ada Lovelace', line1: '12 Main St', city: 'Troy', state: 'NY', zip: '12180' };

/** Renders for `seconds`, `inFlight` at a time: labels per second (a fresh render each time). */
async function rate(seconds: number, render: () => unknown, inFlight = 1): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let count = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await render();
        count += 1;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const seconds = (from: number): string => `${((performance.now() - from) / 1000).toFixed(1)} s`;

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { seconds: { type: 'string', default: '3' }, pieces: { type: 'string', default: '10000' } },
  });
  const duration = Number(values.seconds);
  const pieces = Math.min(Number(values.pieces), MAX_LIST_PIECES);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-labels-'));
  const pool = new RenderPool();
  try {
    return await withBenchServices(folder, 1, async ({ meters, db }) => {
      const [customer] = (await createDemoAccountsIfEmpty(db)).filter(
        (account) => account.role === 'customer',
      );
      if (customer === undefined) throw new Error('no demo customer');
      const meter = await meters.create({
        customerNumber: 1,
        licensingZip: '10118',
        maxDescendingRegister: 100_000_000 as Mills,
      });
      await meters.fund(meter.meterId, 90_000_000, 'bench');
      const [indicium] = await meters.issue(meter.meterId, [{ postage: 730 as Mills, rateCategory: 'FC' }]);
      if (indicium === undefined) throw new Error('no indicium issued');
      const contents = [{ indicium: indicium.data }];

      const rows: [string, number][] = [];
      for (const format of ['pdf', 'png', 'svg', 'zpl'] as LabelFileFormat[]) {
        console.log(`measuring ${format.toUpperCase()} on one core (${duration} s)...`);
        rows.push([
          `${format.toUpperCase()}, one core`,
          await rate(duration, () => renderJob({ layout: 'indicium', contents, output: format })),
        ]);
      }
      const threads = availableParallelism();
      console.log(`measuring PDF through the render pool, ${threads} threads (${duration} s)...`);
      await pool.render({ layout: 'indicium', contents, output: 'pdf' }); // the threads start
      const pooled = await rate(
        duration,
        () => pool.render({ layout: 'indicium', contents, output: 'pdf' }),
        threads * 4,
      );
      rows.push([`PDF, render pool (${threads} threads)`, pooled]);

      console.log(`issuing and rendering a ${pieces.toLocaleString('en-US')}-piece mailing list...`);
      const lists = new MailingLists(db, join(folder, 'lists'), pool);
      const csv = `Name,Street,City,State,ZIP,Postage\n${Array.from({ length: pieces }, (_, index) => `Person ${index},${index} Main St,Troy,NY,12180,0.40\n`).join('')}`;
      let started = performance.now();
      const list = await lists.importList({
        accountId: customer.accountId,
        name: 'bench',
        csv: Buffer.from(csv),
      });
      const imported = seconds(started);
      started = performance.now();
      const total = performance.now();
      await lists.print(
        customer.accountId,
        list.id,
        {
          expected: { digest: list.digest, pieces: list.rows, totalPostageMills: list.totalPostageMills },
          layout: 'envelope-10',
          from: ADDRESS,
        },
        (batch, withinCommit) =>
          meters.issue(meter.meterId, batch, { withinCommit, maxPieces: MAX_LIST_PIECES }),
      );
      const issued = seconds(started);
      started = performance.now();
      await lists.idle();
      const rendered = seconds(started);
      const printed = await lists.list(customer.accountId, list.id);
      if (printed.state !== 'printed')
        throw new Error(`the list is ${printed.state}: ${printed.failure ?? ''}`);
      const size = statSync(join(folder, 'lists', `${list.id}.pdf`)).size;

      console.log('');
      console.log(`labels: one indicium per label, ${duration} s per row`);
      console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
      for (const [name, perSecond] of rows)
        console.log(
          `  ${name.padEnd(32)} ${Math.round(perSecond).toLocaleString('en-US').padStart(8)} labels/s`,
        );
      console.log(
        `  mailing list of ${pieces.toLocaleString('en-US')} pieces (#10 envelopes): import ${imported}, one batch issuance ${issued}, PDF ${rendered} (${(size / 1024 / 1024).toFixed(1)} MiB); print to PDF ${seconds(total)}`,
      );
      console.log(
        `  goal: at least 500 PDF labels/s on this machine — ${pooled >= 500 ? 'met' : 'not met'} (${Math.round(pooled)}/s through the pool)`,
      );
      return 0;
    });
  } finally {
    await pool.close();
    rmSync(folder, { recursive: true, force: true });
  }
}
