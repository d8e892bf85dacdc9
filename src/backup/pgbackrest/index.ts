import { spawnSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type {
  BackupBackend,
  BackupKind,
  BackupRecord,
  PruneReport,
  RestoreOptions,
  RestoreReport,
  VerifyReport,
} from '../backup-backend.ts';
import { BackupError } from '../backup-error.ts';
import { pgBackRest } from './pgbackrest-command.ts';
import {
  type PgBackRestSettings,
  WRITTEN_BY_INDICIA,
  configFileOf,
  renderPgBackRestConfig,
} from './pgbackrest-config.ts';

export {
  type PgBackRestSettings,
  postgresArchiveSettings,
  renderPgBackRestConfig,
} from './pgbackrest-config.ts';

/** The parts of `pgbackrest info --output=json` read here. */
interface StanzaInfo {
  readonly status: { readonly code: number; readonly message: string };
  readonly archive: readonly { readonly id: string; readonly max: string | null }[];
  readonly backup: readonly {
    readonly label: string;
    readonly type: 'full' | 'diff' | 'incr';
    readonly prior: string | null;
    readonly reference: readonly string[] | null;
    readonly timestamp: { readonly start: number; readonly stop: number };
    readonly info: { readonly size: number };
    readonly archive: { readonly start: string; readonly stop: string };
    readonly error?: boolean;
  }[];
}

// "missing stanza path", "no valid backups", "missing stanza data": nothing to list yet.
const EMPTY_STANZA_CODES = new Set([1, 2, 3]);

function ownerIds(user: string): { uid: number; gid: number } {
  const id = (flag: string): number =>
    Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** `2026-12-04 02:00:00.123+00`, which both pgBackRest and recovery_target_time read. */
function recoveryTime(text: string): { text: string; millis: number } {
  const millis = /([zZ]|[+-]\d\d(:?\d\d)?)$/.test(text.trim()) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(millis))
    throw new BackupError(
      'backup.invalid_target',
      `"${text}" is not a time with a zone; give one like 2026-12-04T02:00:00Z.`,
      { details: { target: text } },
    );
  return { text: `${new Date(millis).toISOString().replace('T', ' ').replace('Z', '')}+00`, millis };
}

/**
 * PostgreSQL backups with pgBackRest: full and incremental backups of the cluster on this host
 * into the backup folder (repo1-path), the WAL archive beside them (archive_command, see
 * `postgresArchiveSettings`), retention by repo1-retention-full, and restores into a new data
 * directory, to the end of the archive or to a point in time. pgBackRest runs as the cluster's
 * owner (`runAs`, normally postgres) on the database host.
 *
 * @example
 * const backups = createPgBackRestBackups({ directory: '/mnt/backups', retention: 7, stanza: 'indicia',
 *   pgDataDir: '/var/lib/postgresql/15/main', pgPort: 5432, pgSocketDir: '/var/run/postgresql',
 *   runAs: 'postgres', archiveTimeoutSeconds: 300 });
 * await backups.take('incremental');
 */
export function createPgBackRestBackups(settings: PgBackRestSettings): BackupBackend {
  const directory = resolve(settings.directory);
  const configFile = configFileOf(settings);
  const { stanza, runAs } = settings;
  const run = (command: string, ...options: string[]): Promise<string> =>
    pgBackRest([`--config=${configFile}`, `--stanza=${stanza}`, ...options, command], runAs);
  let isStanzaReady = false;

  const chownToRunAs = (path: string): void => {
    if (runAs === undefined || process.getuid?.() !== 0) return;
    const { uid, gid } = ownerIds(runAs);
    chownSync(path, uid, gid);
  };

  const isOwnConfig = async (): Promise<boolean> =>
    !existsSync(configFile) || (await readFile(configFile, 'utf8')).startsWith(WRITTEN_BY_INDICIA);

  const writeConfig = async (): Promise<void> => {
    // pgBackRest makes its repository folders but not its log folder (it only warns).
    for (const folder of [directory, join(directory, 'log')])
      if (!existsSync(folder)) {
        await mkdir(folder, { recursive: true, mode: 0o750 });
        chownToRunAs(folder);
      }
    if (!(await isOwnConfig())) return;
    await mkdir(dirname(configFile), { recursive: true });
    await writeFile(configFile, renderPgBackRestConfig(settings), { mode: 0o644 });
  };

  const info = async (): Promise<StanzaInfo> => {
    await writeConfig();
    const [stanzaInfo] = JSON.parse(await run('info', '--output=json')) as StanzaInfo[];
    if (stanzaInfo === undefined)
      throw new BackupError('backup.failed', `pgbackrest info knows no stanza ${stanza}.`);
    return stanzaInfo;
  };

  const list = async (): Promise<BackupRecord[]> => {
    const stanzaInfo = await info();
    if (
      stanzaInfo.status.code !== 0 &&
      !EMPTY_STANZA_CODES.has(stanzaInfo.status.code) &&
      stanzaInfo.backup.length === 0
    )
      throw new BackupError('backup.failed', `pgbackrest info: ${stanzaInfo.status.message}`);
    return stanzaInfo.backup
      .filter((backup) => backup.error !== true)
      .map((backup) => ({
        id: backup.label,
        kind: backup.type === 'full' ? ('full' as const) : ('incremental' as const),
        takenAt: new Date(backup.timestamp.start * 1000).toISOString(),
        finishedAt: new Date(backup.timestamp.stop * 1000).toISOString(),
        bytes: backup.info.size,
        source: `${stanza}@${resolve(settings.pgDataDir)}`,
        ...(backup.prior === null ? {} : { basedOn: backup.prior }),
        wal: { start: backup.archive.start, stop: backup.archive.stop },
      }));
  };

  const find = async (id: string): Promise<{ chosen: BackupRecord; backups: BackupRecord[] }> => {
    const backups = await list();
    if (backups.length === 0)
      throw new BackupError('backup.none', `there are no backups of stanza ${stanza} in ${directory} yet.`);
    const chosen = id === 'latest' ? backups.at(-1) : backups.find((backup) => backup.id === id);
    if (chosen === undefined)
      throw new BackupError(
        'backup.not_found',
        `there is no backup ${id} of stanza ${stanza}; indicia backup list shows the backups there.`,
        { details: { id } },
      );
    return { chosen, backups };
  };

  /** The newest archived WAL segment and when its file was written (a repository on this host only). */
  const lastArchivedWal = async (): Promise<RestoreReport['lastArchivedWal']> => {
    const archive = (await info()).archive.at(-1);
    if (archive?.max === null || archive === undefined) return null;
    const folder = join(directory, 'archive', stanza, archive.id, archive.max.slice(0, 16));
    if (!existsSync(folder)) return null;
    const file = (await readdir(folder)).find((name) => name.startsWith(archive.max ?? ''));
    if (file === undefined) return null;
    return { segment: archive.max, archivedAt: (await stat(join(folder, file))).mtime.toISOString() };
  };

  const verify = async (id: string): Promise<VerifyReport> => {
    const { chosen } = await find(id);
    const output = await run('verify', '--output=text', '--verbose');
    const statusOf = new Map<string, string>();
    const problems: string[] = [];
    const lines = output.split('\n').map((line) => line.trim());
    for (const [index, line] of lines.entries()) {
      const backup = /^backup: (\S+), status: ([^,]+)/.exec(line);
      if (backup?.[1] !== undefined && backup[2] !== undefined) statusOf.set(backup[1], backup[2]);
      const archive = /^archiveId: (\S+),/.exec(line);
      const counts = lines[index + 1] ?? '';
      if (archive !== null && /: [1-9]/.test(counts)) problems.push(`WAL archive ${archive[1]}: ${counts}`);
    }
    // An incremental backup is only as good as the backups it references.
    const needed = [chosen.id, ...(chosen.basedOn === undefined ? [] : chosen.id.split('_').slice(0, 1))];
    for (const label of new Set(needed)) {
      const status = statusOf.get(label);
      if (status !== 'valid')
        problems.push(`backup ${label}: ${status ?? 'not checked by pgbackrest verify'}`);
    }
    return {
      id: chosen.id,
      isValid: problems.length === 0,
      checks: [
        'pgbackrest verify: file checksums and sizes of the backup and the backups it builds on',
        'WAL archive checksums',
      ],
      problems,
    };
  };

  return {
    name: 'pgbackrest',
    directory,
    async prepare() {
      if (isStanzaReady) return;
      await writeConfig();
      await run('stanza-create');
      isStanzaReady = true;
    },
    async take(kind: BackupKind) {
      await this.prepare();
      await run('backup', `--type=${kind === 'full' ? 'full' : 'incr'}`);
      const newest = (await list()).at(-1);
      if (newest === undefined)
        throw new BackupError('backup.failed', 'pgbackrest backup ran but lists no backup.');
      return newest;
    },
    list,
    async prune(): Promise<PruneReport> {
      const before = await list();
      if (before.length > 0) await run('expire');
      const after = new Set((await list()).map((backup) => backup.id));
      return {
        removed: before.filter((backup) => !after.has(backup.id)).map((backup) => backup.id),
        kept: [...after],
      };
    },
    verify,
    async restore(id: string, destination: string, options: RestoreOptions = {}): Promise<RestoreReport> {
      const target = options.target ?? 'end-of-archive';
      const time = target === 'end-of-archive' ? undefined : recoveryTime(target.time);
      const found = await find(id);
      const { backups } = found;
      let { chosen } = found;
      if (id === 'latest' && time !== undefined) {
        // The newest backup finished before the target: recovery cannot go back behind a backup's end.
        const newest = backups.filter((backup) => Date.parse(backup.finishedAt) <= time.millis).at(-1);
        if (newest === undefined)
          throw new BackupError(
            'backup.invalid_target',
            `no backup finished before ${time.text}; the oldest finished at ${backups[0]?.finishedAt}.`,
          );
        chosen = newest;
      }
      const dataDir = resolve(destination);
      if (existsSync(dataDir) && (await readdir(dataDir)).length > 0)
        throw new BackupError(
          'backup.destination_exists',
          `${dataDir} is not empty; a restore goes into a new, empty data directory. Move it away or restore elsewhere.`,
          { details: { destination: dataDir } },
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
      if (!existsSync(dataDir)) {
        await mkdir(dataDir, { recursive: true, mode: 0o700 });
        chownToRunAs(dataDir);
      }
      await run(
        'restore',
        `--pg1-path=${dataDir}`,
        `--set=${chosen.id}`,
        `--archive-mode=${options.archiveMode ?? 'preserve'}`,
        ...(time === undefined
          ? ['--type=default']
          : ['--type=time', `--target=${time.text}`, '--target-action=promote']),
      );
      return {
        backupId: chosen.id,
        kind: chosen.kind,
        takenAt: chosen.takenAt,
        destination: dataDir,
        recoveryTarget: time === undefined ? { type: 'end-of-archive' } : { type: 'time', time: time.text },
        lastArchivedWal: await lastArchivedWal(),
      };
    },
  };
}
