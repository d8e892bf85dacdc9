// The signed client protocol, the device's side (docs/client-protocol.md). WebCrypto only, so the
// same code runs in browsers and in Node.js; the HMAC key (HMK) is imported non-extractable.
import type { webcrypto } from 'node:crypto';
import type { DeviceRecord } from './types.ts';

const ENROLL_INFO = 'indicia/enroll/v1';
const CONFIRM_LABEL = 'indicia/enroll/confirm/v1';
const REQUEST_LABEL = 'indicia/request/v2';

// Types only (erased at run time): the browser's and Node's WebCrypto are the same API.
type SubtleCrypto = webcrypto.SubtleCrypto;
type CryptoKey = webcrypto.CryptoKey;

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const text = (value: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(value);

/**
 * A refusal by the SDK itself, before anything is sent: `code` is stable, the message says what
 * to do. (Refusals of the server arrive as `IndiciaApiError`.)
 */
export class IndiciaClientError extends Error {
  readonly code: 'client.enrollment_key_not_pinned' | 'client.enrollment_not_confirmed';

  constructor(code: IndiciaClientError['code'], message: string) {
    super(message);
    this.name = 'IndiciaClientError';
    this.code = code;
  }
}

export function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await subtle().digest('SHA-256', bytes));
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** JSON with object keys sorted, as the server's canonical JSON writes it. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(
          Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : inner,
  );
}

/** What the device MACs (protocol v2): label, device id, method, path, body digest, challenge, AR, DR. */
export async function signedText(
  deviceId: string,
  method: string,
  path: string,
  body: unknown,
  challenge: string,
  ascendingRegister: number,
  descendingRegister: number,
): Promise<string> {
  const bodyText = body === undefined || body === null ? '' : canonicalJson(body);
  const digest = [method.toUpperCase(), path, await sha256Hex(text(bodyText))].join('\n');
  return [
    REQUEST_LABEL,
    deviceId,
    digest,
    challenge,
    String(ascendingRegister),
    String(descendingRegister),
  ].join('\n');
}

/** What a command-line client stores between runs (keep it like a private key: mode 0600). */
export interface StoredDevice {
  id: string;
  /** The HMK, base64. */
  hmk: string;
  challenge: string;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  /** When the module stops accepting the key; absent in files written before keys had a life span. */
  expiresAt?: string | null;
  /** When the current key was sealed (enrollment or the last renewal). */
  keyIssuedAt?: string | null;
  /** The enrollment key fingerprint the device was enrolled against: renewals pin it too. */
  fingerprint?: string | null;
}

type RegistersCopy = { ascendingRegisterMills: number; descendingRegisterMills: number };

/** The device's life span as the server states it (an enrollment, a renewal, GET /v1/devices/{id}). */
export interface DeviceLifeSpan {
  expiresAt: string;
  keyIssuedAt: string | null;
}

const DAY_MS = 86_400_000;

/**
 * An enrolled device: its HMAC key, the challenge to sign with next, its copy of the registers
 * (those the module reported to it) and its key's life span.
 */
export class Device {
  /** A device from its stored form; the key is imported non-extractable again. */
  static async restore(stored: StoredDevice): Promise<Device> {
    const device = new Device(stored.id, await importHmk(fromBase64(stored.hmk)), stored.challenge, stored);
    device.#storedKey = stored.hmk;
    device.fingerprint = stored.fingerprint ?? null;
    if (typeof stored.expiresAt === 'string')
      device.learn({ expiresAt: stored.expiresAt, keyIssuedAt: stored.keyIssuedAt ?? null });
    return device;
  }

  readonly id: string;
  #hmk: CryptoKey;
  /** The HMK in base64, only for a device its owner stores (a command line); null otherwise. */
  #storedKey: string | null = null;
  challenge: string;
  ascendingRegister: number;
  descendingRegister: number;
  /** Null until the server said (devices stored before keys had a life span). */
  expiresAt: string | null = null;
  keyIssuedAt: string | null = null;
  /** The pinned enrollment key fingerprint; renewal needs it. */
  fingerprint: string | null = null;

  constructor(id: string, hmk: CryptoKey, challenge: string, registers: RegistersCopy) {
    this.id = id;
    this.#hmk = hmk;
    this.challenge = challenge;
    this.ascendingRegister = registers.ascendingRegisterMills;
    this.descendingRegister = registers.descendingRegisterMills;
  }

