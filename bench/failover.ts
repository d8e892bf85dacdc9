// `npm run bench -- failover [--kills 3] [--issuers 4]`: how long issuance stops when the
// PostgreSQL primary dies. A pg_auto_failover formation (monitor + primary + synchronous standby,
// on loopback, the test harness's tuned health checks) under several issuers; the primary's
// postmaster and its keeper are SIGKILLed, so the monitor promotes the standby; the figure is the
// time from the kill to the next acknowledged indicium of a request begun after it (goal < 10 s).
import 'reflect-metadata';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Mills } from '../src/money/index.ts';
import type { DialectFixture } from '../test/support/dialects.ts';
import { startFailoverLoad } from '../test/support/failover-load.ts';
import { openMeterInstallation } from '../test/support/meter-installation.ts';
import { startAutoFailoverCluster } from '../test/support/pg-auto-failover.ts';

export interface FailoverFigures {
  /** Per kill: milliseconds from SIGKILL of the primary to the next acknowledged indicium. */
  readonly killToAcknowledgementMs: readonly number[];
  readonly medianMs: number;
  readonly maxMs: number;
  /** Indicia acknowledged during the run, and requests refused (store.unavailable) while switching. */
  readonly acknowledged: number;
  readonly refused: number;
  /** Whether every acknowledged indicium was found in the database afterwards. */
  readonly isNothingLost: boolean;
}

/**
 * Starts a formation and an installation on its multi-host URL, keeps `issuers` issuing, kills
 * the primary (with its keeper: a real failover) `kills` times, waiting for the synchronous
 * standby to be back before each, and stops everything. For bench/recovery.ts too.
 *
 * @example const { medianMs } = await measureFailover({ kills: 3 });
 */
export async function measureFailover(
  options: { readonly kills?: number; readonly issuers?: number; readonly log?: (line: string) => void } = {},
): Promise<FailoverFigures> {
  const kills = options.kills ?? 3;
  const log = options.log ?? (() => undefined);
  const cluster = await startAutoFailoverCluster();
  try {
    const fixture: DialectFixture = {
      name: 'postgres',
      freshDatabase: () =>
        Promise.resolve({
          target: { dialect: 'postgres', url: cluster.urls.multiHost },
          dispose: () => Promise.resolve(),
        }),
    };
    const installation = await openMeterInstallation(fixture, 2);
    try {
      const meterIds: string[] = [];
      for (let index = 0; index < 4; index += 1) {
        const meter = await installation.meters.create({
          customerNumber: 9200 + index,
          licensingZip: '10001',
          maxDescendingRegister: 100_000_000 as Mills,
        });
        await installation.meters.fund(meter.meterId, 50_000_000, 'failover-bench');
        meterIds.push(meter.meterId);
      }
      const load = startFailoverLoad(installation.meters, meterIds, { issuers: options.issuers ?? 4 });
      const measured: number[] = [];
      try {
        for (let kill = 0; kill < kills; kill += 1) {
          await cluster.waitForPrimaryAndSyncStandby();
          await load.nextAcknowledgementAfter(Date.now(), 30_000);
          await sleep(500 + Math.floor(Math.random() * 500));
          const { node, killedAt } = await cluster.killPrimary({ keeper: true });
          const acknowledgedAt = await load.nextAcknowledgementAfter(killedAt, 60_000);
          measured.push(acknowledgedAt - killedAt);
          log(
            `kill ${kill + 1}: ${node.name} → next acknowledged indicium after ${acknowledgedAt - killedAt} ms`,
          );
        }
        await cluster.waitForPrimaryAndSyncStandby();
      } finally {
        await load.stop();
      }
      const ids = new Set(
        (await installation.store.db.selectFrom('indicia').select('id').execute()).map((row) => row.id),
      );
      const sorted = [...measured].sort((left, right) => left - right);
      return {
        killToAcknowledgementMs: measured,
        medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
        maxMs: sorted.at(-1) ?? Number.NaN,
        acknowledged: load.acknowledged.size,
        refused: [...load.refusals.values()].reduce((total, count) => total + count, 0),
        isNothingLost: [...load.acknowledged.keys()].every((id) => ids.has(id)),
      };
    } finally {
      await installation.dispose();
    }
  } finally {
    await cluster.stop();
  }
}

export async function runBenchmark(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { kills: { type: 'string', default: '3' }, issuers: { type: 'string', default: '4' } },
  });
  const kills = Number(values.kills);
  const issuers = Number(values.issuers);
  console.log(`starting a pg_auto_failover formation; ${kills} real failovers under ${issuers} issuers...`);
  const figures = await measureFailover({ kills, issuers, log: (line) => console.log(`  ${line}`) });
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  console.log('');
  console.log(
    'failover: PostgreSQL 15, pg_auto_failover 2.0 (monitor + primary + synchronous standby on loopback,',
  );
  console.log('  health checks every 0.5 s, unhealthy after 1 s, demote timeout 2 s), 2 software modules');
  console.log(`  machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node.js ${process.version}`);
  console.log(
    `  kill → next acknowledged indicium: ${figures.killToAcknowledgementMs.map(seconds).join(', ')}`,
  );
  console.log(`  median ${seconds(figures.medianMs)}, max ${seconds(figures.maxMs)} (goal < 10 s)`);
  console.log(
    `  ${figures.acknowledged} indicia acknowledged, ${figures.refused} requests refused while switching, ` +
      `${figures.isNothingLost ? 'none' : 'SOME'} lost`,
  );
  return figures.isNothingLost ? 0 : 1;
}
