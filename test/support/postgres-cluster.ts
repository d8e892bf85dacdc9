import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './free-port.ts';
import { installDebianPackages, isRoot, runCommand } from './system-packages.ts';

export const POSTGRES_MAJOR = 15;
/** Set by the test runner (scripts/tasks.ts) so every test file shares one cluster. */
export const TEST_POSTGRES_URL_ENV = 'TEST_POSTGRES_URL';

export interface PostgresCluster {
  /** Superuser URL of the `postgres` maintenance database. */
  readonly url: string;
  stop(): void;
}

/** The newest Debian PostgreSQL bin folder (initdb, pg_ctl), preferring POSTGRES_MAJOR. */
export function findBinDir(): string | undefined {
  const preferred = `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
  if (existsSync(join(preferred, 'initdb'))) return preferred;
  if (!existsSync('/usr/lib/postgresql')) return undefined;
  const versions = readdirSync('/usr/lib/postgresql').filter((version) =>
    existsSync(join('/usr/lib/postgresql', version, 'bin', 'initdb')),
  );
  const newest = versions.sort((left, right) => Number(right) - Number(left))[0];
  return newest === undefined ? undefined : join('/usr/lib/postgresql', newest, 'bin');
}

/**
 * Starts a private PostgreSQL cluster on a loopback port, in a new temporary folder, installing
 * Debian's PostgreSQL first if it is missing. Durability settings are relaxed because the cluster
 * is thrown away; stop() removes it. Throws a message saying what is missing if it cannot start.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  let binDir = findBinDir();
  if (binDir === undefined) {
    installDebianPackages(
      [`postgresql-${POSTGRES_MAJOR}`],
      `PostgreSQL ${POSTGRES_MAJOR} is needed for the storage tests`,
    );
    binDir = findBinDir();
    if (binDir === undefined)
      throw new Error(`PostgreSQL was installed but no initdb was found under /usr/lib/postgresql.`);
  }
  // initdb and postgres refuse to run as root; Debian's package creates the postgres user.
  const asUser = isRoot() ? 'postgres' : undefined;
  const folder = mkdtempSync(join(tmpdir(), 'indicia-pg-'));
  const dataDir = join(folder, 'data');
  if (asUser !== undefined) {
    const ids = runCommand('id', ['-u', asUser]);
    const groups = runCommand('id', ['-g', asUser]);
    if (ids.status !== 0)
      throw new Error(
        `the "${asUser}" user is missing; reinstall the Debian package postgresql-${POSTGRES_MAJOR}.`,
      );
    chownSync(folder, Number(ids.output.trim()), Number(groups.output.trim()));
  }
  const initdb = runCommand(
    join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'indicia', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { asUser, cwd: folder },
  );
  if (initdb.status !== 0) throw new Error(`initdb failed:\n${initdb.output}`);

  const port = await findFreePort();
  const serverOptions = [
    `-c listen_addresses=127.0.0.1`,
    `-p ${port}`,
    `-k ${folder}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  const logFile = join(folder, 'postgres.log');
  const start = runCommand(
    join(binDir, 'pg_ctl'),
    ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start'],
    {
      asUser,
      cwd: folder,
    },
  );
  if (start.status !== 0) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    rmSync(folder, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start:\n${start.output}\n${log}`);
  }
  let isStopped = false;
  const stop = (): void => {
    if (isStopped) return;
    isStopped = true;
    runCommand(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { asUser, cwd: folder });
    rmSync(folder, { recursive: true, force: true });
  };
  process.once('exit', stop);
  return { url: `postgres://indicia@127.0.0.1:${port}/postgres`, stop };
}
