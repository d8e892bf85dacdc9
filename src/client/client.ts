import { IndiciaApiError } from './api-error.ts';
import type { Device, StoredDevice } from './device.ts';
import { DeviceSigner, type SignedAnswer } from './device-signer.ts';
import { type LabelOptions, PrintingApi } from './printing-api.ts';
import { VerificationApi } from './verification-api.ts';
import { type RefundRequest, RefundsApi } from './refunds-api.ts';
import type { AddressRequest, AddressVerification } from './types.ts';
import type {
  Account,
  AdminMeter,
  MeterWithRegisters,
  ModulesStatus,
  Reconciliation,
  Role,
  ApiKey,
  ApiKeyScope,
  Card,
  DeviceRecord,
  CorrectionResult,
  ErrorBody,
  FundsResult,
  IndiciaResult,
  IndiciumRecord,
  Licence,
  Meter,
  PieceRequest,
  Receipt,
  RefundResult,
  Registration,
  ScanResult,
  Webhook,
  WebhookDelivery,
  WebhookEventName,
  Session,
} from './types.ts';

export interface ClientOptions {
  /** e.g. https://postage.example.com (no trailing slash needed). */
  readonly baseUrl: string;
  /** An API key (`ik_…`) for integrations; omit to sign in with a password instead. */
  readonly apiKey?: string;
  /** Another fetch (tests, proxies); the global one by default. */
  readonly fetch?: typeof fetch;
  /**
   * Renew the device key automatically before a signed request once it is within this many days
   * of its end (or in the last quarter of its life, when that is shorter); 30 by default, 0: never.
   */
  readonly renewDeviceWithinDays?: number;
  /**
   * How many times a signed (value-moving) request is sent again, with the same Idempotency-Key,
   * after a connection error or a 502, 503 or 504 answer (a load balancer's, when a server stopped
   * or died); 6 by default (about 5 s in all), 0: never. The server runs a key once: a request
   * that did commit is answered with its stored answer.
   */
  readonly retries?: number;
}

const SESSION_COOKIE = 'indicia_session';

/**
 * The typed client of the Indicia API. With an API key it sends `Authorization: Bearer`; after
 * `signIn` it keeps the session cookie and sends the CSRF token on every state-changing request,
 * as a browser would. Every error answer is thrown as an {@link IndiciaApiError}.
 *
 * @example
 * const client = new IndiciaClient({ baseUrl: 'http://127.0.0.1:8080' });
 * await client.signIn('customer@demo.indicia.test', password);
 * const meter = await client.meter();
 */
export class IndiciaClient {
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  #apiKey: string | undefined;
  /** `cookie` is null in a browser, which keeps the HttpOnly cookie itself (and hides it from us). */
  #session: { cookie: string | null; csrfToken: string } | undefined;
  #deviceCookie: string | undefined;
  readonly #signer: DeviceSigner;

  constructor(options: ClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Bound: a browser refuses fetch called as a method of another object ("Illegal invocation").
    this.#fetch = options.fetch ?? fetch.bind(globalThis);
    this.#apiKey = options.apiKey;
    this.#signer = new DeviceSigner(this, options.renewDeviceWithinDays ?? 30, options.retries ?? 6);
  }

  /** Whether requests carry a session (after signIn) or an API key. */
  get isAuthenticated(): boolean {
    return this.#session !== undefined || this.#apiKey !== undefined;
  }

  /** Who is asking: the API key, or the session cookie and (when changing something) its CSRF token. */
  #credentials(method: string): Record<string, string> {
    if (this.#apiKey !== undefined) return { authorization: `Bearer ${this.#apiKey}` };
    const session = this.#session;
    if (session === undefined) return {};
    const headers: Record<string, string> = {};
    if (session.cookie !== null) headers['cookie'] = `${SESSION_COOKIE}=${session.cookie}`;
    if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = session.csrfToken;
    return headers;
  }

