import { DatabaseSync } from 'node:sqlite';

/** The schema migrations a database holds: their count and the newest name. */
export interface MigrationLevel {
  readonly count: number;
  readonly latest: string | null;
}

/** What the VACUUM INTO worker reports. */
export interface VacuumResult {
  readonly takenAt: string;
  readonly migrations: MigrationLevel;
}

// Written by Kysely's migrator; read directly because backup sits beside store, not above it.
const MIGRATION_TABLE = 'kysely_migration';

export function readMigrations(database: DatabaseSync): MigrationLevel {
  const hasTable =
    database.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(MIGRATION_TABLE) !==
    undefined;
  const names = hasTable
    ? database
        .prepare(`select name from ${MIGRATION_TABLE} order by name`)
        .all()
        .map((row) => String(row['name']))
    : [];
  return { count: names.length, latest: names.at(-1) ?? null };
}

/**
 * Opens read-only: the integrity check and the migration level, without changing a byte.
 * Synchronous (node:sqlite): on a large file it holds the thread for as long as the check runs.
 */
export function inspect(file: string): { integrity: string[]; migrations: MigrationLevel } {
  const database = new DatabaseSync(file, { readOnly: true });
  try {
    const integrity = database
      .prepare('PRAGMA integrity_check')
      .all()
      .map((row) => String(Object.values(row)[0]));
    return { integrity, migrations: readMigrations(database) };
  } finally {
    database.close();
  }
}
