import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type BackupRecord, createSqliteBackups } from '../../src/backup/index.ts';
import { kindOfNextBackup, millisecondsUntil, startBackupJob } from '../../src/jobs/index.ts';
import { migrateToLatest, openStore } from '../../src/store/index.ts';
import { createLogger, createMetrics } from '../../src/telemetry/index.ts';
import { runIndicia } from '../support/cli-process.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { startTestServer } from '../support/start-server.ts';

const DAY = 24 * 60 * 60_000;

function record(kind: BackupRecord['kind'], takenAt: string): BackupRecord {
  return { id: takenAt, kind, takenAt, finishedAt: takenAt, bytes: 1, source: 'test' };
}

describe('the daily backup job', () => {
  let folder: string;
  let databaseFile: string;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'indicia-backup-job-'));
    databaseFile = join(folder, 'indicia.sqlite');
    const store = await openStore({ dialect: 'sqlite', file: databaseFile });
    await migrateToLatest(store.db, store.location);
    await store.close();
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('runs at the next HH:MM UTC', () => {
    const now = new Date('2026-12-04T01:30:00Z');
    assert.equal(millisecondsUntil('02:00', now), 30 * 60_000);
    assert.equal(millisecondsUntil('01:00', now), DAY - 30 * 60_000);
    assert.equal(millisecondsUntil('01:30', now), DAY);
  });

  it('takes SQLite backups full, PostgreSQL ones full weekly and incremental between', () => {
    const now = new Date('2026-12-10T02:00:00Z');
    assert.equal(kindOfNextBackup('sqlite', [record('full', '2026-12-09T02:00:00Z')], now), 'full');
    assert.equal(kindOfNextBackup('pgbackrest', [], now), 'full');
    const lastWeek = record('full', '2026-12-03T02:00:05Z');
    assert.equal(kindOfNextBackup('pgbackrest', [lastWeek], now), 'full');
    const sixDaysAgo = record('full', '2026-12-04T02:00:00Z');
    assert.equal(
      kindOfNextBackup('pgbackrest', [sixDaysAgo, record('incremental', '2026-12-09T02:00:00Z')], now),
      'incremental',
    );
  });

  it('backs up on its timer, prunes, and exports the last backup and the failures as metrics', async () => {
    const metrics = createMetrics();
    const logs = new PassThrough();
    let text = '';
    logs.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const logger = createLogger({ level: 'info', destination: logs });
    const backups = createSqliteBackups({ databaseFile, directory: join(folder, 'backups'), retention: 1 });
    // 02:00 is 100 ms away on this clock.
    const offset = Date.parse('2026-12-04T01:59:59.900Z') - Date.now();
    const job = startBackupJob({
      backups: () => backups,
      logger,
      metrics,
      at: '02:00',
      now: () => new Date(Date.now() + offset),
    });
    try {
      const deadline = Date.now() + 20_000;
      while (!text.includes('backup taken') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(text, /backup taken/);
      const second = await job.runOnce();
      assert.deepEqual(second.pruned.kept, [second.backup.id]);
      assert.equal(second.pruned.removed.length, 1);
      const exported = await metrics.registry.metrics();
      assert.match(exported, /indicia_backup_last_success_timestamp_seconds\{[^}]*\} \d+/);
      assert.match(exported, new RegExp(`indicia_backup_last_size_bytes\\{[^}]*\\} ${second.backup.bytes}`));
      assert.match(exported, /indicia_backups_kept\{[^}]*\} 1/);
      assert.match(exported, /indicia_backup_failures_total\{[^}]*\} 0/);
    } finally {
      await job.stop();
    }
    const failing = startBackupJob({
      backups: () =>
        createSqliteBackups({
          databaseFile: join(folder, 'missing.sqlite'),
          directory: folder,
          retention: 1,
        }),
      logger,
      metrics: createMetrics(),
      at: 'off',
    });
    await assert.rejects(failing.runOnce(), { code: 'backup.failed' });
    assert.equal(failing.nextRunAt, undefined);
  });
});

describe('the server', () => {
  it('starts the daily backup job: its metrics are exported; on PostgreSQL without INDICIA_PG_DATA_DIR it warns at start', async () => {
    for (const fixture of dialectFixtures) {
      const server = await startTestServer(fixture, { INDICIA_BACKUP_AT: '02:00' });
      try {
        const exported = await (await fetch(`${server.indicia.url}/metrics`)).text();
        assert.match(exported, /indicia_backup_failures_total\{[^}]*\} 0/);
        const warnings = server
          .logLines()
          .filter((line) => line['msg'] === 'the daily backup cannot run as configured');
        assert.equal(warnings.length, fixture.name === 'postgres' ? 1 : 0, fixture.name);
      } finally {
        await server.stop();
      }
    }
  });
});

describe('indicia backup', { timeout: 120_000 }, () => {
  let dataDir: string;
  const env = (): Record<string, string> => ({ INDICIA_DATA_DIR: dataDir, INDICIA_BACKUP_RETENTION: '1' });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'indicia-backup-cli-'));
    const migrated = await runIndicia(['migrate'], env());
    assert.equal(migrated.status, 0, migrated.stderr);
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('says there is nothing yet, takes backups, lists and verifies them, and keeps the newest by retention', async () => {
    const empty = await runIndicia(['backup', 'list'], env());
    assert.equal(empty.status, 0, empty.stderr);
    assert.match(empty.stdout, /No backups in .*backups yet/);
    const ids: string[] = [];
    for (let round = 0; round < 2; round += 1) {
      const taken = await runIndicia(['backup', ...(round === 0 ? ['--kind', 'full'] : [])], env());
      assert.equal(taken.status, 0, taken.stderr);
      const id = /Backup (\S+) \(full/.exec(taken.stdout)?.[1];
      assert.ok(id !== undefined, taken.stdout);
      ids.push(id);
    }
    const listed = await runIndicia(['backup', 'list'], env());
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(
      listed.stdout
        .split('\n')
        .slice(1)
        .filter((line) => line !== '')
        .map((line) => line.split(' ')[0]),
      ids.slice(1),
    );
    const verified = await runIndicia(['backup', 'verify', ids[1] ?? ''], env());
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /verifies/);
  });

  it('refuses bad input with stable codes', async () => {
    const unknown = await runIndicia(['backup', 'verify', '20200101-000000-000F'], env());
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /there is no backup 20200101-000000-000F .*\[backup\.not_found\]/);
    const incremental = await runIndicia(['backup', '--kind', 'incremental'], env());
    assert.equal(incremental.status, 1);
    assert.match(incremental.stderr, /\[backup\.kind_unsupported\]/);
    const badKind = await runIndicia(['backup', '--kind', 'weekly'], env());
    assert.equal(badKind.status, 2);
    assert.match(badKind.stderr, /--kind is full or incremental/);
    const postgres = { ...env(), INDICIA_DATABASE_URL: 'postgres://indicia@127.0.0.1:1/indicia' };
    const notConfigured = await runIndicia(['backup', 'list'], postgres);
    assert.equal(notConfigured.status, 1);
    assert.match(notConfigured.stderr, /INDICIA_PG_DATA_DIR.*\[backup\.not_configured\]/);
    const noTool = await runIndicia(['backup', 'list'], {
      ...postgres,
      INDICIA_PG_DATA_DIR: join(dataDir, 'pg'),
      PATH: join(dataDir, 'no-tools-here'),
    });
    assert.equal(noTool.status, 1, noTool.stderr);
    assert.match(noTool.stderr, /apt-get install pgbackrest.*\[backup\.tool_missing\]/);
  });
});
