import type { Mills } from '../money/index.ts';
import type { PsdState } from './psd-package.ts';
import { VaultError } from './vault-error.ts';

/** Devices a package holds that are not revoked (docs/client-protocol.md, "Several devices"). */
export const MAX_DEVICES = 16;
/** Revoked devices a package still remembers, newest first, so their requests get a clear refusal. */
export const MAX_REVOKED_DEVICES = 16;
/** The life span a device enrolled before packages held several gets, from the package's last change. */
export const LEGACY_DEVICE_KEY_DAYS = 365;

const DAY_MS = 86_400_000;

/**
 * One enrolled device inside a sealed package: its HMAC key (HMK) and its own challenge chain.
 * Each device signs with the challenge the module issued to it last and the registers the module
 * reported to it with that challenge, so several devices' chains advance independently.
 */
export interface EnrolledDevice {
  /**
   * `dev_…`; null only for the one device a package held before packages held several, until its
   * first signed request, renewal or revocation names it (the module then keeps that id).
   */
  readonly id: string | null;
  readonly name: string | null;
  /** base64 of the HMK; null once revoked (the module keeps no key of a revoked device). */
  readonly hmk: string | null;
  /** base64 of the challenge issued to this device last; null once revoked. */
  readonly lastChallenge: string | null;
  /** The registers reported to this device with its last challenge: it signs with these. */
  readonly ascendingRegister: Mills;
  readonly descendingRegister: Mills;
  /** Null for a device enrolled before packages recorded it. */
  readonly enrolledAt: string | null;
  /** When the current HMK was sealed (enrollment or the last renewal); null as for enrolledAt. */
  readonly keyIssuedAt: string | null;
  /** The module refuses the device's requests from this moment; renewal moves it on. */
  readonly expiresAt: string;
  readonly revokedAt: string | null;
}

/** A device as callers see it: its chain and life span, never its key. */
export interface DeviceView {
  readonly id: string | null;
  readonly name: string | null;
  readonly challenge: string | null;
  readonly ascendingRegister: Mills;
  readonly descendingRegister: Mills;
  readonly enrolledAt: string | null;
  readonly keyIssuedAt: string | null;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
}

/** A change to a package's devices, carried by an `update` operation. */
export type DeviceChange =
  | {
      readonly kind: 'enroll';
      readonly id: string;
      readonly name: string;
      readonly hmk: string;
      readonly challenge: string;
      readonly expiresAt: string;
    }
  /** Valid only in a command the same device signed (group-pass.ts checks that). */
  | { readonly kind: 'renew'; readonly id: string; readonly hmk: string; readonly expiresAt: string }
  | { readonly kind: 'revoke'; readonly id: string };

/**
 * The device list of a package as sealed, or of one an earlier version sealed with a single `hmk`
 * and `lastChallenge`: read as a one-device list, which the next sealed change writes in the new
 * shape. That device's registers are the package's (the old protocol required them equal).
 */
export function devicesOf(raw: PsdState & { hmk?: string | null; lastChallenge?: string | null }): PsdState {
  if (Array.isArray(raw.devices)) return raw;
  const { hmk, lastChallenge, ...rest } = raw;
  const devices: EnrolledDevice[] =
    typeof hmk === 'string'
      ? [
          {
            id: null,
            name: null,
            hmk,
            lastChallenge: lastChallenge ?? null,
            ascendingRegister: raw.ascendingRegister,
            descendingRegister: raw.descendingRegister,
            enrolledAt: null,
            keyIssuedAt: null,
            expiresAt: new Date(Date.parse(raw.updatedAt) + LEGACY_DEVICE_KEY_DAYS * DAY_MS).toISOString(),
            revokedAt: null,
          },
        ]
      : [];
  return { ...rest, devices };
}

export function deviceViews(devices: readonly EnrolledDevice[]): DeviceView[] {
  return devices.map(({ hmk: _hmk, lastChallenge, ...rest }) => ({ ...rest, challenge: lastChallenge }));
}

