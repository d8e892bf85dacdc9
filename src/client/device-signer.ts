import { IndiciaApiError } from './api-error.ts';
import { type Device, type EnrollmentAnswer, prepareEnrollment, prepareRenewal } from './device.ts';
import type { DeviceRecord } from './types.ts';

/** What every signed answer ends with: the device's next challenge and the registers after. */
export interface SignedAnswer {
  challenge: string;
  registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
}

/** The requests the signer sends through its client. */
export interface DeviceTransport {
  request<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  enrollmentKey(): Promise<{ publicKey: string }>;
  deviceRecord(id: string): Promise<DeviceRecord>;
}

/** Answers a load balancer gives when a server stopped or died: the request may be sent again. */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);
/** A server's own answers that another server (or this one in a moment) may not give. */
const RETRYABLE_CODES = new Set(['service.not_ready', 'store.unavailable']);
const FIRST_RETRY_MS = 100;
const LONGEST_RETRY_MS = 2_000;

/**
 * Whether a failed signed request may be sent again with its Idempotency-Key: the connection
 * failed or was cut (fetch rejects with a TypeError), or a 502/503/504 came from a proxy (no
 * Indicia error code) or says the server cannot serve now. A server's refusal (a declined card,
 * a failed payment processor: 502 payment.failed) is its answer, and is not sent again.
 */
function isRetryable(error: unknown): boolean {
  if (!(error instanceof IndiciaApiError)) return error instanceof TypeError;
  if (!RETRYABLE_STATUSES.has(error.status)) return false;
  return (
    typeof error.code !== 'string' || error.code === 'http.unexpected' || RETRYABLE_CODES.has(error.code)
  );
}

/**
 * One client's device and the order of its signed requests: they go one at a time, each taking
 * the challenge the one before left, and the key is renewed first when it nears its end.
 */
export class DeviceSigner {
  device: Device | undefined;
  readonly #transport: DeviceTransport;
  readonly #renewWithinDays: number;
  #turns: Promise<unknown> = Promise.resolve();
  /** False once the server refused this client's credentials a renewal (an API key's scopes). */
  #canRenew = true;

  readonly #retries: number;

  constructor(transport: DeviceTransport, renewWithinDays: number, retries = 0) {
    this.#transport = transport;
    this.#renewWithinDays = renewWithinDays;
    this.#retries = retries;
  }

  async enroll(name: string, pinnedFingerprint: string, keepKey: boolean): Promise<Device> {
    const prepared = await prepareEnrollment(name, await this.#transport.enrollmentKey(), pinnedFingerprint, {
      keepKey,
    });
    const answer = await this.#transport.request<EnrollmentAnswer>('POST', '/v1/devices', prepared.body);
    this.device = await prepared.finish(answer);
    return this.device;
  }

  #enrolled(): Device {
    if (this.device === undefined)
      throw new Error('Enroll a device first (enrollDevice): value-moving requests are signed.');
    return this.device;
  }

  /** Takes the device's chain and life span as the server holds them. */
  async sync(): Promise<void> {
    const device = this.#enrolled();
    const record = await this.#transport.deviceRecord(device.id);
    if (record.challenge !== null) device.advance(record.challenge, record.registers);
    device.learn(record);
  }

  renew(pinnedFingerprint?: string): Promise<DeviceRecord> {
    return this.#inTurn(() => this.#renew(pinnedFingerprint));
  }

  async #renew(pinnedFingerprint?: string): Promise<DeviceRecord> {
    const device = this.#enrolled();
    const fingerprint = pinnedFingerprint ?? device.fingerprint;
    if (fingerprint === null)
      throw new Error('Give the pinned enrollment key fingerprint: this device was stored without it.');
    const prepared = await prepareRenewal(device, await this.#transport.enrollmentKey(), fingerprint);
    const path = `/v1/devices/${encodeURIComponent(device.id)}/renewal`;
    const headers = await device.headers('POST', path, prepared.body);
    // The new key exists only here until the answer arrives: a lost answer is asked for again.
    headers['idempotency-key'] = `renewal-${globalThis.crypto.randomUUID()}`;
    let answer: EnrollmentAnswer;
    try {
      answer = await this.#transport.request<EnrollmentAnswer>('POST', path, prepared.body, headers);
    } catch (error) {
      if (error instanceof IndiciaApiError) throw error;
      answer = await this.#transport.request<EnrollmentAnswer>('POST', path, prepared.body, headers);
    }
    await prepared.finish(answer);
    device.fingerprint = fingerprint;
    return answer.device;
  }

  /**
   * Sends a signed request, and again with the same headers (its Idempotency-Key and signature)
   * after a connection error or a 502/503/504, at most `retries` more times, waiting 0.1 s
   * doubling to 2 s (with jitter) in between. The last error is thrown.
   */
  async #withRetries<T>(send: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await send();
      } catch (error) {
        if (attempt >= this.#retries || !isRetryable(error)) throw error;
        const wait = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
        await new Promise((resolve) => setTimeout(resolve, wait * (0.8 + Math.random() * 0.4)));
      }
    }
  }

  /** Runs `work` after this client's signed requests before it, whatever their outcome. */
  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#turns.then(work, work);
    this.#turns = turn.catch(() => undefined);
    return turn;
  }

  /** Renews the key first when it is due and this client may. */
  async #renewIfDue(device: Device): Promise<void> {
    if (device.fingerprint === null || this.#renewWithinDays <= 0 || !this.#canRenew) return;
    try {
      if (device.expiresAt === null) device.learn(await this.#transport.deviceRecord(device.id));
      if (device.isRenewalDue(new Date(), this.#renewWithinDays)) await this.#renew();
    } catch (error) {
      // A key without meter:read or devices:enroll cannot renew: sign on while the key lasts.
      if (!(error instanceof IndiciaApiError) || error.code !== 'account.forbidden') throw error;
      this.#canRenew = false;
    }
  }

  signed<T extends SignedAnswer>(
    method: string,
    path: string,
    body: unknown,
    idempotencyKey?: string,
  ): Promise<T> {
    return this.#inTurn(async () => {
      const device = this.#enrolled();
      await this.#renewIfDue(device);
      const headers = await device.headers(method, path, body);
      // Every signed request carries a key, so that one whose answer was lost is sent again
      // safely: the server answers a key it already ran with the stored answer, never twice.
      headers['idempotency-key'] = idempotencyKey ?? `sdk-${globalThis.crypto.randomUUID()}`;
      const answer = await this.#withRetries(() => this.#transport.request<T>(method, path, body, headers));
      // An answer without a challenge (a refund request left pending) moved nothing: the module
      // never saw the signature, so the device signs its next request with the same challenge.
      if (typeof answer.challenge === 'string') device.advance(answer.challenge, answer.registers);
      return answer;
    });
  }
}
