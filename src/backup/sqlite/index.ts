import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type {
  BackupBackend,
  BackupKind,
  BackupRecord,
  PruneReport,
  RestoreReport,
  VerifyReport,
} from '../backup-backend.ts';
import { BackupError } from '../backup-error.ts';
import { type VacuumResult, inspect } from './sqlite-inspection.ts';

/** The manifest beside each backup file, `<id>.json`; a backup without one is not complete. */
export interface SqliteManifest {
  readonly format: 'indicia-sqlite-backup/1';
  readonly id: string;
  readonly kind: 'full';
  readonly takenAt: string;
  readonly finishedAt: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly migrations: { readonly count: number; readonly latest: string | null };
  readonly source: string;
}

export interface SqliteBackupSettings {
  /** The live database file. */
  readonly databaseFile: string;
  readonly directory: string;
  /** Full backups kept by prune(). */
  readonly retention: number;
}

const ID_PATTERN = /^\d{8}-\d{6}-\d{3}F$/;
const STALE_PARTIAL_MS = 60 * 60_000;

function idFor(time: Date): string {
  const iso = time.toISOString(); // 2026-12-04T02:00:00.123Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${iso.slice(20, 23)}F`;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs VACUUM INTO on a worker thread: the snapshot's moment and the migrations it holds. */
function vacuumInto(source: string, target: string): Promise<VacuumResult> {
  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(new URL('./vacuum-worker.ts', import.meta.url), {
      workerData: { source, target },
    });
    worker.once('message', (message: Partial<VacuumResult> & { error?: string }) => {
      if (message.takenAt !== undefined && message.migrations !== undefined)
        resolvePromise({ takenAt: message.takenAt, migrations: message.migrations });
      else
        reject(
          new BackupError(
            'backup.failed',
            `VACUUM INTO from ${source} failed: ${message.error ?? 'no reason'}`,
          ),
        );
    });
    worker.once('error', (error: Error) =>
      reject(
        new BackupError('backup.failed', `the backup worker failed: ${error.message}`, { cause: error }),
      ),
    );
    worker.once('exit', (code) => {
      if (code !== 0) reject(new BackupError('backup.failed', `the backup worker exited with ${code}`));
    });
  });
}

function toRecord(manifest: SqliteManifest): BackupRecord {
  const { id, kind, takenAt, finishedAt, bytes, source, sha256, migrations } = manifest;
  return { id, kind, takenAt, finishedAt, bytes, source, sha256, migrations };
}

/**
 * SQLite backups: `VACUUM INTO` on the live database through node:sqlite (on a worker thread),
 * never a file copy of it. Each backup is `<id>.sqlite` plus its manifest `<id>.json` (SHA-256,
 * size, migration level), written last: a backup without a manifest was never finished.
 *
 * @example
 * const backups = createSqliteBackups({ databaseFile: 'data/indicia.sqlite', directory: '/mnt/backups', retention: 7 });
 * const backup = await backups.take('full');
 * await backups.restore(backup.id, '/var/lib/indicia/indicia.sqlite');
 */
