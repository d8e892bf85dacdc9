import pkcs11js from 'pkcs11js';
import { hashPassword, verifyPassword } from '../../../passwords/index.ts';
import { VaultError } from '../../vault-error.ts';
import type {
  CryptoBackend,
  GeneratedSigningKey,
  KeyInventory,
  MacKeyName,
  SigningAlgorithm,
  SigningKeyHandle,
} from '../crypto-backend.ts';
import {
  type Handle,
  type Pkcs11,
  type AttributePair,
  acquireLibrary,
  attributeBuffer,
  findObjects,
  findTokenSlot,
  releaseLibrary,
  secretKeyAttributes,
  templateOf,
} from './pkcs11-library.ts';
import {
  CKK_EC_EDWARDS,
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  ED25519_PARAMETERS,
  P256_PARAMETERS,
  signWith,
  spkiFromEcPoint,
} from './signing-mechanisms.ts';
import {
  readDataObject,
  readKeysetMetadata,
  readZeroizationMarker,
  removeZeroizationMarker,
  writeDataObject,
  writeKeysetMetadata,
  writeZeroizationMarker,
} from './token-data-objects.ts';

import { enrollmentAgreement, enrollmentPublicKey } from './enrollment-key.ts';

export { initializeToken } from './pkcs11-library.ts';

export interface Pkcs11Settings {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so */
  readonly library: string;
  readonly tokenLabel: string;
  /** The token's user PIN: the crypto-user credential. */
  readonly userPin: string;
}

const MASTER_LABEL = (version: number): string => `indicia-master-v${version}`;
const MAC_LABEL = (name: MacKeyName): string => `indicia-mac-${name}`;

const {
  CKA_CLASS,
  CKA_DECRYPT,
  CKA_EC_PARAMS,
  CKA_EC_POINT,
  CKA_ENCRYPT,
  CKA_EXTRACTABLE,
  CKA_KEY_TYPE,
  CKA_LABEL,
  CKA_PRIVATE,
  CKA_SENSITIVE,
  CKA_SIGN,
  CKA_TOKEN,
  CKA_UNWRAP,
  CKA_VALUE,
  CKA_VALUE_LEN,
  CKA_VERIFY,
  CKA_WRAP,
} = pkcs11js;

/**
 * A crypto module on a PKCS#11 token (a real HSM; SoftHSM2 in tests). Master and MAC keys are
 * token objects that never leave it; meter signing keys are wrapped by the token (AES key wrap
 * with padding) and unwrapped into short-lived session objects to sign. The checkpoint ring is a
 * token data object per module. Several modules may share one token, each with its own session.
 */
export class Pkcs11Backend implements CryptoBackend {
  readonly kind = 'pkcs11' as const;
  readonly #settings: Pkcs11Settings;
  readonly #pkcs11: Pkcs11;
  readonly #session: Handle;
  /** `HSM-<token serial>-<module number>`, then `-e<epoch>` once the keys were zeroized and made again. */
  readonly #serialStem: string;
  #epoch: number;
  #isClosed = false;

  private constructor(settings: Pkcs11Settings, pkcs11: Pkcs11, session: Handle, serialStem: string) {
    this.#settings = settings;
    this.#pkcs11 = pkcs11;
    this.#session = session;
    this.#serialStem = serialStem;
    this.#epoch =
      readKeysetMetadata(pkcs11, session)?.epoch ?? readZeroizationMarker(pkcs11, session)?.epoch ?? 0;
  }

  get serial(): string {
    return this.#epoch === 0 ? this.#serialStem : `${this.#serialStem}-e${this.#epoch}`;
  }

