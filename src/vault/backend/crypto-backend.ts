/**
 * The cryptographic boundary: what a backend (software keys under a KEK, or a PKCS#11 token)
 * does with keys that never leave it. The module logic above (state machine, roles, packages,
 * checkpoints) is shared; each backend passes the same contract suite in test/vault/.
 */
export type BackendKind = 'software' | 'pkcs11';
export type SigningAlgorithm = 'ecdsa-p256' | 'ed25519';
export type MacKeyName = 'control' | 'checkpoint';

export interface KeyInventory {
  /** Master (package-sealing) key versions present, ascending. Empty before initialization. */
  readonly masterKeyVersions: readonly number[];
  /** Packages sealed under an older version are refused. */
  readonly minimumMasterKeyVersion: number;
  readonly hasMacKeys: boolean;
  /**
   * When an officer zeroized the keys, if no keys were created since: the module is then in the
   * zeroized state, not merely uninitialized, and nothing creates keys without an officer.
   */
  readonly zeroizedAt: string | null;
}

export interface GeneratedSigningKey {
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Buffer;
  /** The private key wrapped under a master key version; opaque outside the backend. */
  readonly wrappedPrivateKey: Buffer;
}

/** A meter's signing key unwrapped inside the backend for a while; close destroys the clear key. */
export interface SigningKeyHandle {
  /** ECDSA as raw r‖s (IEEE P1363) over SHA-256, Ed25519 as pure EdDSA. */
  sign(data: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface CryptoBackend {
  readonly kind: BackendKind;
  /**
   * Stable identity of this module instance, e.g. SW-1A2B3C4D5E or HSM-<token serial>-1. It
   * changes once only: when keys are created again after zeroization, the module starts a new
   * checkpoint chain under a new serial (the old one's module log stays as it was).
   */
  readonly serial: string;

  /** Checks a crypto-officer credential without changing anything. */
  verifyOfficerCredential(credential: string): Promise<boolean>;

  // Known-answer test primitives: they run on caller-supplied test keys, never module keys.
  digestSha256(data: Buffer): Promise<Buffer>;
  encryptAesGcmWithTestKey(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer>;
  hmacSha256WithTestKey(key: Buffer, data: Buffer): Promise<Buffer>;

  inventory(): Promise<KeyInventory>;
  /** Creates master key version 1 and the MAC keys; sets the crypto-officer credential where the backend keeps it. */
  initializeKeys(officerCredential: string): Promise<void>;
  /** Adds the next master key version and returns it. */
  addMasterKeyVersion(): Promise<number>;
  setMinimumMasterKeyVersion(version: number): Promise<void>;
  /**
   * Destroys every key and the checkpoint ring of every module sharing these keys (one keystore,
   * or one token), and remembers when: the modules come up zeroized until an officer creates keys.
   */
  zeroize(): Promise<void>;

  /** AES-256-GCM under a master key version: returns ciphertext ‖ 16-byte tag. */
  encrypt(version: number, iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<Buffer>;
  /** Inverse of encrypt; throws when authentication fails. */
  decrypt(version: number, iv: Buffer, sealed: Buffer, aad: Buffer): Promise<Buffer>;
  mac(key: MacKeyName, data: Buffer): Promise<Buffer>;
  /** Constant-time check of a MAC. */
  verifyMac(key: MacKeyName, data: Buffer, mac: Buffer): Promise<boolean>;

  generateSigningKey(algorithm: SigningAlgorithm, version: number): Promise<GeneratedSigningKey>;
  /** Power-up pairwise test: a throw-away key pair signs the data; the caller verifies outside. */
  signWithEphemeralKey(
    algorithm: SigningAlgorithm,
    data: Buffer,
  ): Promise<{ publicKey: Buffer; signature: Buffer }>;
  /**
   * Unwraps a meter's key for one module pass (a command group signs many pieces with it); the
   * caller closes the handle when the pass ends.
   */
  openSigningKey(
    algorithm: SigningAlgorithm,
    version: number,
    wrappedPrivateKey: Buffer,
  ): Promise<SigningKeyHandle>;
  rewrapSigningKey(
    algorithm: SigningAlgorithm,
    fromVersion: number,
    toVersion: number,
    wrapped: Buffer,
  ): Promise<Buffer>;
  randomBytes(length: number): Promise<Buffer>;

  /**
   * The installation's device-enrollment key (ECDH P-256, shared by its modules like the MAC keys),
   * made on first use: its public key as SubjectPublicKeyInfo DER. Clients pin its fingerprint.
   */
  enrollmentPublicKey(): Promise<Buffer>;
  /** ECDH of the enrollment key with a client's ephemeral P-256 public key (SPKI DER): the 32-byte shared secret. */
  enrollmentAgreement(peerPublicKey: Buffer): Promise<Buffer>;

  /** The module's own non-volatile store for its checkpoint ring. */
  readRing(): Promise<Buffer | undefined>;
  writeRing(bytes: Buffer): Promise<void>;

  close(): Promise<void>;
}

/** Signs once with a wrapped key: open, sign, close. */
export async function signOnce(
  backend: CryptoBackend,
  algorithm: SigningAlgorithm,
  version: number,
  wrappedPrivateKey: Buffer,
  data: Buffer,
): Promise<Buffer> {
  const key = await backend.openSigningKey(algorithm, version, wrappedPrivateKey);
  try {
    return await key.sign(data);
  } finally {
    await key.close();
  }
}
