import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword, verifyPassword } from '../../../passwords/index.ts';
import { VaultError } from '../../vault-error.ts';
import type { KeyInventory } from '../crypto-backend.ts';
import { syncFolder, writeFileDurably } from './durable-file.ts';

interface StoredKey {
  /** `enrollment` holds the PKCS#8 DER of the ECDH P-256 device-enrollment key. */
  name: 'master' | 'mac-control' | 'mac-checkpoint' | 'enrollment';
  version: number;
  /** base64 of IV ‖ AES-256-GCM(key) ‖ tag under the KEK. */
  wrapped: string;
  createdAt: string;
}

interface KeysetFile {
  format: 1;
  minimumMasterKeyVersion: number;
  officerCredentialHash: string;
  keys: StoredKey[];
}

const KEYSET_FILE = 'keyset.json';
/** Left by zeroization: `{ "zeroizedAt": … }`; removed when an officer creates keys again. */
const ZEROIZED_FILE = 'zeroized.json';

/**
 * The software backend's keys: AES-256 master keys (versioned) and HMAC keys, each wrapped under
 * the operator's key-encryption key (KEK) in `<vaultDir>/keyset.json`. Shared by every software
 * module of an installation, as a cluster of HSMs shares its domain keys.
 */
export class SoftwareKeystore {
  readonly vaultDir: string;
  readonly #kek: Buffer;
  #file: KeysetFile | undefined;
  #loadedModifiedAt = 0;
  #zeroizedAt: string | null = null;
  readonly #unwrapped = new Map<string, Buffer>();

  constructor(vaultDir: string, kek: Buffer) {
    if (kek.length !== 32)
      throw new VaultError('vault.kek_missing', 'The key-encryption key must be 32 bytes (AES-256).');
    this.vaultDir = vaultDir;
    this.#kek = Buffer.from(kek);
    this.reload();
  }

  /** Re-reads keyset.json, e.g. after another process added a master key version. */
  reload(): void {
    const path = join(this.vaultDir, KEYSET_FILE);
    this.#loadedModifiedAt = existsSync(path) ? statSync(path).mtimeMs : 0;
    this.#file = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as KeysetFile) : undefined;
    const marker = join(this.vaultDir, ZEROIZED_FILE);
    this.#zeroizedAt =
      this.#file === undefined && existsSync(marker)
        ? (JSON.parse(readFileSync(marker, 'utf8')) as { zeroizedAt: string }).zeroizedAt
        : null;
    this.#unwrapped.clear();
  }