  /** Whether the HMAC key could ever be read out (it cannot: it is imported non-extractable). */
  get isKeyExtractable(): boolean {
    return this.#hmk.extractable;
  }

  /** The four headers that sign a value-moving request. */
  async headers(method: string, path: string, body: unknown): Promise<Record<string, string>> {
    const message = await signedText(
      this.id,
      method,
      path,
      body,
      this.challenge,
      this.ascendingRegister,
      this.descendingRegister,
    );
    const mac = await subtle().sign('HMAC', this.#hmk, text(message));
    return {
      'indicia-device': this.id,
      'indicia-challenge': this.challenge,
      'indicia-registers': `${this.ascendingRegister},${this.descendingRegister}`,
      'indicia-signature': toBase64(mac),
    };
  }

  /** Takes the next challenge and the registers after a request the module accepted. */
  advance(challenge: string, registers: RegistersCopy): void {
    this.challenge = challenge;
    this.ascendingRegister = registers.ascendingRegisterMills;
    this.descendingRegister = registers.descendingRegisterMills;
  }

  /** Takes the key's life span the server stated. */
  learn(lifeSpan: DeviceLifeSpan): void {
    this.expiresAt = lifeSpan.expiresAt;
    this.keyIssuedAt = lifeSpan.keyIssuedAt;
  }

  /**
   * Whether the key should be renewed now: within `withinDays` of its end, or within the last
   * quarter of its life when that is shorter (so a short life span is not renewed at every request).
   */
  isRenewalDue(now: Date, withinDays: number): boolean {
    if (this.expiresAt === null || withinDays <= 0) return false;
    const end = Date.parse(this.expiresAt);
    const life = this.keyIssuedAt === null ? Number.POSITIVE_INFINITY : end - Date.parse(this.keyIssuedAt);
    return end - now.getTime() <= Math.min(withinDays * DAY_MS, life / 4);
  }

  /** The form to store between runs, for a device enrolled or restored to be stored; else null. */
  stored(): StoredDevice | null {
    if (this.#storedKey === null) return null;
    return {
      id: this.id,
      hmk: this.#storedKey,
      challenge: this.challenge,
      ascendingRegisterMills: this.ascendingRegister,
      descendingRegisterMills: this.descendingRegister,
      expiresAt: this.expiresAt,
      keyIssuedAt: this.keyIssuedAt,
      fingerprint: this.fingerprint,
    };
  }

  /** Signs with a renewed key from now on (after the module confirmed it: prepareRenewal). */
  rekey(hmk: CryptoKey, storedKey: string | null, answer: EnrollmentAnswer): void {
    this.#hmk = hmk;
    if (this.#storedKey !== null) this.#storedKey = storedKey;
    this.advance(answer.challenge, answer.registers);
    this.learn(answer.device);
  }

  /** Marks a device its owner stores (its HMK kept in base64 beside it). */
  keepKey(storedKey: string | null): void {
    this.#storedKey = storedKey;
  }
}

function importHmk(bytes: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return subtle().importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** A new HMK encrypted to the enrollment key: what enrollment and renewal send. */
export interface KeyBody {
  ephemeralPublicKey: string;
  clientChallenge: string;
  iv: string;
  encryptedHmk: string;
}

export interface EnrollmentBody extends KeyBody {
  name: string;
}

export interface EnrollmentAnswer {
  device: DeviceRecord;
  challenge: string;
  confirmation: string;
  registers: RegistersCopy;
}

/**
 * A new device key, sealed to the enrollment key after checking it against the pinned fingerprint
 * (ECDH P-256, HKDF-SHA256, AES-256-GCM); `isConfirmed` checks the module's proof that it holds
 * the enrollment key, over the challenge it answers with.
 */
async function newDeviceKey(
  enrollmentKey: { publicKey: string },
  pinnedFingerprint: string,
  keepKey: boolean,
): Promise<{
  body: KeyBody;
  hmk: CryptoKey;
  keptKey: string | null;
  isConfirmed(answer: { challenge: string; confirmation: string }): Promise<boolean>;
}> {
  const serverKey = fromBase64(enrollmentKey.publicKey);
  const fingerprint = await sha256Hex(serverKey);
  const pinned = pinnedFingerprint.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (fingerprint !== pinned)
    throw new IndiciaClientError(
      'client.enrollment_key_not_pinned',
      `The server's enrollment key has fingerprint ${fingerprint}, not the pinned ${pinned === '' ? '(none given)' : pinned}; no device key was sent. Check the fingerprint against the one the operator gave you (indicia serve prints it at every start), and that the URL is the right server.`,
    );
  const peer = await subtle().importKey('spki', serverKey, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const ephemeral = await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const ephemeralPublicKey = new Uint8Array(await subtle().exportKey('spki', ephemeral.publicKey));
  const shared = await subtle().deriveBits({ name: 'ECDH', public: peer }, ephemeral.privateKey, 256);
  const clientChallenge = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const hkdf = await subtle().importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  const okm = new Uint8Array(
    await subtle().deriveBits(
      {
        name: 'HKDF',
        hash: 'SHA-256',
        salt: clientChallenge,
        info: concat(text(ENROLL_INFO), ephemeralPublicKey, serverKey),
      },
      hkdf,
      512,
    ),
  );
  const encryptionKey = await subtle().importKey('raw', okm.slice(0, 32), 'AES-GCM', false, ['encrypt']);
  const confirmationKey = await subtle().importKey(
    'raw',
    okm.slice(32, 64),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  okm.fill(0);
  const hmkBytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const hmk = await importHmk(hmkBytes);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const encryptedHmk = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: text(ENROLL_INFO) },
    encryptionKey,
    hmkBytes,
  );
  const keptKey = keepKey ? toBase64(hmkBytes) : null;
  hmkBytes.fill(0);
  return {
    hmk,
    keptKey,
    body: {
      ephemeralPublicKey: toBase64(ephemeralPublicKey),
      clientChallenge: toBase64(clientChallenge),
      iv: toBase64(iv),
      encryptedHmk: toBase64(encryptedHmk),
    },
    isConfirmed: (answer) =>
      subtle().verify(
        'HMAC',
        confirmationKey,
        fromBase64(answer.confirmation),
        concat(text(CONFIRM_LABEL), clientChallenge, fromBase64(answer.challenge)),
      ),
  };
}

/**
 * Prepares an enrollment: checks the enrollment key against the pinned fingerprint, makes the HMK
 * and encrypts it to the key. `finish` checks the module's confirmation — proof it holds the
 * enrollment key — and returns the device.
 */
export async function prepareEnrollment(
  name: string,
  enrollmentKey: { publicKey: string },
  pinnedFingerprint: string,
  options: { keepKey?: boolean } = {},
): Promise<{
  body: EnrollmentBody;
  finish(answer: EnrollmentAnswer): Promise<Device>;
  /** The HMK (base64), only with `keepKey`: for a client that must store it (a command line). */
  readonly keptKey: string | null;
}> {
  const key = await newDeviceKey(enrollmentKey, pinnedFingerprint, options.keepKey === true);
  return {
    keptKey: key.keptKey,
    body: { name, ...key.body },
    async finish(answer) {
      if (!(await key.isConfirmed(answer)))
        throw new IndiciaClientError(
          'client.enrollment_not_confirmed',
          'The server did not prove it holds the enrollment key; do not use this device enrollment, and tell the operator.',
        );
      const device = new Device(answer.device.id, key.hmk, answer.challenge, answer.registers);
      device.keepKey(key.keptKey);
      device.fingerprint = pinnedFingerprint;
      device.learn(answer.device);
      return device;
    },
  };
}

/**
 * Prepares a renewal of `device`'s key (seed 004): a new HMK encrypted to the enrollment key, to
 * send signed with the current one. `finish` checks the module's confirmation and re-keys the
 * device in place; until then it keeps signing with the old key.
 */
export async function prepareRenewal(
  device: Device,
  enrollmentKey: { publicKey: string },
  pinnedFingerprint: string,
): Promise<{ body: KeyBody; finish(answer: EnrollmentAnswer): Promise<void> }> {
  const key = await newDeviceKey(enrollmentKey, pinnedFingerprint, device.stored() !== null);
  return {
    body: key.body,
    async finish(answer) {
      if (!(await key.isConfirmed(answer)))
        throw new IndiciaClientError(
          'client.enrollment_not_confirmed',
          'The server did not prove it holds the enrollment key; the renewal is not trusted, and the old key stays in use.',
        );
      device.rekey(key.hmk, key.keptKey, answer);
    },
  };
}
