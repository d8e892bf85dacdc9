import type { IndiciaClient } from './client.ts';

/** What a barcode says, field by field (docs/indicium-format.md). */
export interface IndiciumFields {
  version: number;
  algorithm: string;
  certificateSerial: string;
  meterNumber: string;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  postageMills: number;
  mailingDate: string;
  originZip: string;
  customerNumber: number;
  softwareId: number;
  labelSerial: number;
  rateCategory: string;
}

/** The public check's answer; nothing was recorded. */
export interface IndiciumCheck {
  genuine: boolean;
  outcome: string;
  reason: string | null;
  /** A verifier scanned this very indicium before. */
  seenBefore: boolean;
  indicium: IndiciumFields | null;
}

export type RevocationReason =
  | 'unspecified'
  | 'key-compromise'
  | 'affiliation-changed'
  | 'superseded'
  | 'cessation-of-operation'
  | 'certificate-hold'
  | 'privilege-withdrawn';

/** A report a duplicate, implausible or unknown scan filed for the authority. */
export interface RevenueProtectionReport {
  id: string;
  scanId: string;
  outcome: string;
  reason: string;
  meterId: string | null;
  indiciumId: string | null;
  customerNumber: number | null;
  verifier: string;
  policy: string;
  action: string;
  actionDetail: string | null;
  createdAt: string;
}

/** Checking indicia, the authority's certificates and CRLs, and revenue protection. */
export class VerificationApi {
  readonly #client: IndiciaClient;

  constructor(client: IndiciaClient) {
    this.#client = client;
  }

  /** Anyone: is this indicium (base64 barcode bytes) genuine? Records nothing. */
  check(indicium: string): Promise<IndiciumCheck> {
    return this.#client.request('GET', `/v1/public/verify?indicium=${encodeURIComponent(indicium)}`);
  }

  /** Every CA generation's certificate, PEM, oldest first. */
  caCertificates(): Promise<string> {
    return this.#client.request('GET', '/v1/authority/ca-certificates');
  }

  /** Each newer CA key certified by the one before it, PEM. */
  async crossCertificates(): Promise<string> {
    // None before the first roll-over: an empty answer, which request() gives as undefined.
    return (await this.#client.request<string | undefined>('GET', '/v1/authority/cross-certificates')) ?? '';
  }

  /** The CRLs, PEM, one per CA generation. */
  revocationLists(): Promise<string> {
    return this.#client.request('GET', '/v1/authority/crl');
  }

  /** Admins: revokes a meter certificate; a meter's current one also suspends the meter. */
  revokeCertificate(
    serial: string,
    reason: RevocationReason,
    note?: string,
  ): Promise<{ serial: string; meterId: string | null; meterSuspended: boolean }> {
    return this.#client.request(
      'POST',
      `/v1/admin/certificates/${encodeURIComponent(serial)}/revoke`,
      note === undefined ? { reason } : { reason, note },
    );
  }

  /** Staff: reports for the authority, newest first. */
  reports(
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ reports: RevenueProtectionReport[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    if (page.cursor !== undefined) query.set('cursor', page.cursor);
    const text = query.toString();
    return this.#client.request(
      'GET',
      `/v1/admin/revenue-protection-reports${text === '' ? '' : `?${text}`}`,
    );
  }
}
