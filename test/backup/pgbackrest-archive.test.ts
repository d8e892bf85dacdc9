import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { BackupRecord } from '../../src/backup/index.ts';
import {
  type ArchivingDatabase,
  startArchivingDatabase,
  switchAndArchiveWal,
} from '../support/backup-fixtures.ts';

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

// PostgreSQL beyond the contract: an incremental backup on a full one, the WAL archive carrying
// commits after it, and recovery either to the end of the archive or to a point in time.
describe('backups: pgBackRest with continuous WAL archiving', { timeout: 180_000 }, () => {
  let live: ArchivingDatabase;
  let full: BackupRecord;
  let incremental: BackupRecord;
  let beforeBatchC = '';
  let archivedSegment = '';

  before(async () => {
    live = await startArchivingDatabase(7);
  });
  after(async () => {
    await live.stop();
  });

  it('archives WAL through pgBackRest with the log-ship interval as archive_timeout', async () => {
    const client = new pg.Client({ connectionString: live.cluster.url });
    await client.connect();
    try {
      const show = async (name: string): Promise<string> =>
        (await client.query<Record<string, string>>(`show ${name}`)).rows[0]?.[name] ?? '';
      assert.equal(await show('archive_mode'), 'on');
      assert.match(
        await show('archive_command'),
        /^pgbackrest --config=\S+ --stanza=indicia archive-push %p$/,
      );
      assert.equal(await show('archive_timeout'), '5min');
    } finally {
      await client.end();
    }
  });

  it('takes a full backup, then an incremental one on it', async () => {
    for (const n of range(1, 100)) await live.insert(n);
    full = await live.backups.take('full');
    incremental = await live.backups.take('incremental');
    assert.equal(full.kind, 'full');
    assert.equal(incremental.kind, 'incremental');
    assert.equal(incremental.basedOn, full.id);
    assert.ok(incremental.id.startsWith(`${full.id}_`), incremental.id);
    assert.deepEqual(
      (await live.backups.list()).map((backup) => backup.id),
      [full.id, incremental.id],
    );
    const report = await live.backups.verify(incremental.id);
    assert.ok(report.isValid, report.problems.join('; '));
  });

  it('writes after the incremental backup reach the archive', async () => {
    for (const n of range(101, 200)) await live.insert(n);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    beforeBatchC = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    for (const n of range(201, 300)) await live.insert(n);
    archivedSegment = await switchAndArchiveWal(live.cluster);
    // Committed but still in the current WAL segment: no restore can have these.
    for (const n of range(301, 310)) await live.insert(n);
  });

  it('restores the latest backup and replays the archive to its end: every archived commit, nothing after', async () => {
    const report = await live.backups.restore('latest', live.newDestination(), { archiveMode: 'off' });
    assert.equal(report.backupId, incremental.id);
    assert.equal(report.kind, 'incremental');
    assert.deepEqual(report.recoveryTarget, { type: 'end-of-archive' });
    assert.ok(report.lastArchivedWal !== null && report.lastArchivedWal !== undefined);
    assert.ok(
      report.lastArchivedWal.segment >= archivedSegment,
      `${report.lastArchivedWal.segment} ≥ ${archivedSegment}`,
    );
    assert.ok(Date.parse(report.lastArchivedWal.archivedAt) >= Date.parse(beforeBatchC));
    const restored = await live.readRestored(report);
    assert.deepEqual(restored.rows, range(1, 300));
  });

  it('restores to a point in time: the commits before it, none after', async () => {
    const report = await live.backups.restore('latest', live.newDestination(), {
      target: { time: beforeBatchC },
      archiveMode: 'off',
    });
    assert.equal(report.backupId, incremental.id);
    assert.equal(report.recoveryTarget?.type, 'time');
    const restored = await live.readRestored(report);
    assert.deepEqual(restored.rows, range(1, 200));
  });

  it('refuses a target that is not a time with a zone, or before every backup', async () => {
    await assert.rejects(
      live.backups.restore('latest', live.newDestination(), { target: { time: 'yesterday' } }),
      { code: 'backup.invalid_target' },
    );
    await assert.rejects(
      live.backups.restore('latest', live.newDestination(), { target: { time: '2001-01-01T00:00:00Z' } }),
      { code: 'backup.invalid_target' },
    );
  });
});
