import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { StartupError } from './startup-error.ts';

/** The folder itself when it exists, else its nearest existing ancestor. */
function nearestExisting(path: string): { path: string; isDirectory: boolean } {
  let current = path;
  for (;;) {
    try {
      return { path: current, isDirectory: statSync(current).isDirectory() };
    } catch {
      const parent = dirname(current);
      if (parent === current) return { path: current, isDirectory: false };
      current = parent;
    }
  }
}

/**
 * Proves the data directory can be created or written, leaving nothing behind: a probe file is
 * written to the folder (or its nearest existing ancestor) and removed again. Permission bits
 * alone do not tell (root ignores them; read-only mounts do not show in them).
 */
export function assertDataDirWritable(dataDir: string): void {
  const existing = nearestExisting(dataDir);
  if (!existing.isDirectory) {
    throw new StartupError(
      'startup.data_dir_unwritable',
      `data directory ${dataDir} cannot be created: ${existing.path} is not a folder; choose another with --data-dir or INDICIA_DATA_DIR.`,
    );
  }
  const probe = join(existing.path, `.indicia-write-probe-${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
    unlinkSync(probe);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    const where = existing.path === dataDir ? dataDir : `${dataDir} (its parent ${existing.path})`;
    throw new StartupError(
      'startup.data_dir_unwritable',
      `data directory ${where} is not writable (${reason}); fix its permissions or choose another with --data-dir or INDICIA_DATA_DIR.`,
    );
  }
}

/** Fails fast when the port is taken, before anything is written to disk. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'EADDRINUSE'
          ? 'another program is using it; stop it or choose another with --port or INDICIA_PORT'
          : `${error.code ?? error.message}; choose another address with --host/--port`;
      reject(new StartupError('startup.port_in_use', `cannot listen on ${host}:${port}: ${hint}.`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Reads the TLS key pair, or explains which file is the problem. */
export function readTlsFiles(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new StartupError(
        'startup.tls_unreadable',
        `TLS ${what} file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
      );
    }
  };
  return { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
}
