import type { Mills } from '../money/index.ts';
import type { CryptoBackend } from './backend/crypto-backend.ts';
import { type EnrollmentRequest, type OpenedEnrollment, openEnrollment } from './client-protocol.ts';
import { controlCodeInput } from './module-commands.ts';
import { VaultError } from './vault-error.ts';

const DERIVED_SECRET_LABEL = 'indicia/derived-secret/v1\n';
/**
 * Record MACs use the checkpoint key under this prefix: checkpoint records begin 'ICKP' and rings
 * 'IRN', so no record MAC is ever a valid checkpoint's or ring's, nor theirs a record's.
 */
const RECORD_MAC_PREFIX = 'indicia/record-mac/v1\n';
const RECORD_LABEL = /^[a-z0-9][a-z0-9.-]{0,63}$/;

function recordMacInput(label: string, bytes: Buffer): Buffer {
  if (!RECORD_LABEL.test(label))
    throw new VaultError(
      'vault.wrong_state',
      `"${label}" is not a record MAC label: use 1 to 64 lower-case letters, digits, '.' or '-'.`,
    );
  return Buffer.concat([Buffer.from(`${RECORD_MAC_PREFIX}${label}\n`, 'utf8'), bytes]);
}

/**
 * What a module does with its domain keys besides PSD commands: MPSD control codes, device
 * enrollment (the ECDH enrollment key) and secrets derived from the control key. Every call needs
 * the crypto-user role, checked by `requireUser`.
 */
export class ModuleServices {
  readonly #backend: CryptoBackend;
  readonly #requireUser: () => void;

  constructor(backend: CryptoBackend, requireUser: () => void) {
    this.#backend = backend;
    this.#requireUser = requireUser;
  }

  /** MPSD control code: HMAC-SHA-256 over (id, AR, DR) under the module control key. */
  controlCode(id: string, ascendingRegister: Mills, descendingRegister: Mills): Promise<Buffer> {
    this.#requireUser();
    return this.#backend.mac('control', controlCodeInput(id, ascendingRegister, descendingRegister));
  }

  verifyControlCode(
    id: string,
    ascendingRegister: Mills,
    descendingRegister: Mills,
    code: Buffer,
  ): Promise<boolean> {
    this.#requireUser();
    return this.#backend.verifyMac(
      'control',
      controlCodeInput(id, ascendingRegister, descendingRegister),
      code,
    );
  }

  /** The device-enrollment public key (SPKI DER) clients pin. */
  enrollmentPublicKey(): Promise<Buffer> {
    this.#requireUser();
    return this.#backend.enrollmentPublicKey();
  }

  /** Decrypts a device's HMK sent to the enrollment key (client-protocol.ts). */
  openEnrollment(request: EnrollmentRequest): Promise<OpenedEnrollment> {
    this.#requireUser();
    return openEnrollment(this.#backend, request);
  }

  /**
   * A 32-byte secret for `label` (a webhook subscription's signing key), derived under the control
   * key whenever it is needed, so it is never stored. Labels are domain-separated from control codes.
   */
  deriveSecret(label: string): Promise<Buffer> {
    this.#requireUser();
    return this.#backend.mac('control', Buffer.from(`${DERIVED_SECRET_LABEL}${label}`, 'utf8'));
  }

  /**
   * A MAC over `bytes` for records kept outside the module (the audit log's anchors), under the
   * checkpoint key the database never sees, domain-separated by `label` (e.g. 'audit-anchor').
   */
  macRecord(label: string, bytes: Buffer): Promise<Buffer> {
    this.#requireUser();
    return this.#backend.mac('checkpoint', recordMacInput(label, bytes));
  }

  /** Constant-time check of a `macRecord` MAC. */
  verifyRecordMac(label: string, bytes: Buffer, mac: Buffer): Promise<boolean> {
    this.#requireUser();
    return this.#backend.verifyMac('checkpoint', recordMacInput(label, bytes), mac);
  }
}
