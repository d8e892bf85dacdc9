import type { Mills } from '../money/index.ts';
import { ByteReader, u16, u32, u64 } from './binary.ts';
import type { CryptoBackend, SigningAlgorithm } from './backend/crypto-backend.ts';
import { type EnrolledDevice, devicesOf } from './device-list.ts';
import { VaultError } from './vault-error.ts';

export type PsdOperationalState = 'active' | 'suspended' | 'withdrawn';

/** Everything one meter's PSD is. Lives only sealed outside a module. */
export interface PsdState {
  readonly meterId: string;
  /** Increases by one with every command; the database stores it beside the package. */
  readonly sequence: number;
  readonly state: PsdOperationalState;
  readonly ascendingRegister: Mills;
  readonly descendingRegister: Mills;
  readonly maxDescendingRegister: Mills;
  readonly refundRegister: Mills;
  readonly signingKey: {
    readonly algorithm: SigningAlgorithm;
    /** Master key version the private key is wrapped under. */
    readonly wrapVersion: number;
    /** base64 of the backend's wrapped private key. */
    readonly wrapped: string;
    /** base64 of the SubjectPublicKeyInfo (DER). */
    readonly publicKey: string;
    readonly expiresAt: string;
  };
  readonly certificateSerial: string | null;
  readonly licensingZip: string | null;
  /** The enrolled devices, each with its HMK and its own challenge chain (device-list.ts). */
  readonly devices: readonly EnrolledDevice[];
  /** Hashes of earlier passphrases, newest first. */
  readonly passphraseHistory: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

const MAGIC = Buffer.from('IPSD');
const FORMAT_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** The clear header of a sealed package; every field is authenticated as AES-GCM additional data. */
export interface SealedPackageHeader {
  readonly keyVersion: number;
  readonly sequence: number;
  readonly meterId: string;
}

function encodeHeader(header: SealedPackageHeader): Buffer {
  const meterId = Buffer.from(header.meterId, 'utf8');
  return Buffer.concat([
    MAGIC,
    Buffer.from([FORMAT_VERSION]),
    u32(header.keyVersion),
    u64(header.sequence),
    u16(meterId.length),
    meterId,
  ]);
}

function invalid(reason: string): VaultError {
  return new VaultError(
    'vault.package_invalid',
    `The PSD package is not authentic or is damaged (${reason}).`,
  );
}

/** Reads the clear header of a sealed package (not yet authenticated: unseal does that). */
export function readPackageHeader(sealed: Buffer): SealedPackageHeader & { headerLength: number } {
  try {
    const reader = new ByteReader(sealed);
    if (!reader.take(4).equals(MAGIC)) throw invalid('not a PSD package');
    if (reader.u8() !== FORMAT_VERSION) throw invalid('unknown format version');
    const keyVersion = reader.u32();
    const sequence = reader.u64();
    const meterId = reader.take(reader.u16()).toString('utf8');
    if (reader.remaining < IV_LENGTH + TAG_LENGTH) throw invalid('truncated');
    return { keyVersion, sequence, meterId, headerLength: reader.offset };
  } catch (error) {
    if (error instanceof VaultError) throw error;
    throw invalid('malformed header');
  }
}

/**
 * Seals a PSD state under a master key version: header ‖ IV ‖ AES-256-GCM(state) ‖ tag, with the
 * header (meter id, sequence, key version) as additional data, so a package cannot be moved to
 * another meter or passed off as another sequence number.
 */
export async function sealPackage(
  backend: CryptoBackend,
  state: PsdState,
  keyVersion: number,
): Promise<Buffer> {
  const header = encodeHeader({ keyVersion, sequence: state.sequence, meterId: state.meterId });
  const iv = await backend.randomBytes(IV_LENGTH);
  const ciphertext = await backend.encrypt(
    keyVersion,
    iv,
    Buffer.from(JSON.stringify(state), 'utf8'),
    header,
  );
  return Buffer.concat([header, iv, ciphertext]);
}

/** What the caller knows from its own records about the package it hands over. */
export interface PackageExpectation {
  readonly meterId: string;
  /** The sequence number stored beside the package; an older package is a replay. */
  readonly sequence: number;
}

/** Authenticates and opens a sealed package, checking it belongs where the caller says it does. */
export async function unsealPackage(
  backend: CryptoBackend,
  sealed: Buffer,
  expected: PackageExpectation,
  minimumKeyVersion: number,
): Promise<{ state: PsdState; keyVersion: number }> {
  const header = readPackageHeader(sealed);
  if (header.meterId !== expected.meterId) {
    throw new VaultError(
      'vault.package_meter_mismatch',
      `The PSD package belongs to meter ${header.meterId}, not ${expected.meterId}.`,
    );
  }
  if (header.sequence < expected.sequence) {
    throw new VaultError(
      'vault.package_stale',
      `The PSD package has sequence ${header.sequence}, older than the current ${expected.sequence}: a replay.`,
    );
  }
  if (header.sequence !== expected.sequence) throw invalid('sequence ahead of the stored one');
  if (header.keyVersion < minimumKeyVersion) {
    throw new VaultError(
      'vault.key_version_retired',
      `The PSD package is sealed under master key version ${header.keyVersion}, below the minimum ${minimumKeyVersion}.`,
    );
  }
  const aad = sealed.subarray(0, header.headerLength);
  const iv = sealed.subarray(header.headerLength, header.headerLength + IV_LENGTH);
  const ciphertext = sealed.subarray(header.headerLength + IV_LENGTH);
  let plaintext: Buffer;
  try {
    plaintext = await backend.decrypt(header.keyVersion, iv, ciphertext, aad);
  } catch (error) {
    if (error instanceof VaultError && error.code === 'vault.key_version_unknown') throw error;
    throw invalid('authentication failed');
  }
  // A package sealed before packages held several devices is read as a one-device list.
  const state = devicesOf(JSON.parse(plaintext.toString('utf8')) as PsdState);
  if (state.meterId !== header.meterId || state.sequence !== header.sequence)
    throw invalid('header and contents disagree');
  return { state, keyVersion: header.keyVersion };
}

/** Seals a state under another master key version, re-wrapping its signing key to match. */
export async function resealUnder(backend: CryptoBackend, state: PsdState, version: number): Promise<Buffer> {
  const { signingKey } = state;
  const rewrapped =
    signingKey.wrapVersion === version
      ? signingKey
      : {
          ...signingKey,
          wrapVersion: version,
          wrapped: (
            await backend.rewrapSigningKey(
              signingKey.algorithm,
              signingKey.wrapVersion,
              version,
              Buffer.from(signingKey.wrapped, 'base64'),
            )
          ).toString('base64'),
        };
  return sealPackage(backend, { ...state, signingKey: rewrapped }, version);
}
