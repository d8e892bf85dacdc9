import { describe, it } from 'node:test';
import { startRestoredCluster } from '../support/archiving-postgres.ts';
import { startArchivingDatabase } from '../support/backup-fixtures.ts';
import { type DrillDatabase, runDisasterDrill } from '../support/disaster-drill.ts';

/**
 * The disaster drill (test/support/disaster-drill.ts) on PostgreSQL: the cluster archives its WAL
 * through pgBackRest and `indicia backup` takes a pgBackRest full backup. The disaster takes the
 * cluster with its WAL not yet archived; pgBackRest restores the backup and replays what the WAL
 * archive holds (up to the backup's end), then `indicia restore --log-archive` replays the shipped
 * protected log through a crypto module and settles the gap from the modules' memory.
 */
describe(
  'disaster drill on PostgreSQL: pgBackRest backup, ship, lose the cluster, restore + replay',
  { timeout: 300_000 },
  () => {
    const cases = [
      { gapPieces: 2, outcome: 'settled' },
      { gapPieces: 8, outcome: 'beyond memory' },
    ] as const;
    for (const { gapPieces, outcome } of cases)
      it(`brings registers, packages and indicia back to the last shipment, ${gapPieces} piece(s) printed after it: ${outcome}`, async () => {
        const live = await startArchivingDatabase(3);
        const { settings } = live;
        const backupEnv = {
          INDICIA_BACKUP_DIR: settings.directory,
          INDICIA_PG_DATA_DIR: settings.pgDataDir,
          INDICIA_PG_SOCKET_DIR: settings.pgSocketDir,
          ...(settings.runAs === undefined ? {} : { INDICIA_PGBACKREST_RUN_AS: settings.runAs }),
        };
        let restored: { stop(): void } | undefined;
        const database: DrillDatabase = {
          env: { INDICIA_DATABASE_URL: live.cluster.url.replace(/\/postgres$/, '/indicia'), ...backupEnv },
          async lose() {
            await live.store.close();
            live.cluster.destroy();
            const destination = live.newDestination();
            await live.backups.restore('latest', destination, { archiveMode: 'off' });
            const cluster = await startRestoredCluster(destination, live.cluster.folder);
            restored = cluster;
            return {
              env: { INDICIA_DATABASE_URL: cluster.url.replace(/\/postgres$/, '/indicia'), ...backupEnv },
              restoreArgs: [],
            };
          },
          async stop() {
            restored?.stop();
            await live.stop();
          },
        };
        try {
          await runDisasterDrill(database, gapPieces, outcome);
        } finally {
          await database.stop();
        }
      });
  },
);
