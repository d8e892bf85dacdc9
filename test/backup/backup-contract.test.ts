import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BackupRecord, BackupError } from '../../src/backup/index.ts';
import { knownMigrationNames } from '../../src/store/index.ts';
import {
  type BackupFixture,
  type LiveDatabase,
  pgBackRestBackupFixture,
  sqliteBackupFixture,
} from '../support/backup-fixtures.ts';

const RETENTION = 2;

/** Commits probe rows 1, 2, 3, … one transaction each until stopped; `committed` counts them. */
function startWriter(live: LiveDatabase): { readonly committed: number; stop(): Promise<void> } {
  let committed = 0;
  const state = { isStopping: false };
  const loop = (async () => {
    while (!state.isStopping) {
      await live.insert(committed + 1);
      committed += 1;
      // node:sqlite commits without leaving the microtask queue: let timers and the backup run.
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return {
    get committed() {
      return committed;
    },
    async stop() {
      state.isStopping = true;
      await loop;
    },
  };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertPrefix(rows: readonly number[], what: string): void {
  rows.forEach((n, index) =>
    assert.equal(n, index + 1, `${what}: row ${index + 1} is ${n}, the rows have a gap`),
  );
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BackupError, `a BackupError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

// One contract for every backend: a backup taken while writes go on, listed, verified, restored
// and read back, pruned by retention; mistakes refused with stable codes; damage detected.
for (const fixture of [sqliteBackupFixture, pgBackRestBackupFixture] satisfies BackupFixture[]) {
  describe(`backups: ${fixture.name}`, { timeout: 180_000 }, () => {
    let live: LiveDatabase;
    let first: BackupRecord;
    let committedBefore = 0;
    let committedAfter = 0;

    before(async () => {
      live = await fixture.start(RETENTION);
    });
    after(async () => {
      await live.stop();
    });

    it('takes a full backup while writes go on, lists it and verifies it', async () => {
      const writer = startWriter(live);
      try {
        await waitFor(() => writer.committed >= 50, 'the first writes');
        committedBefore = writer.committed;
        first = await live.backups.take('full');
        committedAfter = writer.committed;
      } finally {
        await writer.stop();
      }
      assert.ok(committedAfter > committedBefore, 'writes went on while the backup was taken');
      assert.equal(first.kind, 'full');
      assert.ok(first.bytes > 1_000_000, `the backup copies the database (${first.bytes} bytes)`);
      assert.ok(Date.parse(first.finishedAt) >= Date.parse(first.takenAt));
      if (fixture.name === 'sqlite') {
        assert.match(first.sha256 ?? '', /^[0-9a-f]{64}$/);
        assert.deepEqual(first.migrations, {
          count: knownMigrationNames().length,
          latest: knownMigrationNames().sort().at(-1),
        });
      }
      assert.deepEqual(
        (await live.backups.list()).map((backup) => backup.id),
        [first.id],
      );
      const report = await live.backups.verify(first.id);
      assert.ok(report.isValid, report.problems.join('; '));
      assert.ok(report.checks.length > 0);
    });

    it('restores it into a new database that holds the commits up to the backup, at the same migration level', async () => {
      const report = await live.backups.restore(first.id, live.newDestination(), { archiveMode: 'off' });
      assert.equal(report.backupId, first.id);
      assert.equal(report.takenAt, first.takenAt);
      const restored = await live.readRestored(report);
      assertPrefix(restored.rows, 'restored');
      assert.ok(
        restored.rows.length >= committedBefore,
        `every row committed before the backup began is there (${restored.rows.length} of ${committedBefore})`,
      );
      if (fixture.name === 'sqlite')
        // VACUUM INTO copies one snapshot: nothing committed after the backup returned.
        assert.ok(restored.rows.length <= committedAfter, `${restored.rows.length} ≤ ${committedAfter}`);
      assert.deepEqual(restored.migrations, knownMigrationNames().sort());
    });

    it('refuses an unknown id, an empty backup folder and a destination that holds something', async () => {
      await rejectsWith(live.backups.verify('20200101-000000-000F'), 'backup.not_found');
      await rejectsWith(live.backups.verify('../../etc/passwd'), 'backup.not_found');
      await rejectsWith(live.backups.restore('20200101-000000F', live.newDestination()), 'backup.not_found');
      const empty = live.emptyBackups();
      assert.deepEqual(await empty.list(), []);
      await rejectsWith(empty.verify(first.id), 'backup.none');
      await rejectsWith(empty.restore('latest', live.newDestination()), 'backup.none');
      const occupied = live.newDestination();
      const file = fixture.name === 'sqlite' ? occupied : join(occupied, 'PG_VERSION');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, 'something');
      await rejectsWith(live.backups.restore('latest', occupied), 'backup.destination_exists');
      if (fixture.name === 'sqlite')
        await rejectsWith(live.backups.take('incremental'), 'backup.kind_unsupported');
    });

    it(`keeps the newest ${RETENTION} full backups when pruned`, async () => {
      const second = await live.backups.take('full');
      const third = await live.backups.take('full');
      const pruned = await live.backups.prune();
      const fulls = (await live.backups.list()).filter((backup) => backup.kind === 'full');
      assert.deepEqual(
        fulls.map((backup) => backup.id),
        [second.id, third.id],
      );
      assert.deepEqual(pruned.kept.slice(-2), [second.id, third.id]);
      assert.ok(!pruned.kept.includes(first.id));
    });

    it('finds a damaged backup and does not restore it', async () => {
      const [oldest] = await live.backups.list();
      assert.ok(oldest !== undefined);
      live.corrupt(oldest.id);
      const report = await live.backups.verify(oldest.id);
      assert.equal(report.isValid, false);
      assert.ok(report.problems.length > 0);
      await rejectsWith(live.backups.restore(oldest.id, live.newDestination()), 'backup.corrupt');
    });
  });
}
