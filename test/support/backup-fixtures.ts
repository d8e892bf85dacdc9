import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import pg from 'pg';
import {
  type BackupBackend,
  type PgBackRestSettings,
  type RestoreReport,
  createPgBackRestBackups,
  createSqliteBackups,
  postgresArchiveSettings,
} from '../../src/backup/index.ts';
import { type Store, migrateToLatest, openStore } from '../../src/store/index.ts';
import {
  type ArchivingCluster,
  POSTGRES_OS_USER,
  postgresOwnedFolder,
  startArchivingCluster,
  startRestoredCluster,
} from './archiving-postgres.ts';

/** What a restored database holds: the probe rows' numbers (ascending) and the migrations applied. */
export interface RestoredContents {
  readonly rows: number[];
  readonly migrations: string[];
}

/** A live, migrated database with a probe table, backed up by one backend. */
export interface LiveDatabase {
  readonly backups: BackupBackend;
  readonly store: Store;
  /** Commits probe row `n`. */
  insert(n: number): Promise<void>;
  /** A path a restore may write to (new file / new data directory). */
  newDestination(): string;
  /** Opens (PostgreSQL: starts) what a restore wrote and reads it back. */
  readRestored(report: RestoreReport): Promise<RestoredContents>;
  /** Damages a backup's stored bytes. */
  corrupt(id: string): void;
  /** The same backend over an empty backup folder. */
  emptyBackups(): BackupBackend;
  stop(): Promise<void>;
}

export interface BackupFixture {
  readonly name: 'sqlite' | 'pgbackrest';
  start(retention: number): Promise<LiveDatabase>;
}

const PROBE_TABLE = sql`create table backup_probe (n integer primary key, pad text not null)`;
// Rows of some size, so a backup takes long enough for writes to interleave with it.
const PAD = 'x'.repeat(400);

async function prepareStore(store: Store): Promise<void> {
  await migrateToLatest(store.db, store.location);
  await PROBE_TABLE.execute(store.db);
}

const insertInto =
  (store: Store) =>
  async (n: number): Promise<void> => {
    await sql`insert into backup_probe (n, pad) values (${n}, ${PAD})`.execute(store.db);
  };

