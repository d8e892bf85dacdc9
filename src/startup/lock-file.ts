import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { StartupError } from './startup-error.ts';

/** An exclusive lock file naming its owner's pid; a lock whose process is gone is taken over. */
export function acquireLockFile(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8'));
      let isAlive = false;
      try {
        process.kill(owner, 0);
        isAlive = Number.isInteger(owner) && owner > 0;
      } catch {
        isAlive = false;
      }
      if (isAlive) {
        throw new StartupError(
          'startup.locked',
          `another operator command (pid ${owner}) is running; wait for it to finish.`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new StartupError('startup.locked', `cannot take the lock ${path}.`);
}