  /** Opens a session on the token and logs in with the user PIN (once per process and token). */
  static open(settings: Pkcs11Settings, moduleNumber: number): Promise<Pkcs11Backend> {
    const loaded = acquireLibrary(settings.library);
    try {
      const { pkcs11 } = loaded;
      const { slot, serial } = findTokenSlot(pkcs11, settings.tokenLabel);
      const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      if (!loaded.loggedInTokens.has(serial)) {
        try {
          pkcs11.C_Login(session, pkcs11js.CKU_USER, settings.userPin);
        } catch (error) {
          if (!(error instanceof Error && error.message.includes('CKR_USER_ALREADY_LOGGED_IN'))) {
            pkcs11.C_CloseSession(session);
            throw new VaultError(
              'vault.authentication_failed',
              `The PKCS#11 user PIN for token "${settings.tokenLabel}" was refused.`,
            );
          }
        }
        loaded.loggedInTokens.add(serial);
      }
      return Promise.resolve(new Pkcs11Backend(settings, pkcs11, session, `HSM-${serial}-${moduleNumber}`));
    } catch (error) {
      releaseLibrary(settings.library);
      throw error;
    }
  }

  async verifyOfficerCredential(credential: string): Promise<boolean> {
    const metadata = readKeysetMetadata(this.#pkcs11, this.#session);
    return (
      metadata !== undefined && (await verifyPassword(credential, metadata.officerCredentialHash)).isMatch
    );
  }

  digestSha256(data: Buffer): Promise<Buffer> {
    this.#pkcs11.C_DigestInit(this.#session, { mechanism: pkcs11js.CKM_SHA256 });
    return Promise.resolve(Buffer.from(this.#pkcs11.C_Digest(this.#session, data, Buffer.alloc(32))));
  }

  encryptAesGcmWithTestKey(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    return this.#withSessionObject(
      [...secretKeyAttributes(pkcs11js.CKK_AES, false), [CKA_VALUE, key], [CKA_ENCRYPT, true]],
      (handle) => this.#gcm('encrypt', handle, iv, plaintext, aad),
    );
  }

  hmacSha256WithTestKey(key: Buffer, data: Buffer): Promise<Buffer> {
    return this.#withSessionObject(
      [...secretKeyAttributes(pkcs11js.CKK_GENERIC_SECRET, false), [CKA_VALUE, key], [CKA_SIGN, true]],
      (handle) => {
        this.#pkcs11.C_SignInit(this.#session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, handle);
        return Buffer.from(this.#pkcs11.C_Sign(this.#session, data, Buffer.alloc(32)));
      },
    );
  }

  inventory(): Promise<KeyInventory> {
    const masterKeyVersions = findObjects(this.#pkcs11, this.#session, [
      { type: CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    ])
      .map((handle) =>
        /^indicia-master-v(\d+)$/.exec(
          attributeBuffer(this.#pkcs11, this.#session, handle, CKA_LABEL).toString(),
        ),
      )
      .filter((match) => match !== null)
      .map((match) => Number(match[1]))
      .sort((left, right) => left - right);
    const metadata = readKeysetMetadata(this.#pkcs11, this.#session);
    return Promise.resolve({
      masterKeyVersions,
      minimumMasterKeyVersion: metadata?.minimumMasterKeyVersion ?? 1,
      hasMacKeys:
        this.#findKey(MAC_LABEL('checkpoint')) !== undefined &&
        this.#findKey(MAC_LABEL('control')) !== undefined,
      zeroizedAt:
        metadata === undefined
          ? (readZeroizationMarker(this.#pkcs11, this.#session)?.zeroizedAt ?? null)
          : null,
    });
  }

  async initializeKeys(officerCredential: string): Promise<void> {
    if (readKeysetMetadata(this.#pkcs11, this.#session) !== undefined)
      throw new VaultError('vault.wrong_state', 'The token already holds Indicia keys.');
    this.#generateMasterKey(1);
    for (const name of ['control', 'checkpoint'] as const) {
      this.#pkcs11.C_GenerateKey(
        this.#session,
        { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN },
        templateOf([
          ...secretKeyAttributes(pkcs11js.CKK_GENERIC_SECRET, true),
          [CKA_VALUE_LEN, 32],
          [CKA_SIGN, true],
          [CKA_VERIFY, true],
          [CKA_LABEL, MAC_LABEL(name)],
        ]),
      );
    }
    const marker = readZeroizationMarker(this.#pkcs11, this.#session);
    const epoch = marker === undefined ? this.#epoch : marker.epoch + 1;
    writeKeysetMetadata(this.#pkcs11, this.#session, {
      minimumMasterKeyVersion: 1,
      officerCredentialHash: await hashPassword(officerCredential),
      ...(epoch === 0 ? {} : { epoch }),
    });
    removeZeroizationMarker(this.#pkcs11, this.#session);
    this.#epoch = epoch;
  }

  async addMasterKeyVersion(): Promise<number> {
    const next = Math.max(0, ...(await this.inventory()).masterKeyVersions) + 1;
    this.#generateMasterKey(next);
    return next;
  }

  setMinimumMasterKeyVersion(version: number): Promise<void> {
    const metadata = readKeysetMetadata(this.#pkcs11, this.#session);
    if (metadata === undefined) throw new VaultError('vault.wrong_state', 'The token holds no Indicia keys.');
    writeKeysetMetadata(this.#pkcs11, this.#session, { ...metadata, minimumMasterKeyVersion: version });
    return Promise.resolve();
  }

  /** Every Indicia object on the token goes (keys, metadata, every module's ring); the marker stays. */
  zeroize(): Promise<void> {
    const epoch = readKeysetMetadata(this.#pkcs11, this.#session)?.epoch ?? this.#epoch;
    writeZeroizationMarker(this.#pkcs11, this.#session, { zeroizedAt: new Date().toISOString(), epoch });
    for (const handle of findObjects(this.#pkcs11, this.#session, [])) {
      const label = attributeBuffer(this.#pkcs11, this.#session, handle, CKA_LABEL).toString();
      if (label.startsWith('indicia-') && label !== 'indicia-zeroized')
        this.#pkcs11.C_DestroyObject(this.#session, handle);
    }
    return Promise.resolve();
  }

  encrypt(version: number, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    return Promise.resolve(this.#gcm('encrypt', this.#masterKey(version), iv, plaintext, aad));
  }

  decrypt(version: number, iv: Buffer, sealed: Buffer, aad: Buffer): Promise<Buffer> {
    return Promise.resolve(this.#gcm('decrypt', this.#masterKey(version), iv, sealed, aad));
  }

  mac(key: MacKeyName, data: Buffer): Promise<Buffer> {
    this.#pkcs11.C_SignInit(this.#session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, this.#macKey(key));
    return Promise.resolve(Buffer.from(this.#pkcs11.C_Sign(this.#session, data, Buffer.alloc(32))));
  }

  verifyMac(key: MacKeyName, data: Buffer, mac: Buffer): Promise<boolean> {
    // The token compares; a wrong MAC comes back as CKR_SIGNATURE_INVALID (or _LEN_RANGE).
    this.#pkcs11.C_VerifyInit(this.#session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, this.#macKey(key));
    try {
      return Promise.resolve(this.#pkcs11.C_Verify(this.#session, data, mac));
    } catch {
      return Promise.resolve(false);
    }
  }

  generateSigningKey(algorithm: SigningAlgorithm, version: number): Promise<GeneratedSigningKey> {
    return this.#withKeyPair(algorithm, true, (pair) => {
      let wrappedPrivateKey: Buffer;
      try {
        wrappedPrivateKey = Buffer.from(
          this.#pkcs11.C_WrapKey(
            this.#session,
            { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
            this.#masterKey(version),
            pair.privateKey,
            Buffer.alloc(1024),
          ),
        );
      } catch (error) {
        if (error instanceof Error && error.message.includes('CKR_KEY_NOT_WRAPPABLE')) {
          throw new VaultError(
            'vault.algorithm_unsupported',
            `This PKCS#11 token cannot wrap ${algorithm} private keys (SoftHSM2 2.6 cannot wrap Ed25519); use ecdsa-p256 here.`,
          );
        }
        throw error;
      }
      return { publicKey: this.#publicKeyOf(algorithm, pair.publicKey), wrappedPrivateKey };
    });
  }

  signWithEphemeralKey(
    algorithm: SigningAlgorithm,
    data: Buffer,
  ): Promise<{ publicKey: Buffer; signature: Buffer }> {
    return this.#withKeyPair(algorithm, false, (pair) => ({
      publicKey: this.#publicKeyOf(algorithm, pair.publicKey),
      signature: signWith(this.#pkcs11, this.#session, algorithm, pair.privateKey, data),
    }));
  }

  openSigningKey(
    algorithm: SigningAlgorithm,
    version: number,
    wrappedPrivateKey: Buffer,
  ): Promise<SigningKeyHandle> {
    // A session object: it lives in the token until closed, and never beyond this session.
    let key: Handle | null = this.#unwrap(algorithm, version, wrappedPrivateKey, false);
    return Promise.resolve({
      sign: (data) => {
        if (key === null) throw new VaultError('vault.wrong_state', 'This signing key was closed.');
        return Promise.resolve(signWith(this.#pkcs11, this.#session, algorithm, key, data));
      },
      close: () => {
        if (key !== null) this.#pkcs11.C_DestroyObject(this.#session, key);
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
    const key = this.#unwrap(algorithm, fromVersion, wrapped, true);
    try {
      return Promise.resolve(
        Buffer.from(
          this.#pkcs11.C_WrapKey(
            this.#session,
            { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
            this.#masterKey(toVersion),
            key,
            Buffer.alloc(1024),
          ),
        ),
      );
    } finally {
      this.#pkcs11.C_DestroyObject(this.#session, key);
    }
  }

  randomBytes(length: number): Promise<Buffer> {
    return Promise.resolve(Buffer.from(this.#pkcs11.C_GenerateRandom(this.#session, Buffer.alloc(length))));
  }

  enrollmentPublicKey(): Promise<Buffer> {
    return Promise.resolve(enrollmentPublicKey(this.#pkcs11, this.#session));
  }

  enrollmentAgreement(peerPublicKey: Buffer): Promise<Buffer> {
    return Promise.resolve(enrollmentAgreement(this.#pkcs11, this.#session, peerPublicKey));
  }

  readRing(): Promise<Buffer | undefined> {
    return Promise.resolve(readDataObject(this.#pkcs11, this.#session, this.#ringLabel()));
  }

  writeRing(bytes: Buffer): Promise<void> {
    writeDataObject(this.#pkcs11, this.#session, this.#ringLabel(), bytes);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    this.#pkcs11.C_CloseSession(this.#session);
    releaseLibrary(this.#settings.library);
    return Promise.resolve();
  }

  #ringLabel(): string {
    return `indicia-ring-${this.serial}`;
  }

  #withSessionObject<T>(pairs: readonly AttributePair[], use: (handle: Handle) => T): Promise<T> {
    const handle = this.#pkcs11.C_CreateObject(this.#session, templateOf(pairs));
    try {
      return Promise.resolve(use(handle));
    } finally {
      this.#pkcs11.C_DestroyObject(this.#session, handle);
    }
  }

  #generateMasterKey(version: number): void {
    this.#pkcs11.C_GenerateKey(
      this.#session,
      { mechanism: pkcs11js.CKM_AES_KEY_GEN },
      templateOf([
        ...secretKeyAttributes(pkcs11js.CKK_AES, true),
        [CKA_VALUE_LEN, 32],
        [CKA_ENCRYPT, true],
        [CKA_DECRYPT, true],
        [CKA_WRAP, true],
        [CKA_UNWRAP, true],
        [CKA_LABEL, MASTER_LABEL(version)],
      ]),
    );
  }

  #findKey(label: string): Handle | undefined {
    return findObjects(this.#pkcs11, this.#session, [
      { type: CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: CKA_LABEL, value: label },
    ])[0];
  }

  #masterKey(version: number): Handle {
    const handle = this.#findKey(MASTER_LABEL(version));
    if (handle === undefined) {
      throw new VaultError(
        'vault.key_version_unknown',
        `Token "${this.#settings.tokenLabel}" has no master key version ${version}.`,
      );
    }
    return handle;
  }

  #macKey(name: MacKeyName): Handle {
    const handle = this.#findKey(MAC_LABEL(name));
    if (handle === undefined)
      throw new VaultError(
        'vault.wrong_state',
        `Token "${this.#settings.tokenLabel}" has no ${name} MAC key.`,
      );
    return handle;
  }

  #gcm(direction: 'encrypt' | 'decrypt', key: Handle, iv: Buffer, input: Buffer, aad: Buffer): Buffer {
    const mechanism = {
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: iv.length * 8, tagBits: 128 },
    };
    if (direction === 'encrypt') {
      this.#pkcs11.C_EncryptInit(this.#session, mechanism, key);
      return Buffer.from(this.#pkcs11.C_Encrypt(this.#session, input, Buffer.alloc(input.length + 16)));
    }
    this.#pkcs11.C_DecryptInit(this.#session, mechanism, key);
    try {
      return Buffer.from(this.#pkcs11.C_Decrypt(this.#session, input, Buffer.alloc(input.length)));
    } catch {
      throw new VaultError('vault.package_invalid', 'Authenticated decryption failed.');
    }
  }

  /** A session key pair that exists only while `use` runs. */
  #withKeyPair<T>(
    algorithm: SigningAlgorithm,
    isExtractable: boolean,
    use: (pair: { publicKey: Handle; privateKey: Handle }) => T,
  ): Promise<T> {
    const pair = this.#generatePair(algorithm, isExtractable);
    try {
      return Promise.resolve(use(pair));
    } finally {
      this.#pkcs11.C_DestroyObject(this.#session, pair.publicKey);
      this.#pkcs11.C_DestroyObject(this.#session, pair.privateKey);
    }
  }

  #generatePair(
    algorithm: SigningAlgorithm,
    isExtractable: boolean,
  ): { publicKey: Handle; privateKey: Handle } {
    const isEcdsa = algorithm === 'ecdsa-p256';
    return this.#pkcs11.C_GenerateKeyPair(
      this.#session,
      { mechanism: isEcdsa ? pkcs11js.CKM_EC_KEY_PAIR_GEN : CKM_EC_EDWARDS_KEY_PAIR_GEN },
      templateOf([
        [CKA_TOKEN, false],
        [CKA_EC_PARAMS, isEcdsa ? P256_PARAMETERS : ED25519_PARAMETERS],
        [CKA_VERIFY, true],
      ]),
      templateOf([
        [CKA_TOKEN, false],
        [CKA_PRIVATE, true],
        [CKA_SIGN, true],
        [CKA_SENSITIVE, true],
        [CKA_EXTRACTABLE, isExtractable],
      ]),
    );
  }

  #publicKeyOf(algorithm: SigningAlgorithm, publicKey: Handle): Buffer {
    return spkiFromEcPoint(algorithm, attributeBuffer(this.#pkcs11, this.#session, publicKey, CKA_EC_POINT));
  }

  #unwrap(algorithm: SigningAlgorithm, version: number, wrapped: Buffer, isExtractable: boolean): Handle {
    try {
      return this.#pkcs11.C_UnwrapKey(
        this.#session,
        { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
        this.#masterKey(version),
        wrapped,
        templateOf([
          [CKA_CLASS, pkcs11js.CKO_PRIVATE_KEY],
          [CKA_KEY_TYPE, algorithm === 'ecdsa-p256' ? pkcs11js.CKK_EC : CKK_EC_EDWARDS],
          [CKA_TOKEN, false],
          [CKA_PRIVATE, true],
          [CKA_SIGN, true],
          [CKA_SENSITIVE, true],
          [CKA_EXTRACTABLE, isExtractable],
        ]),
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
