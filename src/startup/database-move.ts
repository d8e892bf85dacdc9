import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from './startup-error.ts';

/** Left in the data directory by `indicia migrate --to`: the SQLite file there is history now. */
export const DATABASE_MOVE_FILE = 'database-moved.json';

export interface DatabaseMove {
  /** The target's URL without its password. */
  readonly to: string;
  readonly at: string;
}

/**
 * Records that this data directory's SQLite database moved to PostgreSQL, so that no server or
 * operator command opens the old file again by mistake (a start without INDICIA_DATABASE_URL).
 *
 * @example recordDatabaseMove('/var/lib/indicia', { to: 'postgres://indicia@db/indicia', at: new Date().toISOString() });
 */
export function recordDatabaseMove(dataDir: string, move: DatabaseMove): string {
  const path = join(dataDir, DATABASE_MOVE_FILE);
  writeFileSync(path, `${JSON.stringify(move, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/**
 * Refuses to open the SQLite file of a data directory whose database moved to PostgreSQL: a
 * server on it would sign from the registers as they were before the move, and the books would
 * fork. With a database URL set, nothing is refused.
 */
export function assertDatabaseNotMoved(dataDir: string, databaseUrl: string | undefined): void {
  if (databaseUrl !== undefined) return;
  const path = join(dataDir, DATABASE_MOVE_FILE);
  if (!existsSync(path)) return;
  let move: Partial<DatabaseMove> = {};
  try {
    move = JSON.parse(readFileSync(path, 'utf8')) as Partial<DatabaseMove>;
  } catch {
    // An unreadable record still means the database moved.
  }
  throw new StartupError(
    'startup.database_moved',
    `this installation's database moved to PostgreSQL${move.to === undefined ? '' : ` (${move.to})`}${move.at === undefined ? '' : ` at ${move.at}`}: ` +
      `set INDICIA_DATABASE_URL (or --database-url) to it. The SQLite file in ${dataDir} is the state before the move; ` +
      `to go back to it, see "Moving from SQLite to PostgreSQL" in docs/operations.md (${path}).`,
  );
}
