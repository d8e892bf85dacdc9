import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** `<dataDir>/server-id`: which server of the installation this data directory is. */
export const SERVER_ID_FILE = 'server-id';

const SERVER_ID = /^srv_[0-9a-f]{16}$/;

/** This data directory's server id, or null before its first `indicia serve`. */
export function readServerId(dataDir: string): string | null {
  const path = join(dataDir, SERVER_ID_FILE);
  if (!existsSync(path)) return null;
  const id = readFileSync(path, 'utf8').trim();
  return SERVER_ID.test(id) ? id : null;
}

/**
 * The data directory's server id, made on its first start. The module numbers a server drives
 * are bound to it, because their checkpoint rings live in this directory.
 *
 * @example const serverId = ensureServerId('/var/lib/indicia'); // 'srv_3f9c0a1b2c3d4e5f'
 */
export function ensureServerId(dataDir: string): string {
  const existing = readServerId(dataDir);
  if (existing !== null) return existing;
  const id = `srv_${randomBytes(8).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let file: number;
  try {
    file = openSync(join(dataDir, SERVER_ID_FILE), 'wx', 0o600);
  } catch (error) {
    // Another process made it first: that one is the data directory's id.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readServerId(dataDir) ?? id;
    throw error;
  }
  try {
    writeSync(file, `${id}\n`);
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  return id;
}
