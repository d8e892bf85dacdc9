// Runs on a worker thread: VACUUM INTO reads the live database for as long as it copies, and
// node:sqlite is synchronous, so on the event loop it would stop every request meanwhile.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { readMigrations } from './sqlite-inspection.ts';

const { source, target } = workerData as { source: string; target: string };

try {
  const database = new DatabaseSync(source, { timeout: 10_000 });
  let takenAt: string;
  try {
    takenAt = new Date().toISOString();
    // One read transaction: the copy holds exactly the commits before it began, while the
    // server's connection goes on writing to the WAL beside it.
    database.prepare('VACUUM INTO ?').run(target);
  } finally {
    database.close();
  }
  // The copy is a plain file from here on: no -wal or -shm beside it, so it can be opened read-only.
  const copy = new DatabaseSync(target);
  try {
    copy.exec('PRAGMA journal_mode = DELETE');
    parentPort?.postMessage({ takenAt, migrations: readMigrations(copy) });
  } finally {
    copy.close();
  }
} catch (error) {
  parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) });
}
