// The WAL checkpointer's thread: its own connection to the database file, copying committed WAL
// frames back into the database every few milliseconds (PASSIVE: never blocks a writer or reader).
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const database = new DatabaseSync(file, { timeout: 5000 });
const timer = setInterval(() => {
  try {
    database.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch (error) {
    // Busy or failing now: the next round tries again, and the writer's backstop still applies.
    parentPort?.postMessage({ failed: error instanceof Error ? error.message : String(error) });
  }
}, intervalMs);
parentPort?.on('message', () => {
  clearInterval(timer);
  database.close();
  parentPort?.close();
});