  /** Sends one request; parses JSON answers; throws IndiciaApiError for error answers. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const sent: Record<string, string> = {
      accept: 'application/json',
      ...headers,
      ...this.#credentials(method),
    };
    if (body !== undefined) sent['content-type'] = 'application/json';
    const response = await this.#fetch(`${this.#baseUrl}${path}`, {
      method,
      headers: sent,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const parsed: unknown =
      text === ''
        ? undefined
        : response.headers.get('content-type')?.includes('json')
          ? JSON.parse(text)
          : text;
    if (!response.ok) {
      const error = (parsed as Partial<ErrorBody> | undefined)?.error;
      throw new IndiciaApiError(
        response.status,
        error ?? {
          code: 'http.unexpected',
          message: `HTTP ${response.status}`,
          requestId: response.headers.get('x-request-id') ?? '',
        },
      );
    }
    return parsed as T;
  }

  /** Sign-up; the account cannot use its meter until the e-mailed token is confirmed. */
  register(registration: Registration): Promise<{ account: Account; licence: Licence }> {
    return this.request('POST', '/v1/accounts', registration);
  }

  verifyEmail(token: string): Promise<{ account: Account }> {
    return this.request('POST', '/v1/email-verifications', { token });
  }

  /** A new verification e-mail for an unconfirmed account; answers alike for any address. */
  async resendEmailVerification(email: string): Promise<void> {
    await this.request('POST', '/v1/email-verifications/resend', { email });
  }

