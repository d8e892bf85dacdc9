import type { IndiciaClient } from './client.ts';
import type { Indicium, LabelAddress, PieceRequest, Receipt } from './types.ts';

export type LabelFormat = 'svg' | 'pdf' | 'png' | 'zpl';
export type LabelLayout = 'indicium' | 'envelope-10' | 'label-4x6' | 'sheet-label';

export interface LabelOptions {
  format?: LabelFormat;
  layout?: LabelLayout;
  symbology?: 'datamatrix' | 'pdf417';
  /** PNG resolution, 150–600 (300 unless given). */
  dpi?: number;
  /** Approved ad text (adTexts()) beside the indicium on an envelope. */
  ad?: string;
}

export interface AdText {
  id: string;
  lines: string[];
  createdAt: string;
}

export interface LabelSheet {
  serial: number;
  createdAt: string;
  labels: {
    serial: number;
    position: number;
    state: 'valid' | 'reserved' | 'used';
    indiciumId: string | null;
  }[];
}

export interface MailingList {
  id: string;
  name: string;
  state: 'review' | 'printing' | 'rendering' | 'printed';
  rows: number;
  errorRows: number;
  totalPostageMills: number;
  /** What the device signs to print the list. */
  digest: string;
  layout: string | null;
  progress: { pagesDone: number; pages: number };
  receiptId: string | null;
  failure: string | null;
  createdAt: string;
  printedAt: string | null;
}

export interface MailingListRow {
  row: number;
  /** The row checked and written the postal way, or null when it has errors. */
  piece: (LabelAddress & { postageMills: number; rateCategory: string }) | null;
  errors: { field: string; message: string }[] | null;
}

/** The fields of a list a CSV column may hold (docs/labels.md). */
export type MailingListField =
  | 'name'
  | 'company'
  | 'line1'
  | 'line2'
  | 'city'
  | 'state'
  | 'zip'
  | 'postage'
  | 'rateCategory'
  | 'rateClass'
  | 'weight';

interface SignedParts {
  receipt: Receipt;
  challenge: string;
  registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
}

/** Labels beyond the indicium's own: serialized sheets, previews, test prints, and mailing lists. */
export class PrintingApi {
  readonly #client: IndiciaClient;

  constructor(client: IndiciaClient) {
    this.#client = client;
  }

  /** A print preview of a piece: the real renderer on a sample, marked SAMPLE — NOT POSTAGE. */
  preview(piece: PieceRequest, options: Omit<LabelOptions, 'symbology'> = {}): Promise<string | Uint8Array> {
    return this.#client.file('POST', '/v1/labels/preview', { piece, ...options });
  }

  /** A test print (a PDF unless asked otherwise) to line printer and stock up; moves no value. */
  testPrint(options: Omit<LabelOptions, 'symbology'> = {}): Promise<string | Uint8Array> {
    return this.#client.file('POST', '/v1/labels/test-print', options);
  }

  /** Ad text the operator approved for envelopes. */
  async adTexts(): Promise<AdText[]> {
    return (await this.#client.request<{ adTexts: AdText[] }>('GET', '/v1/ad-texts')).adTexts;
  }

  /** (admin) Approves ad text for envelopes: 1–3 lines of up to 30 characters. */
  approveAdText(lines: string[]): Promise<AdText> {
    return this.#client.request('POST', '/v1/admin/ad-texts', { lines });
  }

  /** (admin) Withdraws ad text: no longer offered or printed. */
  async withdrawAdText(id: string): Promise<void> {
    await this.#client.request('DELETE', `/v1/admin/ad-texts/${encodeURIComponent(id)}`);
  }

  createLabelSheet(): Promise<LabelSheet> {
    return this.#client.request('POST', '/v1/label-sheets');
  }

  labelSheet(serial: number): Promise<LabelSheet> {
    return this.#client.request('GET', `/v1/label-sheets/${serial}`);
  }

  /** Prints postage on the sheet's next valid label (device-signed). */
  printOnSheet(
    serial: number,
    piece: PieceRequest,
  ): Promise<SignedParts & { indicium: Indicium; label: { serial: number; position: number } }> {
    return this.#client.signed('POST', `/v1/label-sheets/${serial}/print`, { piece });
  }

  /** Imports a CSV mailing list (UTF-8); every row is checked, nothing is printed or charged. */
  importMailingList(
    csv: string | Uint8Array,
    options: {
      name?: string;
      mapping?: Partial<Record<MailingListField, string>>;
      postageMills?: number;
      rateCategory?: string;
      /** Rows without a postage are rated by this class and their weight column. */
      rateClass?: string;
    } = {},
  ): Promise<MailingList> {
    const query = new URLSearchParams();
    if (options.name !== undefined) query.set('name', options.name);
    if (options.mapping !== undefined) query.set('mapping', JSON.stringify(options.mapping));
    if (options.postageMills !== undefined) query.set('postageMills', String(options.postageMills));
    if (options.rateCategory !== undefined) query.set('rateCategory', options.rateCategory);
    if (options.rateClass !== undefined) query.set('rateClass', options.rateClass);
    return this.#client
      .file('POST', `/v1/mailing-lists${query.size === 0 ? '' : `?${query.toString()}`}`, csv, 'text/csv')
      .then((text) => JSON.parse(String(text)) as MailingList);
  }

  mailingList(id: string): Promise<MailingList> {
    return this.#client.request('GET', `/v1/mailing-lists/${encodeURIComponent(id)}`);
  }

  /** A page of the list's rows (only those in error with `errorsOnly`); pass nextAfter for the next. */
  mailingListRows(
    id: string,
    page: { errorsOnly?: boolean; after?: number; limit?: number } = {},
  ): Promise<{ rows: MailingListRow[]; nextAfter: number | null }> {
    const query = new URLSearchParams();
    if (page.errorsOnly === true) query.set('errors', 'true');
    if (page.after !== undefined) query.set('after', String(page.after));
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    return this.#client.request(
      'GET',
      `/v1/mailing-lists/${encodeURIComponent(id)}/rows?${query.toString()}`,
    );
  }

  /**
   * Prints the reviewed list: one batch issuance, signed over the list's digest, piece count and
   * total; the PDF then renders on the server (watch `progress`, then fetch `mailingListPdf`).
   */
  printMailingList(
    list: Pick<MailingList, 'id' | 'digest' | 'rows' | 'totalPostageMills'>,
    options: { layout?: LabelLayout; mailingDate?: string; ad?: string } = {},
  ): Promise<
    SignedParts & {
      list: MailingList;
      issued: { pieces: number; totalPostageMills: number; firstIndiciumId: string; lastIndiciumId: string };
    }
  > {
    return this.#client.signed('POST', `/v1/mailing-lists/${encodeURIComponent(list.id)}/print`, {
      digest: list.digest,
      pieces: list.rows,
      totalPostageMills: list.totalPostageMills,
      ...options,
    });
  }

  /** Polls the list until its PDF is rendered, telling `onProgress` each time. */
  async waitForPdf(id: string, onProgress?: (list: MailingList) => void, pollMs = 250): Promise<MailingList> {
    for (;;) {
      const list = await this.mailingList(id);
      onProgress?.(list);
      if (list.state === 'printed') return list;
      if (list.failure !== null) throw new Error(`The list's PDF failed to render: ${list.failure}`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  async mailingListPdf(id: string): Promise<Uint8Array> {
    const pdf = await this.#client.file('GET', `/v1/mailing-lists/${encodeURIComponent(id)}/pdf`);
    if (typeof pdf === 'string') throw new Error('The server did not answer with a PDF.');
    return pdf;
  }
}
