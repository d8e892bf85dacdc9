import { createHmac, hkdfSync, createDecipheriv, timingSafeEqual } from 'node:crypto';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { findDevice, liveDevice } from './device-list.ts';
import type { PsdOperation } from './psd-operations.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

// The signed client protocol (seed 001, docs/client-protocol.md), the module's side. Byte formats
// here and in src/client/device.ts must agree; test/vault/client-protocol-doc.test.ts checks both.

const ENROLL_INFO = 'indicia/enroll/v1';
const CONFIRM_LABEL = 'indicia/enroll/confirm/v1';
const REQUEST_LABEL = 'indicia/request/v2';
const REQUEST_LABEL_V1 = 'indicia/request/v1';
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
  /**
   * The device that signed (the Indicia-Device header): protocol v2. Null for a v1 request, which
   * names no device and is accepted only while the meter has exactly one.
   */
  readonly deviceId: string | null;
  /** The challenge the module issued to that device last (base64), echoed back. */
  readonly challenge: string;
  /** The registers the module reported to that device with its challenge. */
  readonly ascendingRegister: number;
  readonly descendingRegister: number;
  /** METHOD, path and SHA-256 of the body, as the API received them (see requestDigest). */
  readonly request: string;
  /** HMAC-SHA256 with the device's HMK over {@link signedText}. */
  readonly mac: Buffer;
  /** The challenge to issue to the device next (base64 of 32 random bytes), chosen by the caller. */
  readonly nextChallenge: string;
}

/**
 * The text a device MACs, one field per line: v2 is label, device id, request, challenge, AR, DR;
 * v1 (no device id) is the same without the device line.
 */
export function signedText(authorization: Omit<ClientAuthorization, 'mac' | 'nextChallenge'>): string {
  return [
    ...(authorization.deviceId === null ? [REQUEST_LABEL_V1] : [REQUEST_LABEL, authorization.deviceId]),
    authorization.request,
    authorization.challenge,
    String(authorization.ascendingRegister),
    String(authorization.descendingRegister),
  ].join('\n');
}

/** The device a request is for: the one it names, or for a v1 request the meter's only one. */
function deviceFor(state: PsdState, authorization: ClientAuthorization): number {
  if (authorization.deviceId !== null) {
    if (state.devices.length === 0) throw noDevice(state);
    return liveDevice(state, authorization.deviceId).index;
  }
  const usable = state.devices.flatMap((device, index) => (device.hmk === null ? [] : [index]));
  if (usable.length === 0) throw noDevice(state);
  if (usable.length > 1 || usable[0] === undefined)
    throw new VaultError(
      'psd.device_required',
      `Meter ${state.meterId} has ${usable.length} enrolled devices: name yours in the Indicia-Device header and sign protocol v2 (docs/client-protocol.md).`,
    );
  return usable[0];
}

function noDevice(state: PsdState): VaultError {
  return new VaultError(
    'psd.no_device',
    `No device is enrolled for meter ${state.meterId}; enroll one first.`,
  );
}

/**
 * The module's checks before it acts for a device (seed 001), on that device's entry only: it is
 * enrolled and not revoked, the MAC verifies with its HMK, its key has not expired, the challenge
 * is the one issued to it last and the registers the ones reported to it then. Any failure refuses
 * the command, and nothing changes — not even the challenge. Returns the device's place in the list.
 */
export function checkClientAuthorization(
  state: PsdState,
  authorization: ClientAuthorization,
  now: Date,
): number {
  const index = deviceFor(state, authorization);
  const device = state.devices[index];
  if (device === undefined || device.hmk === null || device.lastChallenge === null) throw noDevice(state);
  const id = authorization.deviceId ?? device.id;
  const named = id === null ? "this meter's device" : `device ${id}`;
  const expected = createHmac('sha256', Buffer.from(device.hmk, 'base64'))
    .update(signedText(authorization))
    .digest();
  if (authorization.mac.length !== expected.length || !timingSafeEqual(authorization.mac, expected))
    throw new VaultError(
      'psd.client_unauthenticated',
      `The request signature does not verify with the key of ${named}; it was altered or signed by another device.`,
    );
  if (!(Date.parse(device.expiresAt) > now.getTime()))
    throw new VaultError(
      'psd.device_expired',
      `The key of ${named} expired at ${device.expiresAt}; enroll the device again (a key is renewed only before it ends).`,
    );
  const issued = Buffer.from(device.lastChallenge, 'base64');
  const echoed = Buffer.from(authorization.challenge, 'base64');
  if (issued.length !== echoed.length || !timingSafeEqual(issued, echoed))
    throw new VaultError(
      'psd.stale_challenge',
      `The challenge is not the one issued to ${named} last (a replay, or a request overtaken by another of this device's); fetch the device for its current challenge and sign again.`,
    );
  if (
    authorization.ascendingRegister !== device.ascendingRegister ||
    authorization.descendingRegister !== device.descendingRegister
  )
    throw new VaultError(
      'psd.register_mismatch',
      `The device's registers (AR ${authorization.ascendingRegister}, DR ${authorization.descendingRegister}) differ from those the meter last reported to it; fetch the device and resynchronize.`,
      {
        details: {
          ascendingRegisterMills: device.ascendingRegister,
          descendingRegisterMills: device.descendingRegister,
        },
      },
    );
  return index;
}

/**
 * The device's chain after a command it signed: the next challenge, reported with the registers
 * after the command; a device enrolled before packages held several takes the id it signed with.
 */
export function advanceDevice(state: PsdState, index: number, authorization: ClientAuthorization): PsdState {
  return {
    ...state,
    devices: state.devices.map((device, at) =>
      at === index
        ? {
            ...device,
            id: device.id ?? authorization.deviceId,
            lastChallenge: authorization.nextChallenge,
            ascendingRegister: state.ascendingRegister,
            descendingRegister: state.descendingRegister,
          }
        : device,
    ),
  };
}

/**
 * A renewal re-keys the device that signs it and no other: the old key authorizes the new one.
 */
export function checkDeviceSteps(
  state: PsdState,
  steps: readonly { readonly operation: PsdOperation }[],
  authorized: number | null,
): void {
  for (const { operation } of steps) {
    if (operation.type !== 'update' || operation.device?.kind !== 'renew') continue;
    if (authorized === null || findDevice(state.devices, operation.device.id) !== authorized)
      throw new VaultError(
        'psd.client_unauthenticated',
        `Device ${operation.device.id} is renewed only by a request it signs with its current key.`,
      );
  }
}
