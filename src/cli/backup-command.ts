import { join } from 'node:path';
import {
  type BackupBackend,
  type BackupRecord,
  BackupError,
  backupBackendFor,
  pgBackRestSettingsFor,
  postgresArchiveSettings,
} from '../backup/index.ts';
import type { Config } from '../config/index.ts';
import { kindOfNextBackup } from '../jobs/index.ts';
import { SQLITE_FILE_NAME } from '../installation/index.ts';
import { type CommandIo, UsageError, parseSubcommand } from './commands.ts';

export const BACKUP_USAGE = [
  'indicia backup [--kind full|incremental]   take a backup now, then prune by retention (no --kind:',
  '                                    SQLite full; PostgreSQL full weekly, incremental between)',
  'indicia backup list                 the backups in the backup folder, oldest first',
  'indicia backup verify ID            check one backup end to end (exit 1 when it does not verify)',
  'indicia backup setup                make the backup folder ready; PostgreSQL: write pgbackrest.conf,',
  '                                    print the archive settings, create the stanza',
].join('\n');

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

function describe(backup: BackupRecord): string {
  const basedOn = backup.basedOn === undefined ? '' : `  on ${backup.basedOn}`;
  return `${backup.id.padEnd(34)} ${backup.kind.padEnd(11)} ${backup.takenAt}  ${megabytes(backup.bytes).padStart(10)}${basedOn}`;
}

function backendFor(config: Config): BackupBackend {
  return backupBackendFor(config, join(config.dataDir, SQLITE_FILE_NAME));
}

async function take(backups: BackupBackend, kindText: string | undefined, io: CommandIo): Promise<number> {
  if (kindText !== undefined && kindText !== 'full' && kindText !== 'incremental')
    throw new UsageError(`--kind is full or incremental; got "${kindText}"`);
  const kind = kindText ?? kindOfNextBackup(backups.name, await backups.list(), new Date());
  const started = Date.now();
  const backup = await backups.take(kind);
  io.write(
    `Backup ${backup.id} (${backup.kind}, ${megabytes(backup.bytes)}) taken in ${((Date.now() - started) / 1000).toFixed(1)} s into ${backups.directory}.\n`,
  );
  const pruned = await backups.prune();
  if (pruned.removed.length > 0) io.write(`Removed by retention: ${pruned.removed.join(', ')}.\n`);
  io.write(`${pruned.kept.length} backup(s) kept.\n`);
  return 0;
}

async function run(sub: string | undefined, rest: readonly string[], io: CommandIo): Promise<number> {
  switch (sub) {
    case 'list': {
      const { config } = parseSubcommand(rest, {}, io, { allowPositionals: false });
      const backups = backendFor(config);
      const found = await backups.list();
      if (found.length === 0) {
        io.write(`No backups in ${backups.directory} yet; take one with indicia backup.\n`);
        return 0;
      }
      io.write(`${'id'.padEnd(34)} ${'kind'.padEnd(11)} ${'taken at'.padEnd(24)}  ${'size'.padStart(10)}\n`);
      for (const backup of found) io.write(`${describe(backup)}\n`);
      return 0;
    }
    case 'verify': {
      const { positionals, config } = parseSubcommand(rest, {}, io);
      const [id, ...extra] = positionals;
      if (id === undefined || extra.length > 0)
        throw new UsageError('indicia backup verify takes one backup id (see indicia backup list)');
      const report = await backendFor(config).verify(id);
      io.write(`Checked: ${report.checks.join(', ')}.\n`);
      if (report.isValid) {
        io.write(`Backup ${report.id} verifies.\n`);
        return 0;
      }
      io.write(
        `Backup ${report.id} does NOT verify:\n${report.problems.map((problem) => `  ${problem}\n`).join('')}`,
      );
      return 1;
    }
    case 'setup': {
      const { config } = parseSubcommand(rest, {}, io, { allowPositionals: false });
      const backups = backendFor(config);
      if (backups.name === 'pgbackrest') {
        io.write('Add to postgresql.conf on the database host, then restart PostgreSQL:\n');
        for (const [name, value] of Object.entries(postgresArchiveSettings(pgBackRestSettingsFor(config))))
          io.write(`  ${name} = '${value}'\n`);
      }
      await backups.prepare();
      io.write(`Backups go to ${backups.directory}; it is ready.\n`);
      return 0;
    }
    case undefined:
    default: {
      if (sub !== undefined && !sub.startsWith('--'))
        throw new UsageError(
          `unknown backup command "${sub}"; it is list, verify, setup, or none (see indicia --help)`,
        );
      const args = sub === undefined ? rest : [sub, ...rest];
      const { values, config } = parseSubcommand(args, { kind: { type: 'string' } }, io, {
        allowPositionals: false,
      });
      const kind = values['kind'];
      return take(backendFor(config), typeof kind === 'string' ? kind : undefined, io);
    }
  }
}

/** `indicia backup [--kind K] | list | verify ID | setup`; backup errors carry their stable code. */
export async function backupCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    return await run(sub, rest, io);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    process.stderr.write(`indicia: ${error.message} [${error.code}]\n`);
    return 1;
  }
}