  inventory(): KeyInventory {
    // Another process (`indicia modules rotate-master-key`) may have added a version.
    const path = join(this.vaultDir, KEYSET_FILE);
    const modifiedAt = existsSync(path) ? statSync(path).mtimeMs : 0;
    if (modifiedAt !== this.#loadedModifiedAt) this.reload();
    const file = this.#file;
    if (file === undefined)
      return {
        masterKeyVersions: [],
        minimumMasterKeyVersion: 1,
        hasMacKeys: false,
        zeroizedAt: this.#zeroizedAt,
      };
    return {
      masterKeyVersions: file.keys
        .filter((key) => key.name === 'master')
        .map((key) => key.version)
        .sort((a, b) => a - b),
      minimumMasterKeyVersion: file.minimumMasterKeyVersion,
      hasMacKeys:
        file.keys.some((key) => key.name === 'mac-checkpoint') &&
        file.keys.some((key) => key.name === 'mac-control'),
      zeroizedAt: null,
    };
  }

  async initialize(officerCredential: string): Promise<void> {
    if (this.#file !== undefined)
      throw new VaultError('vault.wrong_state', 'The software keystore is already initialized.');
    const now = new Date().toISOString();
    this.#file = {
      format: 1,
      minimumMasterKeyVersion: 1,
      officerCredentialHash: await hashPassword(officerCredential),
      keys: (['master', 'mac-control', 'mac-checkpoint'] as const).map((name) => this.#wrapNew(name, 1, now)),
    };
    this.#save();
    rmSync(join(this.vaultDir, ZEROIZED_FILE), { force: true });
    this.#zeroizedAt = null;
  }

  async verifyOfficerCredential(credential: string): Promise<boolean> {
    if (this.#file === undefined) return false;
    return (await verifyPassword(credential, this.#file.officerCredentialHash)).isMatch;
  }

  addMasterKeyVersion(): number {
    const file = this.#requireFile();
    const next = Math.max(0, ...this.inventory().masterKeyVersions) + 1;
    file.keys.push(this.#wrapNew('master', next, new Date().toISOString()));
    this.#save();
    return next;
  }

  setMinimumMasterKeyVersion(version: number): void {
    this.#requireFile().minimumMasterKeyVersion = version;
    this.#save();
  }

  /** A plaintext key, unwrapped on first use and kept in memory only. */
  key(name: StoredKey['name'], version: number): Buffer {
    const id = `${name}|${version}`;
    const cached = this.#unwrapped.get(id);
    if (cached !== undefined) return cached;
    let stored = this.#file?.keys.find((key) => key.name === name && key.version === version);
    if (stored === undefined) {
      this.reload();
      stored = this.#file?.keys.find((key) => key.name === name && key.version === version);
    }
    if (stored === undefined) {
      throw new VaultError('vault.key_version_unknown', `This module has no ${name} key version ${version}.`);
    }
    const wrapped = Buffer.from(stored.wrapped, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#kek, wrapped.subarray(0, 12));
    decipher.setAAD(Buffer.from(`indicia-keyset|${name}|${version}`));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
    let key: Buffer;
    try {
      key = Buffer.concat([decipher.update(wrapped.subarray(12, wrapped.length - 16)), decipher.final()]);
    } catch {
      throw new VaultError(
        'vault.key_file_invalid',
        `${join(this.vaultDir, KEYSET_FILE)} does not open with this key-encryption key; is it the right KEK?`,
      );
    }
    this.#unwrapped.set(id, key);
    return key;
  }

  /** The device-enrollment key (PKCS#8 DER of an ECDH P-256 key), made and stored on first use. */
  enrollmentKey(): Buffer {
    if (this.#requireFile().keys.every((key) => key.name !== 'enrollment')) this.reload();
    const file = this.#requireFile();
    if (file.keys.every((key) => key.name !== 'enrollment')) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      file.keys.push(this.#wrap('enrollment', 1, pkcs8, new Date().toISOString()));
      pkcs8.fill(0);
      this.#save();
    }
    return this.key('enrollment', 1);
  }

  /**
   * Overwrites the in-memory keys, deletes the keyset and leaves the zeroization marker (written
   * first: a crash in between leaves keys and marker, which the next zeroization finishes).
   */
  zeroize(): void {
    const zeroizedAt = new Date().toISOString();
    mkdirSync(this.vaultDir, { recursive: true, mode: 0o700 });
    writeFileDurably(join(this.vaultDir, ZEROIZED_FILE), `${JSON.stringify({ zeroizedAt })}\n`);
    for (const key of this.#unwrapped.values()) key.fill(0);
    this.#unwrapped.clear();
    this.#file = undefined;
    rmSync(join(this.vaultDir, KEYSET_FILE), { force: true });
    syncFolder(this.vaultDir);
    this.#loadedModifiedAt = 0;
    this.#zeroizedAt = zeroizedAt;
  }

  #wrapNew(name: StoredKey['name'], version: number, createdAt: string): StoredKey {
    const key = randomBytes(32);
    const stored = this.#wrap(name, version, key, createdAt);
    key.fill(0);
    return stored;
  }

  #wrap(name: StoredKey['name'], version: number, key: Buffer, createdAt: string): StoredKey {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv);
    cipher.setAAD(Buffer.from(`indicia-keyset|${name}|${version}`));
    const wrapped = Buffer.concat([iv, cipher.update(key), cipher.final(), cipher.getAuthTag()]);
    return { name, version, wrapped: wrapped.toString('base64'), createdAt };
  }

  #requireFile(): KeysetFile {
    if (this.#file === undefined)
      throw new VaultError('vault.wrong_state', 'The software keystore has no keys yet.');
    return this.#file;
  }

  #save(): void {
    mkdirSync(this.vaultDir, { recursive: true, mode: 0o700 });
    const path = join(this.vaultDir, KEYSET_FILE);
    writeFileDurably(path, `${JSON.stringify(this.#file, null, 2)}\n`);
    this.#loadedModifiedAt = statSync(path).mtimeMs;
  }
}
