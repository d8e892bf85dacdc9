// The signed client protocol, the device's side (docs/client-protocol.md). WebCrypto only, so the
// same code runs in browsers and in Node.js; the HMAC key (HMK) is imported non-extractable.
import type { webcrypto } from 'node:crypto';

const ENROLL_INFO = 'indicia/enroll/v1';
const CONFIRM_LABEL = 'indicia/enroll/confirm/v1';
const REQUEST_LABEL = 'indicia/request/v1';

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

/** What the device MACs: label, method, path, body digest, challenge, its AR and DR. */
export async function signedText(
  method: string,
  path: string,
  body: unknown,
  challenge: string,
  ascendingRegister: number,
  descendingRegister: number,
): Promise<string> {
  const bodyText = body === undefined || body === null ? '' : canonicalJson(body);
  const digest = [method.toUpperCase(), path, await sha256Hex(text(bodyText))].join('\n');
  return [REQUEST_LABEL, digest, challenge, String(ascendingRegister), String(descendingRegister)].join('\n');
}

/** What a command-line client stores between runs (keep it like a private key: mode 0600). */
export interface StoredDevice {
  id: string;
  /** The HMK, base64. */
  hmk: string;
  challenge: string;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
}

/** An enrolled device: its HMAC key, the challenge to sign with next, and its copy of the registers. */
export class Device {
  /** A device from its stored form; the key is imported non-extractable again. */
  static async restore(stored: StoredDevice): Promise<Device> {
    const hmk = await subtle().importKey(
      'raw',
      fromBase64(stored.hmk),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    return new Device(stored.id, hmk, stored.challenge, stored);
  }

  readonly id: string;
  readonly #hmk: CryptoKey;
  challenge: string;
  ascendingRegister: number;
  descendingRegister: number;

  constructor(
    id: string,
    hmk: CryptoKey,
    challenge: string,
    registers: { ascendingRegisterMills: number; descendingRegisterMills: number },
  ) {
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

  /** The three headers that sign a value-moving request. */
  async headers(method: string, path: string, body: unknown): Promise<Record<string, string>> {
    const message = await signedText(
      method,
      path,
      body,
      this.challenge,
      this.ascendingRegister,
      this.descendingRegister,
    );
    const mac = await subtle().sign('HMAC', this.#hmk, text(message));
    return {
      'indicia-challenge': this.challenge,
      'indicia-registers': `${this.ascendingRegister},${this.descendingRegister}`,
      'indicia-signature': toBase64(mac),
    };
  }

  /** Takes the next challenge and the registers after a request the module accepted. */
  advance(
    challenge: string,
    registers: { ascendingRegisterMills: number; descendingRegisterMills: number },
  ): void {
    this.challenge = challenge;
    this.ascendingRegister = registers.ascendingRegisterMills;
    this.descendingRegister = registers.descendingRegisterMills;
  }
}

export interface EnrollmentBody {
  name: string;
  ephemeralPublicKey: string;
  clientChallenge: string;
  iv: string;
  encryptedHmk: string;
}

export interface EnrollmentAnswer {
  device: { id: string; name: string };
  challenge: string;
  confirmation: string;
  registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
}

/**
 * Prepares an enrollment: checks the enrollment key against the pinned fingerprint, makes the HMK
 * and encrypts it to the key (ECDH P-256, HKDF-SHA256, AES-256-GCM). `finish` checks the module's
 * confirmation — proof it holds the enrollment key — and returns the device.
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
  const hmk = await subtle().importKey('raw', hmkBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const encryptedHmk = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: text(ENROLL_INFO) },
    encryptionKey,
    hmkBytes,
  );
  const keptKey = options.keepKey === true ? toBase64(hmkBytes) : null;
  hmkBytes.fill(0);
  return {
    keptKey,
    body: {
      name,
      ephemeralPublicKey: toBase64(ephemeralPublicKey),
      clientChallenge: toBase64(clientChallenge),
      iv: toBase64(iv),
      encryptedHmk: toBase64(encryptedHmk),
    },
    async finish(answer) {
      const isAuthentic = await subtle().verify(
        'HMAC',
        confirmationKey,
        fromBase64(answer.confirmation),
        concat(text(CONFIRM_LABEL), clientChallenge, fromBase64(answer.challenge)),
      );
      if (!isAuthentic)
        throw new IndiciaClientError(
          'client.enrollment_not_confirmed',
          'The server did not prove it holds the enrollment key; do not use this device enrollment, and tell the operator.',
        );
      return new Device(answer.device.id, hmk, answer.challenge, answer.registers);
    },
  };
}