export function createSqliteBackups(settings: SqliteBackupSettings): BackupBackend {
  const directory = resolve(settings.directory);
  const source = resolve(settings.databaseFile);
  const fileOf = (id: string): string => join(directory, `${id}.sqlite`);
  const manifestOf = (id: string): string => join(directory, `${id}.json`);

  const readManifest = async (id: string): Promise<SqliteManifest> => {
    if (!ID_PATTERN.test(id) || !existsSync(manifestOf(id)))
      throw new BackupError(
        'backup.not_found',
        `there is no backup ${id} in ${directory}; indicia backup list shows the backups there.`,
        { details: { id } },
      );
    return JSON.parse(await readFile(manifestOf(id), 'utf8')) as SqliteManifest;
  };

  const list = async (): Promise<BackupRecord[]> => {
    if (!existsSync(directory)) return [];
    const ids = (await readdir(directory))
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .filter((id) => ID_PATTERN.test(id));
    const manifests = await Promise.all(ids.map(readManifest));
    return manifests
      .map(toRecord)
      .sort((a, b) => a.takenAt.localeCompare(b.takenAt) || a.id.localeCompare(b.id));
  };

  const verify = async (id: string): Promise<VerifyReport> => {
    if ((await list()).length === 0)
      throw new BackupError(
        'backup.none',
        `there are no backups in ${directory} yet; take one with indicia backup.`,
      );
    const manifest = await readManifest(id);
    const file = fileOf(id);
    const checks: string[] = [];
    const problems: string[] = [];
    if (!existsSync(file)) problems.push(`the backup file ${file} is missing`);
    else {
      const { size } = await stat(file);
      checks.push(`size ${size} bytes`);
      if (size !== manifest.bytes)
        problems.push(`the file has ${size} bytes, its manifest says ${manifest.bytes}`);
      const sha256 = await sha256Of(file);
      checks.push('sha256 against the manifest');
      if (sha256 !== manifest.sha256)
        problems.push(`sha256 ${sha256} differs from the manifest's ${manifest.sha256}`);
      try {
        const { integrity, migrations } = inspect(file);
        checks.push('PRAGMA integrity_check', 'migration level');
        if (integrity.join() !== 'ok') problems.push(`integrity_check: ${integrity.slice(0, 5).join('; ')}`);
        if (
          migrations.count !== manifest.migrations.count ||
          migrations.latest !== manifest.migrations.latest
        )
          problems.push(
            `the file holds ${migrations.count} migrations (${migrations.latest}), its manifest says ${manifest.migrations.count}`,
          );
      } catch (error) {
        problems.push(`SQLite cannot read the file: ${(error as Error).message}`);
      }
    }
    return { id, isValid: problems.length === 0, checks, problems };
  };

  return {
    name: 'sqlite',
    directory,
    async prepare() {
      await mkdir(directory, { recursive: true, mode: 0o700 });
    },
    async take(kind: BackupKind) {
      if (kind !== 'full')
        throw new BackupError(
          'backup.kind_unsupported',
          'SQLite backups are always full (VACUUM INTO copies the whole database); take --kind full.',
          { details: { kind } },
        );
      if (!existsSync(source))
        throw new BackupError('backup.failed', `there is no database at ${source} to back up.`);
      await this.prepare();
      const partial = join(directory, `taking-${randomUUID()}.sqlite.partial`);
      try {
        const { takenAt, migrations } = await vacuumInto(source, partial);
        // Named after the moment of its snapshot; two in one millisecond get the next free name.
        let named = new Date(takenAt);
        while (existsSync(manifestOf(idFor(named))) || existsSync(fileOf(idFor(named))))
          named = new Date(named.getTime() + 1);
        const id = idFor(named);
        const { size } = await stat(partial);
        const manifest: SqliteManifest = {
          format: 'indicia-sqlite-backup/1',
          id,
          kind: 'full',
          takenAt,
          finishedAt: new Date().toISOString(),
          bytes: size,
          sha256: await sha256Of(partial),
          migrations,
          source,
        };
        await rename(partial, fileOf(id));
        await writeFile(`${manifestOf(id)}.partial`, `${JSON.stringify(manifest, null, 2)}\n`, {
          mode: 0o600,
        });
        await rename(`${manifestOf(id)}.partial`, manifestOf(id));
        return toRecord(manifest);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
    },
    list,
    async prune(): Promise<PruneReport> {
      const backups = await list();
      const removed = backups.slice(0, Math.max(0, backups.length - settings.retention));
      for (const { id } of removed) {
        // The manifest first: a backup half removed is then no longer listed.
        await rm(manifestOf(id), { force: true });
        await rm(fileOf(id), { force: true });
      }
      for (const name of existsSync(directory) ? await readdir(directory) : []) {
        const path = join(directory, name);
        if (name.endsWith('.partial') && Date.now() - (await stat(path)).mtimeMs > STALE_PARTIAL_MS)
          await rm(path, { force: true });
      }
      return {
        removed: removed.map(({ id }) => id),
        kept: backups.slice(removed.length).map(({ id }) => id),
      };
    },
    verify,
    async restore(id, destination): Promise<RestoreReport> {
      const backups = await list();
      if (backups.length === 0)
        throw new BackupError('backup.none', `there are no backups in ${directory} to restore.`);
      const chosen = id === 'latest' ? (backups.at(-1) as BackupRecord) : toRecord(await readManifest(id));
      const target = resolve(destination);
      const leftovers = ['', '-wal', '-shm', '-journal'].filter((suffix) => existsSync(`${target}${suffix}`));
      if (leftovers.length > 0)
        throw new BackupError(
          'backup.destination_exists',
          `${target}${leftovers[0]} exists; a restore never overwrites a database. Move it away or restore elsewhere.`,
          { details: { destination: target } },
        );
      const report = await verify(chosen.id);
      if (!report.isValid)
        throw new BackupError(
          'backup.corrupt',
          `backup ${chosen.id} does not verify: ${report.problems.join('; ')}.`,
          {
            details: { id: chosen.id },
          },
        );
      await mkdir(dirname(target), { recursive: true });
      const partial = `${target}.restoring`;
      await copyFile(fileOf(chosen.id), partial);
      const { integrity, migrations } = inspect(partial);
      if (integrity.join() !== 'ok' || (await sha256Of(partial)) !== chosen.sha256) {
        await rm(partial, { force: true });
        throw new BackupError(
          'backup.corrupt',
          `the copy of backup ${chosen.id} at ${partial} does not verify.`,
        );
      }
      await rename(partial, target);
      return { backupId: chosen.id, kind: 'full', takenAt: chosen.takenAt, destination: target, migrations };
    },
  };
}
