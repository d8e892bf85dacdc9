import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type DrillDatabase, runDisasterDrill } from '../support/disaster-drill.ts';

/** The disaster drill (test/support/disaster-drill.ts) on the embedded database. */
const DATABASE_FILES = ['indicia.sqlite', 'indicia.sqlite-wal', 'indicia.sqlite-shm'];

function embeddedDatabase(): DrillDatabase {
  const backups = mkdtempSync(join(tmpdir(), 'indicia-backups-'));
  return {
    env: { INDICIA_BACKUP_DIR: backups },
    lose(dataDir) {
      for (const file of DATABASE_FILES) rmSync(join(dataDir, file), { force: true });
      return Promise.resolve({ env: { INDICIA_BACKUP_DIR: backups }, restoreArgs: ['--backup', 'latest'] });
    },
    stop() {
      rmSync(backups, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

describe('disaster drill on SQLite: backup, ship, lose the database, restore + replay', () => {
  const cases = [
    { gapPieces: 0, outcome: 'agrees', modules: 2 },
    { gapPieces: 2, outcome: 'settled', modules: 2 },
    // One module, as many records as its ring keeps: the restored checkpoint is out of the ring,
    // but the oldest record remembered names it as its predecessor.
    { gapPieces: 3, outcome: 'settled', modules: 1 },
    { gapPieces: 8, outcome: 'beyond memory', modules: 2 },
  ] as const;
  for (const { gapPieces, outcome, modules } of cases) {
    it(`brings registers, packages and indicia back to the last shipment, ${gapPieces} piece(s) printed after it, ${modules} module(s): ${outcome}`, async () => {
      const database = embeddedDatabase();
      try {
        await runDisasterDrill(database, gapPieces, outcome, modules);
      } finally {
        await database.stop();
      }
    });
  }
});
