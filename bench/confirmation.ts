// `npm run bench -- confirmation [--seconds 4] [--rounds 3]`: what the commit confirmation costs.
// After every group commit a module writes, durably, that the database holds the group's record
// (so a restored database inhibits it instead of signing the same register values again): one
// more ring write per group. This bench issues single indicia on the embedded default at 1 and 64
// issuers, alternating rows with the confirmation (as shipped) and without it (the module's
// confirmCommitted replaced by a no-op on the bench's own instances: the unsafe baseline, which no
// installation can run), in the same process on the same database, and prints the ratio.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CryptoModule, ModulePool } from '../src/vault/index.ts';
import { type IssuanceFigure, measureIssuance } from './issue.ts';

const originals = new WeakMap<CryptoModule, CryptoModule['confirmCommitted']>();

/** Turns the confirmation off (the baseline) or back on, on this pool's module instances only. */
function setConfirmation(pool: ModulePool, isOn: boolean): void {
  for (const module of pool.modules) {
    const original = originals.get(module) ?? module.confirmCommitted.bind(module);
    originals.set(module, original);
    module.confirmCommitted = isOn ? original : () => Promise.resolve();
  }
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' } },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const folder = mkdtempSync(join(tmpdir(), 'indicia-bench-confirmation-'));
  // Rows alternate: with, without, with, without … at each concurrency, so drift hits both alike.
  const plan: { concurrency: number; isConfirmed: boolean }[] = [];
  for (const concurrency of [1, 64])
    for (let round = 0; round < rounds; round += 1)
      for (const isConfirmed of [true, false]) plan.push({ concurrency, isConfirmed });
  try {
    const figures = await measureIssuance(
      folder,
      seconds,
      plan.map((entry) => entry.concurrency),
      (concurrency, row, pool) => {
        const isConfirmed = plan[row]?.isConfirmed ?? true;
        setConfirmation(pool, isConfirmed);
        console.log(
          `measuring ${concurrency} issuer(s) ${isConfirmed ? 'with' : 'without'} the confirmation (${seconds} s)...`,
        );
      },
    );
    console.log('');
    console.log(
      `confirmation: single indicia, SQLite (WAL, synchronous=FULL), 2 software modules, ${seconds} s per row, ${rounds} rounds`,
    );
    console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
    console.log('  issuers   with confirmation   without (baseline)   ratio   p99 with / without');
    for (const concurrency of [1, 64]) {
      const pick = (isConfirmed: boolean): IssuanceFigure[] =>
        figures.filter((_, index) => {
          const planned = plan[index];
          return (
            planned !== undefined &&
            planned.concurrency === concurrency &&
            planned.isConfirmed === isConfirmed
          );
        });
      const mean = (rows: IssuanceFigure[], field: 'perSecond' | 'p99'): number =>
        rows.reduce((total, row) => total + row[field], 0) / Math.max(1, rows.length);
      const withIt = pick(true);
      const without = pick(false);
      console.log(
        `  ${String(concurrency).padStart(3)}      ${Math.round(mean(withIt, 'perSecond')).toLocaleString('en-US').padStart(10)}/s      ${Math.round(mean(without, 'perSecond')).toLocaleString('en-US').padStart(10)}/s     ${(mean(withIt, 'perSecond') / mean(without, 'perSecond')).toFixed(2)}×   ${mean(withIt, 'p99').toFixed(1)} / ${mean(without, 'p99').toFixed(1)} ms`,
      );
      console.log(
        `           rows with: ${withIt.map((row) => Math.round(row.perSecond)).join(', ')}; without: ${without.map((row) => Math.round(row.perSecond)).join(', ')}`,
      );
    }
    return 0;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
