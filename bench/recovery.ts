// `npm run bench -- recovery [--seconds 6] [--issuers 64] [--write-cost]`: how fast a restore replays the shipped
// protected log, against how fast the same run issued it. On the embedded default (SQLite, WAL,
// synchronous=FULL, 2 software modules): meters funded, a backup (VACUUM INTO), single indicia from
// N issuers for S seconds, the log shipped, the database deleted, `indicia restore` from the backup
// and the archive. Prints issuance/s, replayed movements/s and their ratio (goal ≥ 5×). With
// --write-cost: the protected log's write cost instead (with its rows against without them).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { runCli } from '../src/cli/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { startIndicia } from '../src/main.ts';
import type { Mills } from '../src/money/index.ts';

const METERS = 32;

type Running = Awaited<ReturnType<typeof startIndicia>>;

/** Single indicia from `issuers` for `seconds`: how many per second. */
async function issueFor(
  indicia: Running,
  meterIds: readonly string[],
  issuers: number,
  seconds: number,
): Promise<number> {
  let pieces = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: issuers }, async (_, worker) => {
      for (let round = 0; performance.now() < deadline; round += 1) {
        await indicia.meters.issue(meterIds[(worker + round * 7) % meterIds.length] ?? '', [
          { postage: 730 as Mills, rateCategory: 'FC' },
        ]);
        pieces += 1;
      }
    }),
  );
  return pieces / ((performance.now() - started) / 1000);
}

/**
 * The protected log's write cost: rows alternate with the log rows written as shipped and without
 * what replay needs beside each record (a bench-only SQLite trigger writes the row without its
 * package versions and statements — the baseline no installation runs: nothing could be replayed),
 * the rest of the commit unchanged. The record's MAC is made either way: the module's own memory
 * needs it.
 */