  /** Signs in with a password; later requests carry the session and its CSRF token. */
  async signIn(email: string, password: string): Promise<{ account: Account; session: Session }> {
    const sent = { email, password };
    const response = await this.#fetch(`${this.#baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        // A known device gets past an account lockout that strangers' failures caused.
        ...(this.#deviceCookie === undefined ? {} : { cookie: `indicia_device=${this.#deviceCookie}` }),
      },
      body: JSON.stringify(sent),
    });
    const body = (await response.json()) as { account: Account; session: Session } | ErrorBody;
    if ('error' in body) throw new IndiciaApiError(response.status, body.error);
    // Outside a browser we keep the cookies; a browser keeps them itself and never shows them.
    const setCookie = response.headers.get('set-cookie') ?? '';
    const cookie = /indicia_session=([^;]*)/.exec(setCookie)?.[1] ?? null;
    this.#deviceCookie = /indicia_device=([^;]*)/.exec(setCookie)?.[1] ?? this.#deviceCookie;
    this.#apiKey = undefined;
    this.#session = { cookie, csrfToken: body.session.csrfToken };
    return body;
  }

  async signOut(): Promise<void> {
    await this.request('DELETE', '/v1/sessions/current');
    this.#session = undefined;
  }

  async account(): Promise<Account> {
    return (await this.request<{ account: Account }>('GET', '/v1/account')).account;
  }

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.request('POST', '/v1/password', { currentPassword, newPassword });
  }

  async requestPasswordReset(email: string): Promise<void> {
    await this.request('POST', '/v1/password-resets', { email });
  }

  async resetPassword(token: string, newPassword: string): Promise<void> {
    await this.request('POST', '/v1/password-resets/confirm', { token, newPassword });
  }

  /** A new API key; `key` is shown only here. */
  createApiKey(name: string, scopes: ApiKeyScope[]): Promise<{ apiKey: ApiKey; key: string }> {
    return this.request('POST', '/v1/api-keys', { name, scopes });
  }

  async apiKeys(): Promise<ApiKey[]> {
    return (await this.request<{ apiKeys: ApiKey[] }>('GET', '/v1/api-keys')).apiKeys;
  }

  async revokeApiKey(id: string): Promise<void> {
    await this.request('DELETE', `/v1/api-keys/${encodeURIComponent(id)}`);
  }

  meter(): Promise<Meter> {
    return this.request('GET', '/v1/meter');
  }

  /** The installation's device-enrollment key; compare its fingerprint with the one you were given. */
  enrollmentKey(): Promise<{ algorithm: string; publicKey: string; fingerprint: string }> {
    return this.request('GET', '/v1/devices/enrollment-key');
  }

  /**
   * Enrolls this client as one more of the meter's devices (up to 16; each signs on its own
   * challenge chain, so several clients print at once): its HMAC key goes to the module encrypted
   * to the enrollment key, which must match `pinnedFingerprint`; the module must prove it holds
   * that key. Value-moving calls of this client are signed with it from then on.
   */
  enrollDevice(name: string, pinnedFingerprint: string): Promise<Device> {
    return this.#signer.enroll(name, pinnedFingerprint, false);
  }

  /** Like {@link enrollDevice}, and returns the HMK (base64) to keep the device between runs: guard it as a private key. */
  async enrollStoredDevice(name: string, pinnedFingerprint: string): Promise<StoredDevice> {
    const stored = (await this.#signer.enroll(name, pinnedFingerprint, true)).stored();
    if (stored === null) throw new Error('The enrolled device kept no key to store.');
    return stored;
  }

  /** Signs from now on with a device restored from storage (Device.restore). */
  useDevice(device: Device): void {
    this.#signer.device = device;
  }

  /** The enrolled device, if any. */
  get device(): Device | undefined {
    return this.#signer.device;
  }

  /** The meter's devices: each one's status, challenge, registers and key life span. */
  async devices(): Promise<DeviceRecord[]> {
    return (await this.request<{ devices: DeviceRecord[] }>('GET', '/v1/devices')).devices;
  }

  deviceRecord(id: string): Promise<DeviceRecord> {
    return this.request('GET', `/v1/devices/${encodeURIComponent(id)}`);
  }

  /** Revokes one of the meter's devices: the module drops its key and refuses its requests. */
  revokeDevice(id: string): Promise<DeviceRecord> {
    return this.request('DELETE', `/v1/devices/${encodeURIComponent(id)}`);
  }

  /**
   * Takes this device's current challenge and registers, as the module holds them, and its key's
   * life span: after a request whose answer was lost. Check the registers before you trust them.
   */
  async syncDevice(): Promise<Meter> {
    const [meter] = await Promise.all([this.meter(), this.#signer.sync()]);
    return meter;
  }

  /**
   * Renews this device's key now (seed 004's key renewal): a new HMK sealed to the enrollment key
   * (pinned by `pinnedFingerprint`, or the one the device enrolled against), sent signed with the
   * current key. Signed requests do this themselves when the key nears its end.
   */
  renewDevice(pinnedFingerprint?: string): Promise<DeviceRecord> {
    return this.#signer.renew(pinnedFingerprint);
  }

  /**
   * A value-moving request, signed by the device; the device takes the next challenge from the
   * answer. A client's signed requests go one at a time (its device has one challenge); renewal
   * comes first when the key nears its end.
   */
  signed<T extends SignedAnswer>(
    method: string,
    path: string,
    body: unknown,
    idempotencyKey?: string,
  ): Promise<T> {
    return this.#signer.signed<T>(method, path, body, idempotencyKey);
  }

  /** Adds postage to the meter, paid by card (the server's SANDBOX processor takes test cards only). */
  addFunds(amountMills: number, card: Card, options: { idempotencyKey?: string } = {}): Promise<FundsResult> {
    return this.signed(
      'POST',
      '/v1/funds',
      { amountMills, paymentMethod: { type: 'card', ...card } },
      options.idempotencyKey,
    );
  }

  /** Prints postage: one indicium per piece, in one signed request. */
  issueIndicia(pieces: PieceRequest[], options: { idempotencyKey?: string } = {}): Promise<IndiciaResult> {
    return this.signed('POST', '/v1/indicia', { pieces }, options.idempotencyKey);
  }

  /** Confirms the password during a long print; a wrong one ends the session (and printing). */
  async recheckPassword(password: string): Promise<void> {
    await this.request('POST', '/v1/sessions/current/password-check', { password });
  }

  /**
   * Prints a mailing list of any length in requests of up to 1,000 pieces. When the server asks
   * for the password again (every few thousand pieces of a browser session), `askPassword` is
   * called and the password checked; a wrong one ends the session and this throws, having printed
   * only what the results before it hold. `onProgress` hears each request's indicia.
   */
  async printMailingList(
    pieces: PieceRequest[],
    options: { askPassword: () => Promise<string>; onProgress?: (printed: number, total: number) => void },
  ): Promise<IndiciaResult[]> {
    const results: IndiciaResult[] = [];
    let printed = 0;
    for (let start = 0; start < pieces.length;) {
      const chunk = pieces.slice(start, start + 1_000);
      try {
        const result = await this.issueIndicia(chunk);
        results.push(result);
        start += chunk.length;
        printed += result.indicia.length;
        options.onProgress?.(printed, pieces.length);
      } catch (error) {
        if (!(error instanceof IndiciaApiError) || error.code !== 'account.password_check_required')
          throw error;
        await this.recheckPassword(await options.askPassword());
      }
    }
    return results;
  }

  /**
   * Asks for a refund of a piece under your plan's policy: credited at once (spoilage cap: the
   * answer has `refund` and the receipt) or pending until staff decide (review window: only
   * `refundRequest`; `client.refunds` follows it). Device-signed when a device is enrolled.
   */
  refundIndicium(id: string): Promise<RefundResult | { refundRequest: RefundRequest }> {
    const path = `/v1/indicia/${encodeURIComponent(id)}/refund`;
    if (this.#signer.device === undefined) return this.request('POST', path);
    return this.signed<RefundResult>('POST', path, undefined);
  }

  /** A correction indicium for more postage or another mailing date (device-signed). */
  correctIndicium(
    id: string,
    correction: { postageMills?: number; mailingDate?: string },
  ): Promise<CorrectionResult> {
    return this.signed('POST', `/v1/indicia/${encodeURIComponent(id)}/correction`, correction);
  }

  /** A page of your indicia, newest first; pass nextCursor for the next page. */
  indicia(
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ indicia: IndiciumRecord[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    if (page.cursor !== undefined) query.set('cursor', page.cursor);
    const suffix = query.size === 0 ? '' : `?${query.toString()}`;
    return this.request('GET', `/v1/indicia${suffix}`);
  }

  indicium(id: string): Promise<IndiciumRecord> {
    return this.request('GET', `/v1/indicia/${encodeURIComponent(id)}`);
  }

  /** A verifier's scan of barcode bytes (staff roles); the scan is recorded. */
  /** A verifier's scan (the verifier role only): recorded, so the same piece twice is a duplicate. */
  verify(indicium: string): Promise<ScanResult> {
    return this.request('POST', '/v1/verify', { indicium });
  }

  /** Subscribes a URL to events; `secret` (shown only here) verifies each delivery's signature. */
  createWebhook(url: string, events: WebhookEventName[]): Promise<{ webhook: Webhook; secret: string }> {
    return this.request('POST', '/v1/webhooks', { url, events });
  }

  async webhooks(): Promise<Webhook[]> {
    return (await this.request<{ webhooks: Webhook[] }>('GET', '/v1/webhooks')).webhooks;
  }

  async deleteWebhook(id: string): Promise<void> {
    await this.request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`);
  }

  async webhookDeliveries(id: string): Promise<WebhookDelivery[]> {
    return (
      await this.request<{ deliveries: WebhookDelivery[] }>(
        'GET',
        `/v1/webhooks/${encodeURIComponent(id)}/deliveries`,
      )
    ).deliveries;
  }

  /** The printable label: SVG or ZPL text, PDF or PNG bytes, in a layout (docs/labels.md). */
  label(id: string, options: LabelOptions = {}): Promise<string | Uint8Array> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(options))
      if (value !== undefined) query.set(name, String(value));
    return this.file(
      'GET',
      `/v1/indicia/${encodeURIComponent(id)}/label${query.size === 0 ? '' : `?${query.toString()}`}`,
    );
  }

  /** A request answered by a file (PDF, PNG as bytes; else text); a body other than JSON needs `contentType`. */
  async file(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<string | Uint8Array> {
    const headers = this.#credentials(method);
    if (body !== undefined) headers['content-type'] = contentType;
    let sent: string | Uint8Array<ArrayBuffer> | undefined;
    if (body !== undefined)
      sent =
        contentType === 'application/json'
          ? JSON.stringify(body)
          : (body as string | Uint8Array<ArrayBuffer>);
    const response = await this.#fetch(`${this.#baseUrl}${path}`, {
      method,
      headers,
      ...(sent === undefined ? {} : { body: sent }),
    });
    if (!response.ok) {
      const answer = (await response.json()) as ErrorBody;
      throw new IndiciaApiError(response.status, answer.error);
    }
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('application/json')) return response.text();
    return type.startsWith('application/pdf') || type.startsWith('image/png')
      ? new Uint8Array(await response.arrayBuffer())
      : response.text();
  }

  /** Standardizes and checks an address (USPS Publication 28, the server's address provider). */
  verifyAddress(address: AddressRequest): Promise<AddressVerification> {
    return this.request('POST', '/v1/addresses/verify', address);
  }

  /** Serialized label sheets, previews and test prints, and mailing lists. */
  get printing(): PrintingApi {
    return new PrintingApi(this);
  }

  /** Refund policy and requests; staff review them here. */
  get refunds(): RefundsApi {
    return new RefundsApi(this);
  }

  /** The public check, the authority's certificates and CRLs, revenue protection. */
  get verification(): VerificationApi {
    return new VerificationApi(this);
  }

  receipt(id: string): Promise<Receipt> {
    return this.request('GET', `/v1/receipts/${encodeURIComponent(id)}`);
  }

  // Operators (admin, support, auditor, crypto-officer as each route allows).

  adminModules(): Promise<ModulesStatus> {
    return this.request('GET', '/v1/admin/modules');
  }

  async adminMeters(customerNumber?: number): Promise<AdminMeter[]> {
    const query = customerNumber === undefined ? '' : `?customerNumber=${customerNumber}`;
    return (await this.request<{ meters: AdminMeter[] }>('GET', `/v1/admin/meters${query}`)).meters;
  }

  adminMeter(meterId: string): Promise<MeterWithRegisters> {
    return this.request('GET', `/v1/admin/meters/${encodeURIComponent(meterId)}`);
  }

  /** Suspends, resumes or (over suspected fraud) disables a meter; answers with it afterwards. */
  changeMeter(
    meterId: string,
    action: 'suspend' | 'resume' | 'disable',
    reason?: string,
  ): Promise<MeterWithRegisters> {
    return this.request(
      'POST',
      `/v1/admin/meters/${encodeURIComponent(meterId)}/${action}`,
      reason === undefined ? {} : { reason },
    );
  }

  async adminPools(): Promise<Reconciliation['pools']> {
    return (await this.request<{ pools: Reconciliation['pools'] }>('GET', '/v1/admin/pools')).pools;
  }

  reconcile(): Promise<Reconciliation> {
    return this.request('POST', '/v1/admin/reconciliations');
  }

  async createStaffAccount(account: {
    email: string;
    name: string;
    role: Exclude<Role, 'customer'>;
    password: string;
  }): Promise<Account> {
    return (await this.request<{ account: Account }>('POST', '/v1/admin/accounts', account)).account;
  }

  /** The certificate authority's certificate, PEM. */
  caCertificate(): Promise<string> {
    return this.request('GET', '/v1/authority/ca');
  }

  certificate(serial: string): Promise<string> {
    return this.request('GET', `/v1/certificates/${encodeURIComponent(serial)}`);
  }
}
