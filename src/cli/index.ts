import { isIndiciaError } from '../errors/index.ts';
import { VERSION } from '../main.ts';
import { type CommandIo, UsageError, migrateCommand, serveCommand, versionCommand } from './commands.ts';
import { helpText } from './help-text.ts';
import { isMoveToPostgres, migrateToCommand } from './migrate-to-command.ts';
import { clientCommand } from './client-command.ts';
import { verifyCommand } from './verify-command.ts';
import { restoreCommand } from './restore-command.ts';
import { batchCommand, printCommand } from './print-command.ts';
import { addressCommand } from './address-command.ts';
import { ratesCommand } from './rates-command.ts';
import { metersCommand, reconcileCommand } from './meters-command.ts';
import { poolCommand } from './pool-command.ts';
import { modulesCommand } from './modules-command.ts';
import { authorityCommand, certificatesCommand } from './authority-command.ts';
import { auditCommand } from './audit-command.ts';
import { backupCommand } from './backup-command.ts';
import { jobsCommand } from './jobs-command.ts';

/**
 * Runs the `indicia` command line and returns the exit status: 0 success, 1 a start or run
 * failure (one line on standard error), 2 a usage mistake.
 *
 * @example process.exitCode = await runCli(['serve', '--port', '9000']);
 */
export async function runCli(
  argv: readonly string[],
  io: CommandIo = { env: process.env, cwd: process.cwd(), write: (text) => process.stdout.write(text) },
): Promise<number> {
  const [command, ...rest] = argv;
  const fail = (message: string, status: number): number => {
    process.stderr.write(`indicia: ${message}\n`);
    return status;
  };
  try {
    switch (command) {
      case 'serve':
        return await serveCommand(rest, io);
      case 'migrate':
        return await (isMoveToPostgres(rest) ? migrateToCommand(rest, io) : migrateCommand(rest, io));
      case 'modules':
        return await modulesCommand(rest, io);
      case 'meters':
        return await metersCommand(rest, io);
      case 'pool':
        return await poolCommand(rest, io);
      case 'authority':
        return await authorityCommand(rest, io);
      case 'certificates':
        return await certificatesCommand(rest, io);
      case 'restore':
        return await restoreCommand(rest, io);
      case 'reconcile':
        return await reconcileCommand(rest, io);
      case 'audit':
        return await auditCommand(rest, io);
      case 'jobs':
        return await jobsCommand(rest, io);
      case 'client':
        return await clientCommand(rest, io);
      case 'print':
        return await printCommand(rest, io);
      case 'verify':
        return await verifyCommand(rest, io);
      case 'batch':
        return await batchCommand(rest, io);
      case 'address':
        return await addressCommand(rest, io);
      case 'rates':
        return ratesCommand(rest, io);
      case 'backup':
        return await backupCommand(rest, io);
      case '--version':
      case '-v':
      case 'version':
        return versionCommand(io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.write(`${helpText(VERSION)}\n`);
        return command === undefined ? 2 : 0;
      default:
        return fail(
          `unknown command "${command}"; the commands are serve, migrate, modules, meters, pool, authority, certificates, reconcile, restore, audit, client, print, batch, address, rates, backup and help (see indicia --help).`,
          2,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) return fail(error.message, 2);
    if (isIndiciaError(error)) return fail(error.message, 1);
    return fail(`unexpected failure: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
}
