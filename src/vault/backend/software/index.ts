import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VaultError } from '../../vault-error.ts';
import type {
  CryptoBackend,
  GeneratedSigningKey,
  KeyInventory,
  MacKeyName,
  SigningAlgorithm,
  SigningKeyHandle,
} from '../crypto-backend.ts';
import { p256Point, p256Spki } from '../p256-point.ts';
import { syncFolder, writeFileDurably } from './durable-file.ts';
import { RingSlots } from './ring-slots.ts';
import type { SoftwareKeystore } from './software-keystore.ts';

export { SoftwareKeystore } from './software-keystore.ts';

function gcmEncrypt(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function gcmDecrypt(key: Buffer, iv: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

const wrapAad = (algorithm: SigningAlgorithm, version: number): Buffer =>
  Buffer.from(`indicia-signing-key|${algorithm}|${version}`);

interface ModuleIdentity {
  readonly serial: string;
  readonly createdAt: string;
  /** Set by zeroization: the serial is retired once keys exist again. */
  readonly zeroizedAt?: string;
}

const IDENTITY_FILE = 'identity.json';
const RING_FILES = ['ring-slot-a.bin', 'ring-slot-b.bin', 'ring.bin'];

function newIdentity(identityPath: string): ModuleIdentity {
  const identity = {
    serial: `SW-${randomBytes(5).toString('hex').toUpperCase()}`,
    createdAt: new Date().toISOString(),
  };
  writeFileDurably(identityPath, `${JSON.stringify(identity)}\n`);
  return identity;
}

/**
 * A software crypto module: its keys come from a {@link SoftwareKeystore} (wrapped under the
 * operator's KEK), its checkpoint ring is two slot files it alone writes (ring-slots.ts) in
 * `<vaultDir>/modules/<n>/`, beside `identity.json` (its serial).
 * The keys are in this process's memory while it runs; use the PKCS#11 backend where that is not
 * acceptable.
 */
export class SoftwareBackend implements CryptoBackend {
  readonly kind = 'software' as const;
  readonly #keystore: SoftwareKeystore;
  readonly #ring: RingSlots;
  readonly #identityPath: string;
  #identity: ModuleIdentity;

  constructor(keystore: SoftwareKeystore, moduleNumber: number) {
    this.#keystore = keystore;
    const folder = join(keystore.vaultDir, 'modules', String(moduleNumber));
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    this.#identityPath = join(folder, IDENTITY_FILE);
    this.#identity = existsSync(this.#identityPath)
      ? (JSON.parse(readFileSync(this.#identityPath, 'utf8')) as ModuleIdentity)
      : newIdentity(this.#identityPath);
    // Zeroized, and keys were created again since (through another module): a new chain, a new serial.
    if (this.#identity.zeroizedAt !== undefined && keystore.inventory().masterKeyVersions.length > 0)
      this.#identity = newIdentity(this.#identityPath);
    this.#ring = new RingSlots(folder, join(folder, 'ring.bin'));
  }

  get serial(): string {
    return this.#identity.serial;
  }

  verifyOfficerCredential(credential: string): Promise<boolean> {
    return this.#keystore.verifyOfficerCredential(credential);
  }

  digestSha256(data: Buffer): Promise<Buffer> {
    return Promise.resolve(createHash('sha256').update(data).digest());
  }

  encryptAesGcmWithTestKey(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    return Promise.resolve(gcmEncrypt(key, iv, plaintext, aad));
  }

  hmacSha256WithTestKey(key: Buffer, data: Buffer): Promise<Buffer> {
    return Promise.resolve(createHmac('sha256', key).update(data).digest());
  }

  inventory(): Promise<KeyInventory> {
    return Promise.resolve(this.#keystore.inventory());
  }

  async initializeKeys(officerCredential: string): Promise<void> {
    await this.#keystore.initialize(officerCredential);
    if (this.#identity.zeroizedAt !== undefined) this.#identity = newIdentity(this.#identityPath);
  }

  addMasterKeyVersion(): Promise<number> {
    return Promise.resolve(this.#keystore.addMasterKeyVersion());
  }

  setMinimumMasterKeyVersion(version: number): Promise<void> {
    this.#keystore.setMinimumMasterKeyVersion(version);
    return Promise.resolve();
  }

  /** The keystore is every software module's: each module folder's ring goes, each serial is retired. */
  zeroize(): Promise<void> {
    this.#keystore.zeroize();
    this.#ring.remove();
    const modulesDir = join(this.#keystore.vaultDir, 'modules');
    const zeroizedAt = new Date().toISOString();
    for (const name of readdirSync(modulesDir)) {
      const folder = join(modulesDir, name);
      for (const file of RING_FILES) rmSync(join(folder, file), { force: true });
      const identityPath = join(folder, IDENTITY_FILE);
      if (!existsSync(identityPath)) continue;
      const identity = JSON.parse(readFileSync(identityPath, 'utf8')) as ModuleIdentity;
      if (identity.zeroizedAt === undefined)
        writeFileDurably(identityPath, `${JSON.stringify({ ...identity, zeroizedAt })}\n`);
      syncFolder(folder);
    }
    this.#identity = { ...this.#identity, zeroizedAt: this.#identity.zeroizedAt ?? zeroizedAt };
    return Promise.resolve();
  }

  encrypt(version: number, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    return Promise.resolve(gcmEncrypt(this.#keystore.key('master', version), iv, plaintext, aad));
  }

  decrypt(version: number, iv: Buffer, sealed: Buffer, aad: Buffer): Promise<Buffer> {
    return Promise.resolve(gcmDecrypt(this.#keystore.key('master', version), iv, sealed, aad));
  }

  mac(key: MacKeyName, data: Buffer): Promise<Buffer> {
    return Promise.resolve(
      createHmac('sha256', this.#keystore.key(`mac-${key}`, 1))
        .update(data)
        .digest(),
    );
  }

  async verifyMac(key: MacKeyName, data: Buffer, mac: Buffer): Promise<boolean> {
    const expected = await this.mac(key, data);
    return expected.length === mac.length && timingSafeEqual(expected, mac);
  }

  generateSigningKey(algorithm: SigningAlgorithm, version: number): Promise<GeneratedSigningKey> {
    const pair =
      algorithm === 'ecdsa-p256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
    const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const iv = randomBytes(12);
    const wrapped = Buffer.concat([
      iv,
      gcmEncrypt(this.#keystore.key('master', version), iv, pkcs8, wrapAad(algorithm, version)),
    ]);
    pkcs8.fill(0);
    return Promise.resolve({
      publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }),
      wrappedPrivateKey: wrapped,
    });
  }

  signWithEphemeralKey(
    algorithm: SigningAlgorithm,
    data: Buffer,
  ): Promise<{ publicKey: Buffer; signature: Buffer }> {
    const pair =
      algorithm === 'ecdsa-p256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
    const signature =
      algorithm === 'ecdsa-p256'
        ? sign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign(null, data, pair.privateKey);
    return Promise.resolve({ publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }), signature });
  }

  openSigningKey(
    algorithm: SigningAlgorithm,
    version: number,
    wrappedPrivateKey: Buffer,
  ): Promise<SigningKeyHandle> {
    const pkcs8 = this.#unwrap(algorithm, version, wrappedPrivateKey);
    let key: KeyObject | null;
    try {
      key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    } finally {
      pkcs8.fill(0);
    }
    return Promise.resolve({
      // On libuv's thread pool (crypto.sign with a callback): the event loop goes on meanwhile,
      // and a group's signatures are made in parallel.
      sign: (data) =>
        new Promise<Buffer>((resolve, reject) => {
          if (key === null) {
            reject(new VaultError('vault.wrong_state', 'This signing key was closed.'));
            return;
          }
          const done = (error: Error | null, signature: Buffer): void => {
            if (error === null) resolve(signature);
            else reject(error);
          };
          if (algorithm === 'ecdsa-p256') sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, done);
          else sign(null, data, key, done);
        }),
      // A KeyObject cannot be wiped; dropping the reference leaves it to the garbage collector.
      close: () => {
        key = null;
        return Promise.resolve();
      },
    });
  }

  rewrapSigningKey(
    algorithm: SigningAlgorithm,
    fromVersion: number,
    toVersion: number,
    wrapped: Buffer,
  ): Promise<Buffer> {
    const pkcs8 = this.#unwrap(algorithm, fromVersion, wrapped);
    try {
      const iv = randomBytes(12);
      return Promise.resolve(
        Buffer.concat([
          iv,
          gcmEncrypt(this.#keystore.key('master', toVersion), iv, pkcs8, wrapAad(algorithm, toVersion)),
        ]),
      );
    } finally {
      pkcs8.fill(0);
    }
  }

  randomBytes(length: number): Promise<Buffer> {
    return Promise.resolve(randomBytes(length));
  }

  enrollmentPublicKey(): Promise<Buffer> {
    return Promise.resolve(createPublicKey(this.#enrollmentKey()).export({ format: 'der', type: 'spki' }));
  }

  enrollmentAgreement(peerPublicKey: Buffer): Promise<Buffer> {
    const publicKey = createPublicKey({
      key: p256Spki(p256Point(peerPublicKey)),
      format: 'der',
      type: 'spki',
    });
    return Promise.resolve(diffieHellman({ privateKey: this.#enrollmentKey(), publicKey }));
  }

  #enrollmentKey(): KeyObject {
    return createPrivateKey({ key: this.#keystore.enrollmentKey(), format: 'der', type: 'pkcs8' });
  }

  readRing(): Promise<Buffer | undefined> {
    return Promise.resolve(this.#ring.read());
  }

  writeRing(bytes: Buffer): Promise<void> {
    this.#ring.write(bytes);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#ring.close();
    return Promise.resolve();
  }

  #unwrap(algorithm: SigningAlgorithm, version: number, wrapped: Buffer): Buffer {
    try {
      return gcmDecrypt(
        this.#keystore.key('master', version),
        wrapped.subarray(0, 12),
        wrapped.subarray(12),
        wrapAad(algorithm, version),
      );
    } catch (error) {
      if (error instanceof VaultError) throw error;
      throw new VaultError(
        'vault.package_invalid',
        'The wrapped signing key is not authentic or is damaged.',
      );
    }
  }
}