/**
 * Where the device named `id` is in the list: its own entry, or else the device enrolled before
 * packages held several (id still null), which every other id-less request path resolves to. -1: none.
 */
export function findDevice(devices: readonly EnrolledDevice[], id: string): number {
  const own = devices.findIndex((device) => device.id === id);
  return own !== -1 ? own : devices.findIndex((device) => device.id === null);
}

function unknownDevice(state: PsdState, id: string): VaultError {
  return new VaultError(
    'psd.unknown_device',
    `Device ${id} is not enrolled for meter ${state.meterId}; enroll it (POST /v1/devices) or use one that is.`,
  );
}

/** The device named `id`, refused when unknown or revoked. */
export function liveDevice(state: PsdState, id: string): { index: number; device: EnrolledDevice } {
  const index = findDevice(state.devices, id);
  const device = state.devices[index];
  if (device === undefined) throw unknownDevice(state, id);
  if (device.revokedAt !== null || device.hmk === null)
    throw new VaultError(
      'psd.device_revoked',
      `Device ${id} was revoked${device.revokedAt === null ? '' : ` at ${device.revokedAt}`}; enroll this device again to sign with it.`,
    );
  return { index, device };
}

function checkExpiry(expiresAt: string, now: string): void {
  if (!(Date.parse(expiresAt) > Date.parse(now)))
    throw new VaultError('vault.wrong_state', `A device key must expire after now; got ${expiresAt}.`);
}

function replaced(
  devices: readonly EnrolledDevice[],
  index: number,
  entry: EnrolledDevice,
): EnrolledDevice[] {
  return devices.map((device, at) => (at === index ? entry : device));
}

/** Revoked entries beyond {@link MAX_REVOKED_DEVICES}, oldest first, are forgotten. */
function pruned(devices: readonly EnrolledDevice[]): EnrolledDevice[] {
  const revoked = devices
    .filter((device) => device.revokedAt !== null)
    .sort((a, b) => (b.revokedAt ?? '').localeCompare(a.revokedAt ?? ''));
  const forgotten = new Set(revoked.slice(MAX_REVOKED_DEVICES));
  return devices.filter((device) => !forgotten.has(device));
}

/** Applies one device change inside the module; registers are the state's at this point. */
export function applyDeviceChange(state: PsdState, change: DeviceChange, now: string): EnrolledDevice[] {
  const { devices } = state;
  switch (change.kind) {
    case 'enroll': {
      checkExpiry(change.expiresAt, now);
      if (devices.some((device) => device.id === change.id))
        throw new VaultError('vault.wrong_state', `Device ${change.id} is already enrolled.`);
      const live = devices.filter((device) => device.revokedAt === null).length;
      if (live >= MAX_DEVICES)
        throw new VaultError(
          'psd.device_limit',
          `Meter ${state.meterId} already has ${MAX_DEVICES} enrolled devices, the most it may have; revoke one first.`,
        );
      return pruned([
        ...devices,
        {
          id: change.id,
          name: change.name,
          hmk: change.hmk,
          lastChallenge: change.challenge,
          ascendingRegister: state.ascendingRegister,
          descendingRegister: state.descendingRegister,
          enrolledAt: now,
          keyIssuedAt: now,
          expiresAt: change.expiresAt,
          revokedAt: null,
        },
      ]);
    }
    case 'renew': {
      checkExpiry(change.expiresAt, now);
      const { index, device } = liveDevice(state, change.id);
      return replaced(devices, index, {
        ...device,
        id: change.id,
        hmk: change.hmk,
        keyIssuedAt: now,
        expiresAt: change.expiresAt,
      });
    }
    case 'revoke': {
      const { index, device } = liveDevice(state, change.id);
      const revoked = { ...device, id: change.id, hmk: null, lastChallenge: null, revokedAt: now };
      return pruned(replaced(devices, index, revoked));
    }
  }
}
