import { spawn } from 'node:child_process';
import { BackupError } from '../backup-error.ts';

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs pgBackRest (as `runAs` through runuser when this process is root); never blocks the event loop. */
export function runPgBackRest(args: readonly string[], runAs: string | undefined): Promise<CommandResult> {
  const asOther = runAs !== undefined && process.getuid?.() === 0;
  const [file, argv] = asOther
    ? ['runuser', ['-u', runAs, '--', 'pgbackrest', ...args]]
    : ['pgbackrest', [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? missingTool()
          : new BackupError('backup.failed', `cannot run ${file}: ${error.message}`, { cause: error }),
      ),
    );
    child.once('close', (status) => {
      // runuser's own "failed to execute": the tool is not on PATH.
      if (status === 127) reject(missingTool());
      else resolve({ status: status ?? 1, stdout, stderr });
    });
  });
}

function missingTool(): BackupError {
  return new BackupError(
    'backup.tool_missing',
    'pgBackRest is not installed (or not on PATH): install it (Debian: apt-get install pgbackrest) on the database host, then retry.',
  );
}

/** Runs a pgBackRest command that must succeed; its own words go into the error otherwise. */
export async function pgBackRest(args: readonly string[], runAs: string | undefined): Promise<string> {
  const result = await runPgBackRest(args, runAs);
  if (result.status !== 0) {
    const words = `${result.stderr}${result.stdout}`.trim().split('\n').slice(0, 6).join(' / ');
    const command = args.find((arg) => !arg.startsWith('--')) ?? 'pgbackrest';
    throw new BackupError('backup.failed', `pgbackrest ${command} failed (exit ${result.status}): ${words}`, {
      details: { command, status: result.status },
    });
  }
  return result.stdout;
}
