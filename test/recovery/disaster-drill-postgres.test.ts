import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';
import { startRestoredCluster } from '../support/archiving-postgres.ts';
import { startArchivingDatabase } from '../support/backup-fixtures.ts';

/**
 * The disaster drill of issue 17 on PostgreSQL: the cluster archives its WAL through pgBackRest;
 * issue and fund, a full backup, go on under load, ship the protected log, print two more pieces
 * (the gap), lose the cluster. Restore the backup with pgBackRest to the moment after it (not
 * further: the WAL after it is taken as lost too), then `indicia restore --log-archive` replays the
 * shipped log through a crypto module and settles the gap from the modules' memory.
 */
const piece = { postage: 500 as Mills, rateCategory: 'FC' };

function environment(
  dataDir: string,
  archiveDir: string,
  url: string,
  officer?: string,
): Record<string, string> {
  return {
    INDICIA_PORT: '0',
    INDICIA_DATA_DIR: dataDir,
    INDICIA_DATABASE_URL: url,
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_CRYPTO_MODULES: '2',
    INDICIA_CHECKPOINT_RING_SIZE: '3',
    INDICIA_RECONCILE_INTERVAL_MINUTES: '0',
    INDICIA_LOG_SHIP_INTERVAL: '0',
    INDICIA_LOG_ARCHIVE_DIR: archiveDir,
    INDICIA_BACKUP_AT: 'off',
    INDICIA_AUDIT_ANCHOR_INTERVAL: '0',
    INDICIA_AUDIT_VERIFY_INTERVAL: '0',
    ...(officer === undefined ? {} : { INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer }),
  };
}

const start = (env: Record<string, string>, cwd: string): Promise<RunningIndicia> =>
  startIndicia(loadConfig({ env, cwd }), { logDestination: new PassThrough().resume() });

const registersOf = async (indicia: RunningIndicia, meterId: string) => {
  const view = await indicia.custody.readMeter(meterId);
  return { ar: view.ascendingRegister, dr: view.descendingRegister, sequence: view.sequence };
};

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe(
  'disaster drill on PostgreSQL: pgBackRest backup, ship, lose the cluster, restore + replay',
  { timeout: 300_000 },
  () => {
    it('brings registers, packages and indicia back to the last shipment and settles the gap', async () => {
      const live = await startArchivingDatabase(3);
      const dataDir = mkdtempSync(join(tmpdir(), 'indicia-pg-disaster-'));
      const archiveDir = mkdtempSync(join(tmpdir(), 'indicia-pg-archive-'));
      const databaseUrl = live.cluster.url.replace(/\/postgres$/, '/indicia');
      let restored: { url: string; stop(): void } | undefined;
      try {
        let indicia = await start(environment(dataDir, archiveDir, databaseUrl), dataDir);
        const officer = indicia.createdOfficerCredential;
        assert.ok(officer !== undefined);
        const meter = await indicia.meters.create({
          customerNumber: 7201,
          licensingZip: '94107',
          maxDescendingRegister: mills(500_000),
        });
        const other = await indicia.meters.create({
          customerNumber: 7202,
          licensingZip: '10001',
          maxDescendingRegister: mills(500_000),
        });
        await indicia.meters.fund(meter.meterId, 100_000, 'drill');
        await indicia.meters.fund(other.meterId, 50_000, 'drill');
        await indicia.meters.issue(meter.meterId, [piece, piece]);
        await live.backups.take('full');
        await pause(1_100);
        const afterBackup = new Date().toISOString();
        await pause(1_100);
        await Promise.all([
          indicia.meters.issue(meter.meterId, [piece]),
          indicia.meters.issue(other.meterId, [piece, piece]),
          indicia.meters.issue(meter.meterId, [piece]),
          indicia.meters.fund(other.meterId, 5_000, 'drill'),
        ]);
        const late = await indicia.meters.create({
          customerNumber: 7203,
          licensingZip: '60601',
          maxDescendingRegister: mills(500_000),
        });
        await indicia.meters.fund(late.meterId, 20_000, 'drill');
        await indicia.meters.issue(late.meterId, [piece]);
        const shipped = await indicia.logShipping.runOnce();
        assert.ok(shipped !== null && shipped.records > 0);
        const atShipment = {
          other: await registersOf(indicia, other.meterId),
          late: await registersOf(indicia, late.meterId),
          indicia: (await indicia.store.db.selectFrom('indicia').select('id').orderBy('id').execute()).map(
            (row) => row.id,
          ),
        };
        await indicia.meters.issue(meter.meterId, [piece]);
        await indicia.meters.issue(meter.meterId, [piece]);
        const beforeDisaster = await registersOf(indicia, meter.meterId);
        await indicia.close();

        // The cluster is lost; pgBackRest restores the backup to the moment after it.
        const destination = live.newDestination();
        await live.backups.restore('latest', destination, {
          target: { time: afterBackup },
          archiveMode: 'off',
        });
        restored = await startRestoredCluster(destination, live.cluster.folder);
        const restoredUrl = restored.url.replace(/\/postgres$/, '/indicia');
        const env = environment(dataDir, archiveDir, restoredUrl, officer);
        let output = '';
        const status = await runCli(['restore', '--log-archive', archiveDir], {
          env,
          cwd: dataDir,
          write: (text) => (output += text),
        });
        assert.equal(status, 0, output);
        assert.match(output, /\d+ re-applied \(\d+ movements\)/);
        assert.match(output, /Settled from the modules' own memory/);

        indicia = await start(env, dataDir);
        try {
          assert.equal((await indicia.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
          assert.deepEqual(await registersOf(indicia, meter.meterId), beforeDisaster);
          assert.deepEqual(await registersOf(indicia, other.meterId), atShipment.other);
          assert.deepEqual(await registersOf(indicia, late.meterId), atShipment.late);
          const ids = (await indicia.store.db.selectFrom('indicia').select('id').orderBy('id').execute()).map(
            (row) => row.id,
          );
          assert.deepEqual(ids, atShipment.indicia);
          assert.equal((await indicia.meters.issue(meter.meterId, [piece])).length, 1);
          const report = await reconcileMeters({ db: indicia.store.db, custody: indicia.custody });
          assert.equal(
            report.isBalanced,
            true,
            JSON.stringify(report.meters.filter((entry) => entry.differences.length > 0)),
          );
        } finally {
          await indicia.close();
        }
      } finally {
        restored?.stop();
        await live.stop();
        for (const dir of [dataDir, archiveDir]) rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
