import { createHmac, hkdfSync, createDecipheriv, timingSafeEqual } from 'node:crypto';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

// The signed client protocol (seed 001, docs/client-protocol.md), the module's side. Byte formats
// here and in src/client/device.ts must agree; test/api/client-protocol.test.ts checks both.

const ENROLL_INFO = 'indicia/enroll/v1';
const CONFIRM_LABEL = 'indicia/enroll/confirm/v1';
const REQUEST_LABEL = 'indicia/request/v1';
const HMK_BYTES = 32;
const CHALLENGE_BYTES = 32;

/** What a device sends to enroll: its HMK, encrypted to the installation's enrollment key. */
export interface EnrollmentRequest {
  /** The device's ephemeral ECDH P-256 public key (SPKI DER). */
  readonly ephemeralPublicKey: Buffer;
  /** 32 random bytes; the module proves it holds the enrollment key by MACing it. */
  readonly clientChallenge: Buffer;
  readonly iv: Buffer;
  /** AES-256-GCM ciphertext ‖ tag of the 32-byte HMK. */
  readonly encryptedHmk: Buffer;
}

export interface OpenedEnrollment {
  readonly hmk: Buffer;
  /** The module's answer to the client's challenge, given the first challenge it issues. */
  confirmation(firstChallenge: Buffer): Buffer;
}

function keysFor(shared: Buffer, request: EnrollmentRequest, enrollmentKey: Buffer) {
  const info = Buffer.concat([Buffer.from(ENROLL_INFO), request.ephemeralPublicKey, enrollmentKey]);
  const okm = Buffer.from(hkdfSync('sha256', shared, request.clientChallenge, info, 64));
  return { encryption: okm.subarray(0, 32), confirmation: okm.subarray(32, 64) };
}

/**
 * Opens a device's enrollment inside the module: ECDH with the enrollment key, HKDF-SHA256, then
 * AES-256-GCM decryption of the HMK. Anything malformed or not authentic is refused.
 */
export async function openEnrollment(
  backend: CryptoBackend,
  request: EnrollmentRequest,
): Promise<OpenedEnrollment> {
  if (request.clientChallenge.length !== CHALLENGE_BYTES || request.iv.length !== 12)
    throw new VaultError(
      'vault.enrollment_invalid',
      `The client challenge must be ${CHALLENGE_BYTES} bytes and the IV 12 bytes.`,
    );
  if (request.encryptedHmk.length !== HMK_BYTES + 16)
    throw new VaultError('vault.enrollment_invalid', `The encrypted HMK must be ${HMK_BYTES + 16} bytes.`);
  const enrollmentKey = await backend.enrollmentPublicKey();
  const shared = await backend.enrollmentAgreement(request.ephemeralPublicKey);
  const keys = keysFor(shared, request, enrollmentKey);
  shared.fill(0);
  let hmk: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.encryption, request.iv);
    decipher.setAAD(Buffer.from(ENROLL_INFO));
    decipher.setAuthTag(request.encryptedHmk.subarray(HMK_BYTES));
    hmk = Buffer.concat([decipher.update(request.encryptedHmk.subarray(0, HMK_BYTES)), decipher.final()]);
  } catch {
    throw new VaultError(
      'vault.enrollment_invalid',
      'The HMK does not decrypt: it was not encrypted to this installation’s enrollment key, or was altered.',
    );
  } finally {
    keys.encryption.fill(0);
  }
  return {
    hmk,
    confirmation: (firstChallenge) =>
      createHmac('sha256', keys.confirmation)
        .update(CONFIRM_LABEL)
        .update(request.clientChallenge)
        .update(firstChallenge)
        .digest(),
  };
}

/** A value-moving request as an enrolled device signed it. */
export interface ClientAuthorization {
  /** The challenge the module issued last (base64), echoed back. */
  readonly challenge: string;
  /** The device's own copy of the registers before the request. */
  readonly ascendingRegister: number;
  readonly descendingRegister: number;
  /** METHOD, path and SHA-256 of the body, as the API received them (see requestDigest). */
  readonly request: string;
  /** HMAC-SHA256 with the HMK over {@link signedText}. */
  readonly mac: Buffer;
  /** The challenge to issue next (base64 of 32 random bytes), chosen by the caller. */
  readonly nextChallenge: string;
}

/** The text a device MACs: label, request, challenge and its copy of AR and DR, one per line. */
export function signedText(authorization: Omit<ClientAuthorization, 'mac' | 'nextChallenge'>): string {
  return [
    REQUEST_LABEL,
    authorization.request,
    authorization.challenge,
    String(authorization.ascendingRegister),
    String(authorization.descendingRegister),
  ].join('\n');
}

/**
 * The module's three checks before it acts for a device (seed 001): the MAC with the HMK sealed in
 * the package, the challenge it issued last, and the device's registers against its own. Any
 * failure refuses the command, and nothing changes — not even the challenge.
 */
export function checkClientAuthorization(state: PsdState, authorization: ClientAuthorization): void {
  if (state.hmk === null || state.lastChallenge === null)
    throw new VaultError(
      'psd.no_device',
      `No device is enrolled for meter ${state.meterId}; enroll one first.`,
    );
  const expected = createHmac('sha256', Buffer.from(state.hmk, 'base64'))
    .update(signedText(authorization))
    .digest();
  if (authorization.mac.length !== expected.length || !timingSafeEqual(authorization.mac, expected))
    throw new VaultError(
      'psd.client_unauthenticated',
      'The request signature does not verify with the enrolled device key; it was altered or signed by another device.',
    );
  const issued = Buffer.from(state.lastChallenge, 'base64');
  const echoed = Buffer.from(authorization.challenge, 'base64');
  if (issued.length !== echoed.length || !timingSafeEqual(issued, echoed))
    throw new VaultError(
      'psd.stale_challenge',
      'The challenge is not the one issued last (a replay, or a request overtaken by another); fetch the meter for the current challenge and sign again.',
    );
  if (
    authorization.ascendingRegister !== state.ascendingRegister ||
    authorization.descendingRegister !== state.descendingRegister
  )
    throw new VaultError(
      'psd.register_mismatch',
      `The device's registers (AR ${authorization.ascendingRegister}, DR ${authorization.descendingRegister}) differ from the meter's; fetch the meter and resynchronize.`,
      {
        details: {
          ascendingRegisterMills: state.ascendingRegister,
          descendingRegisterMills: state.descendingRegister,
        },
      },
    );
}
