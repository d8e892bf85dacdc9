import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VaultError } from './vault-error.ts';

export const KEY_ENCRYPTION_KEY_BYTES = 32;

export interface KeyEncryptionKeyFile {
  readonly version: number;
  readonly path: string;
  /** First 16 hex digits of SHA-256 of the key: identifies it without revealing it. */
  readonly fingerprint: string;
  /** True when this call created the file. */
  readonly isNew: boolean;
}

function fingerprintOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * The software crypto module's key-encryption key (AES-256), version 1, in `<dataDir>/keys/`.
 * Created with fresh random bytes on first start (folder 0700, file 0600); afterwards read and
 * checked. The operator backs this file up apart from the database: without it, sealed data is
 * unreadable; with it and the database, anyone can unseal.
 */
export function ensureKeyEncryptionKey(dataDir: string): KeyEncryptionKeyFile {
  const path = defaultKekPath(dataDir);
  const folder = dirname(path);
  if (existsSync(path)) {
    return { version: 1, path, fingerprint: fingerprintOf(readKeyEncryptionKey(path)), isNew: false };
  }
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  chmodSync(folder, 0o700);
  const key = randomBytes(KEY_ENCRYPTION_KEY_BYTES);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { version: 1, path, fingerprint: fingerprintOf(key), isNew: true };
}

/** Where the server keeps the KEK it creates on first start. */
export function defaultKekPath(dataDir: string): string {
  return join(dataDir, 'keys', 'kek-v1.key');
}

/** Reads a key-encryption key file (base64 of 32 bytes), or explains what is wrong with it. */
export function readKeyEncryptionKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new VaultError(
      'vault.kek_missing',
      code === 'ENOENT'
        ? `there is no key-encryption key at ${path}; start the server once (\`indicia serve\`) to create one, or set INDICIA_KEK / INDICIA_KEK_FILE`
        : `the key-encryption key file ${path} cannot be read (${code})`,
    );
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_ENCRYPTION_KEY_BYTES) {
    throw new VaultError(
      'vault.key_file_invalid',
      `${path} does not hold a ${KEY_ENCRYPTION_KEY_BYTES}-byte base64 key; restore it from your key backup.`,
    );
  }
  return key;
}
