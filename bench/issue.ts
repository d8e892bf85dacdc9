// `npm run bench -- issue [--seconds 5]`: indicia issued per second, with p50/p99 latency, at 1, 16
// and 64 concurrent issuers on the embedded default (SQLite, synchronous=FULL; software crypto
// modules), beside this machine's raw fdatasync rate measured in the same run: the bound for one
// durable commit per request. Each row also shows the CPU the process used, how busy the event
// loop was, and what one indicium cost in event-loop time and in CPU in all (µs).
import 'reflect-metadata';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../src/store/index.ts';
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAuthorityService } from '../src/authority/index.ts';
import { type CustodyService, createCustodyService } from '../src/custody/index.ts';
import { type MetersService, createMetersService } from '../src/meters/index.ts';
import type { Mills } from '../src/money/index.ts';
import { migrateToLatest, openStore } from '../src/store/index.ts';
import { type ModulePool, openCryptoModules } from '../src/vault/index.ts';

const METERS = 16;

/** Writes 4 KiB and fdatasyncs it, over and over, for `seconds`: durable writes per second. */
function fdatasyncPerSecond(folder: string, seconds: number): number {
  const file = openSync(join(folder, 'fdatasync-probe'), 'w');
  const block = randomBytes(4096);
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < seconds * 1000) {
    writeSync(file, block, 0, block.length, (count % 256) * 4096);
    fdatasyncSync(file);
    count += 1;
  }
  closeSync(file);
  return count / ((performance.now() - started) / 1000);
}

function percentile(sorted: readonly number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN;
}

export interface IssuanceFigure {
  readonly concurrency: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly groupSize: number;
  readonly cores: number;
  readonly loopBusy: number;
}

/**
 * The issuance service alone (no HTTP): a fresh SQLite database in `folder`, two software modules,
 * 16 funded meters, then `seconds` of single-piece issues at each concurrency.
 */
/**
 * The services on a fresh SQLite database in `folder` with software modules — the embedded
 * default, in this process — for `work`; closed afterwards.
 */
export async function withBenchServices<T>(
  folder: string,
  modules: number,
  work: (services: {
    meters: MetersService;
    custody: CustodyService;
    db: Kysely<DatabaseSchema>;
    pool: ModulePool;
  }) => Promise<T>,
): Promise<T> {
  const store = await openStore({ dialect: 'sqlite', file: join(folder, 'indicia.sqlite') });
  await migrateToLatest(store.db, store.location);
  const { pool } = await openCryptoModules(
    { backend: 'software', vaultDir: join(folder, 'vault'), kek: randomBytes(32) },
    { modules, ringSize: 3, inhibitThreshold: 1 },
  );
  try {
    const custody = createCustodyService({ db: store.db, pool });
    const authority = createAuthorityService({ db: store.db, custody });
    return await work({
      meters: createMetersService({ db: store.db, custody, authority }),
      custody,
      db: store.db,
      pool,
    });
  } finally {
    await pool.close();
    await store.close();
  }
}

export async function measureIssuance(
  folder: string,
  seconds: number,
  concurrencies: readonly number[],
  onRow: (concurrency: number, row: number, pool: ModulePool) => void = () => undefined,
): Promise<IssuanceFigure[]> {
  return withBenchServices(folder, 2, async ({ meters, custody, pool }) => {
    const meterIds: string[] = [];
    for (let index = 0; index < METERS; index += 1) {
      const meter = await meters.create({
        customerNumber: 1 + index,
        licensingZip: '10001',
        maxDescendingRegister: 100_000_000_000 as Mills,
      });
      await meters.fund(meter.meterId, 100_000_000_000, 'bench');
      meterIds.push(meter.meterId);
    }
    const figures: IssuanceFigure[] = [];
    for (const [row, concurrency] of concurrencies.entries()) {
      onRow(concurrency, row, pool);
      const latencies: number[] = [];
      const before = custody.groupCommits();
      const deadline = performance.now() + seconds * 1000;
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const loopBefore = performance.eventLoopUtilization();
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          for (let round = 0; performance.now() < deadline; round += 1) {
            const meterId = meterIds[(worker + round * 7) % METERS] ?? '';
            const begun = performance.now();
            await meters.issue(meterId, [{ postage: 730 as Mills, rateCategory: 'FC' }]);
            latencies.push(performance.now() - begun);
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const after = custody.groupCommits();
      latencies.sort((left, right) => left - right);
      figures.push({
        concurrency,
        perSecond: latencies.length / elapsed,
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        groupSize: (after.commands - before.commands) / Math.max(1, after.groups - before.groups),
        cores: (cpu.user + cpu.system) / 1e6 / elapsed,
        loopBusy: performance.eventLoopUtilization(loopBefore).utilization,
      });
    }
    return figures;
  });
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { seconds: { type: 'string', default: '5' }, issuers: { type: 'string', default: '1,16,64' } },
  });
  const seconds = Number(values.seconds);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-issue-'));
  try {
    console.log(`measuring raw fdatasync/s (${seconds} s)...`);
    const fsyncs = fdatasyncPerSecond(folder, seconds);
    const figures = await measureIssuance(
      folder,
      seconds,
      values.issuers.split(',').map(Number),
      (concurrency) =>
        console.log(`measuring ${concurrency} concurrent issuer(s) over ${METERS} meters (${seconds} s)...`),
    );
    console.log('');
    console.log(
      `issue: single indicia, SQLite (WAL, synchronous=FULL), 2 software modules, ${METERS} meters, ${seconds} s per row`,
    );
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    console.log(`  raw fdatasync (same run, same disk): ${Math.round(fsyncs).toLocaleString('en-US')}/s`);
    console.log(
      '  issuers  indicia/s        p50          p99     vs fdatasync   group size   cores   event loop busy   µs/indicium (loop, all)',
    );
    for (const figure of figures) {
      console.log(
        `  ${String(figure.concurrency).padStart(3)}      ${Math.round(figure.perSecond).toLocaleString('en-US').padStart(8)}    ${figure.p50.toFixed(1).padStart(7)} ms   ${figure.p99.toFixed(1).padStart(7)} ms   ${(figure.perSecond / fsyncs).toFixed(2)}×   ${figure.groupSize.toFixed(1).padStart(8)}   ${figure.cores.toFixed(2).padStart(5)}   ${Math.round(
          figure.loopBusy * 100,
        )
          .toString()
          .padStart(4)}%   ${Math.round((figure.loopBusy / figure.perSecond) * 1e6)
          .toString()
          .padStart(8)}, ${Math.round((figure.cores / figure.perSecond) * 1e6)}`,
      );
    }
    return 0;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