export const sqliteBackupFixture: BackupFixture = {
  name: 'sqlite',
  async start(retention) {
    const folder = mkdtempSync(join(tmpdir(), 'indicia-backup-sqlite-'));
    const databaseFile = join(folder, 'indicia.sqlite');
    const store = await openStore({ dialect: 'sqlite', file: databaseFile });
    await prepareStore(store);
    // A database of a few megabytes before the first backup.
    await sql`insert into backup_probe (n, pad) select value + 1000000, ${PAD} from json_each(${JSON.stringify(
      Array.from({ length: 8_000 }, (_, index) => index),
    )})`.execute(store.db);
    let restores = 0;
    return {
      backups: createSqliteBackups({ databaseFile, directory: join(folder, 'backups'), retention }),
      store,
      insert: insertInto(store),
      newDestination: () => join(folder, `restored-${(restores += 1)}`, 'indicia.sqlite'),
      readRestored(report) {
        const database = new DatabaseSync(report.destination, { readOnly: true });
        try {
          const integrity = database.prepare('PRAGMA integrity_check').get();
          if (Object.values(integrity ?? {})[0] !== 'ok')
            throw new Error(`integrity_check: ${JSON.stringify(integrity)}`);
          return Promise.resolve({
            rows: database
              .prepare('select n from backup_probe where n < 1000000 order by n')
              .all()
              .map((row) => Number(row['n'])),
            migrations: database
              .prepare('select name from kysely_migration order by name')
              .all()
              .map((row) => String(row['name'])),
          });
        } finally {
          database.close();
        }
      },
      corrupt(id) {
        const file = join(folder, 'backups', `${id}.sqlite`);
        const bytes = readFileSync(file);
        const middle = Math.floor(bytes.length / 2);
        bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
        writeFileSync(file, bytes);
      },
      emptyBackups: () =>
        createSqliteBackups({ databaseFile, directory: join(folder, 'no-backups-yet'), retention }),
      async stop() {
        await store.close();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  },
};

/** Reads a restored PostgreSQL data directory by starting it on another port. */
async function readRestoredCluster(dataDir: string, folder: string): Promise<RestoredContents> {
  const restored = await startRestoredCluster(dataDir, folder);
  try {
    const url = restored.url.replace(/\/postgres$/, '/indicia');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const rows = await client.query<{ n: number }>(
        'select n from backup_probe where n < 1000000 order by n',
      );
      const migrations = await client.query<{ name: string }>(
        'select name from kysely_migration order by name',
      );
      return {
        rows: rows.rows.map((row) => row.n),
        migrations: migrations.rows.map((row) => row.name),
      };
    } finally {
      await client.end();
    }
  } finally {
    restored.stop();
  }
}

/** The PostgreSQL fixture's extras: its cluster, for WAL switches and archiver state. */
export interface ArchivingDatabase extends LiveDatabase {
  readonly cluster: ArchivingCluster;
  readonly settings: PgBackRestSettings;
}

export async function startArchivingDatabase(retention: number): Promise<ArchivingDatabase> {
  const repository = postgresOwnedFolder('indicia-backup-repo-');
  let settings: PgBackRestSettings | undefined;
  const cluster = await startArchivingCluster(({ dataDir, port, socketDir }) => {
    settings = {
      directory: repository,
      retention,
      stanza: 'indicia',
      pgDataDir: dataDir,
      pgPort: port,
      pgSocketDir: socketDir,
      runAs: POSTGRES_OS_USER,
      archiveTimeoutSeconds: 300,
    };
    return postgresArchiveSettings(settings);
  });
  if (settings === undefined) throw new Error('the archiving cluster started without settings');
  const own = settings;
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('create database indicia');
  await admin.end();
  const store = await openStore({ dialect: 'postgres', url: cluster.url.replace(/\/postgres$/, '/indicia') });
  await prepareStore(store);
  await sql`insert into backup_probe (n, pad) select n + 1000000, ${PAD} from generate_series(0, 7999) as n`.execute(
    store.db,
  );
  let restores = 0;
  const leftovers: string[] = [];
  return {
    cluster,
    settings: own,
    backups: createPgBackRestBackups(own),
    store,
    insert: insertInto(store),
    newDestination: () => join(cluster.folder, `restored-${(restores += 1)}`),
    readRestored: (report) => readRestoredCluster(report.destination, cluster.folder),
    corrupt(id) {
      // A backup's copy of a table file grows: pgbackrest verify finds its size and checksum wrong.
      const base = join(repository, 'backup', 'indicia', id, 'pg_data', 'base');
      const database = readdirSync(base).sort().at(-1) ?? '';
      const file = readdirSync(join(base, database))
        .map((name) => join(base, database, name))
        .filter((path) => statSync(path).isFile())
        .sort((left, right) => statSync(right).size - statSync(left).size)[0];
      if (file === undefined) throw new Error(`no table files in backup ${id}`);
      appendFileSync(file, 'damage');
    },
    emptyBackups: () => {
      const empty = postgresOwnedFolder('indicia-backup-empty-');
      leftovers.push(empty);
      return createPgBackRestBackups({ ...own, directory: empty });
    },
    async stop() {
      await store.close();
      cluster.stop();
      for (const folder of [repository, ...leftovers]) rmSync(folder, { recursive: true, force: true });
    },
  };
}

export const pgBackRestBackupFixture: BackupFixture = { name: 'pgbackrest', start: startArchivingDatabase };

/** Switches to a new WAL segment and waits until the archiver has pushed the finished one. */
export async function switchAndArchiveWal(cluster: ArchivingCluster, timeoutMs = 30_000): Promise<string> {
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ segment: string }>(
      'select pg_walfile_name(pg_switch_wal()) as segment',
    );
    const segment = rows[0]?.segment ?? '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const archiver = await client.query<{ last: string | null; failed: string | null }>(
        'select last_archived_wal as last, last_failed_wal as failed from pg_stat_archiver',
      );
      const last = archiver.rows[0]?.last ?? '';
      if (last >= segment) return segment;
      if (Date.now() > deadline)
        throw new Error(
          `WAL segment ${segment} was not archived in time (last ${last}, failed ${archiver.rows[0]?.failed})`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await client.end();
  }
}