async function logWriteCost(indicia: Running, meterIds: readonly string[], seconds: number): Promise<void> {
  const rows: { issuers: number; withLog: number[]; without: number[] }[] = [
    { issuers: 1, withLog: [], without: [] },
    { issuers: 64, withLog: [], without: [] },
  ];
  for (const row of rows)
    for (let round = 0; round < 2; round += 1)
      for (const isLogged of [true, false]) {
        await (
          isLogged
            ? sql`drop trigger if exists bench_no_module_log`
            : sql`create trigger if not exists bench_no_module_log before insert on module_log when new.packages is not null begin
              insert into module_log (module_serial, counter, previous_digest, digest, sealed, recorded_at, packages, statements)
              values (new.module_serial, new.counter, new.previous_digest, new.digest, new.sealed, new.recorded_at, null, null);
              select raise(ignore);
            end`
        ).execute(indicia.store.db);
        console.log(
          `measuring ${row.issuers} issuer(s) ${isLogged ? 'with' : 'without'} the replay payload (${seconds} s)...`,
        );
        (isLogged ? row.withLog : row.without).push(await issueFor(indicia, meterIds, row.issuers, seconds));
      }
  await sql`drop trigger if exists bench_no_module_log`.execute(indicia.store.db);
  const mean = (values: number[]): number =>
    values.reduce((total, value) => total + value, 0) / values.length;
  console.log('  protected log payload write cost (single indicia, SQLite; rows alternate):');
  for (const row of rows)
    console.log(
      `    ${String(row.issuers).padStart(2)} issuer(s): with the payload ${Math.round(mean(row.withLog)).toLocaleString('en-US')}/s, without ${Math.round(mean(row.without)).toLocaleString('en-US')}/s = ${(mean(row.withLog) / mean(row.without)).toFixed(2)}× (goal ≥ 0.9×); rows with: ${row.withLog.map(Math.round).join(', ')}; without: ${row.without.map(Math.round).join(', ')}`,
    );
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seconds: { type: 'string', default: '6' },
      issuers: { type: 'string', default: '64' },
      'write-cost': { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const issuers = Number(values.issuers);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-recovery-'));
  const dataDir = join(folder, 'data');
  const archiveDir = join(folder, 'archive');
  const backupFile = join(folder, 'backup.sqlite');
  const env: Record<string, string> = {
    INDICIA_PORT: '0',
    INDICIA_DATA_DIR: dataDir,
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_CRYPTO_MODULES: '2',
    INDICIA_RECONCILE_INTERVAL_MINUTES: '0',
    INDICIA_LOG_SHIP_INTERVAL: '0',
    INDICIA_LOG_ARCHIVE_DIR: archiveDir,
  };
  try {
    const indicia = await startIndicia(loadConfig({ env, cwd: folder }), {
      logDestination: new PassThrough().resume(),
    });
    env['INDICIA_CRYPTO_OFFICER_CREDENTIAL'] = indicia.createdOfficerCredential ?? '';
    const meterIds: string[] = [];
    for (let index = 0; index < METERS; index += 1) {
      const meter = await indicia.meters.create({
        customerNumber: 9001 + index,
        licensingZip: '10001',
        maxDescendingRegister: 100_000_000_000 as Mills,
      });
      await indicia.meters.fund(meter.meterId, 100_000_000_000, 'bench');
      meterIds.push(meter.meterId);
    }
    if (values['write-cost']) {
      await logWriteCost(indicia, meterIds, seconds);
      await indicia.close();
      return 0;
    }
    const live = new DatabaseSync(join(dataDir, 'indicia.sqlite'));
    live.exec(`vacuum into '${backupFile}'`);
    live.close();
    console.log(`issuing single indicia from ${issuers} issuers for ${seconds} s...`);
    let pieces = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: issuers }, async (_, worker) => {
        for (let round = 0; performance.now() < deadline; round += 1) {
          await indicia.meters.issue(meterIds[(worker + round * 7) % METERS] ?? '', [
            { postage: 730 as Mills, rateCategory: 'FC' },
          ]);
          pieces += 1;
        }
      }),
    );
    const issuing = (performance.now() - started) / 1000;
    const commits = indicia.custody.groupCommits();
    const shipStarted = performance.now();
    const shipped = await indicia.logShipping.runOnce();
    const shipping = (performance.now() - shipStarted) / 1000;
    await indicia.close();
    for (const file of ['indicia.sqlite', 'indicia.sqlite-wal', 'indicia.sqlite-shm'])
      rmSync(join(dataDir, file), { force: true });
    console.log(`shipped ${shipped?.records ?? 0} records in ${shipping.toFixed(1)} s; restoring...`);
    let output = '';
    const restoreStarted = performance.now();
    const status = await runCli(['restore', '--backup', backupFile, '--log-archive', archiveDir], {
      env,
      cwd: folder,
      write: (text) => (output += text),
    });
    const restoring = (performance.now() - restoreStarted) / 1000;
    if (status !== 0) {
      console.error(output);
      return 1;
    }
    const match = /(\d+) re-applied \((\d+) movements\) in ([\d.]+) s/.exec(output);
    const replayedMovements = Number(match?.[2] ?? 0);
    const replaySeconds = Number(match?.[3] ?? Number.NaN);
    const issuedPerSecond = pieces / issuing;
    const replayedPerSecond = replayedMovements / replaySeconds;
    console.log('');
    console.log(
      `recovery: SQLite (WAL, synchronous=FULL), 2 software modules, ${METERS} meters, ${issuers} issuers`,
    );
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    console.log(
      `  issued:   ${pieces.toLocaleString('en-US')} indicia in ${issuing.toFixed(1)} s = ${Math.round(issuedPerSecond).toLocaleString('en-US')}/s (${commits.groups.toLocaleString('en-US')} group commits)`,
    );
    console.log(
      `  replayed: ${replayedMovements.toLocaleString('en-US')} movements (${match?.[1] ?? '?'} records) in ${replaySeconds.toFixed(1)} s = ${Math.round(replayedPerSecond).toLocaleString('en-US')}/s`,
    );
    console.log(`  replay ÷ issuance: ${(replayedPerSecond / issuedPerSecond).toFixed(1)}× (goal ≥ 5×)`);
    console.log(
      `  whole restore (backup in place, archive read and checked, replay, modules compared): ${restoring.toFixed(1)} s`,
    );
    return 0;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
