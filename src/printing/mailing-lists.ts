import { randomUUID } from 'node:crypto';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { WithinCommit } from '../custody/index.ts';
import type { LabelAddress, LayoutName, RenderPool } from '../labels/index.ts';
import { type IssuedIndicia, type PieceRequest, indiciaOfCommit } from '../meters/index.ts';
import type { DatabaseSchema, MailingListState, MailingListsTable } from '../store/index.ts';
import { type ImportRequest, type ListRow, digestOf, readListRows } from './mailing-list-import.ts';
import { writeListPdf } from './mailing-list-pdf.ts';
import type { ListPiece, RowError } from './mailing-list-rows.ts';
import { PrintingError } from './printing-error.ts';

/** Pieces one list may print: one module pass and one commit issue them all. */
export const MAX_LIST_PIECES = 10_000;

export interface MailingListView {
  readonly id: string;
  readonly name: string;
  readonly state: MailingListState;
  readonly rows: number;
  readonly errorRows: number;
  readonly totalPostageMills: number;
  /** What the device signs to print the list: SHA-256 (hex) of the canonical JSON of its pieces. */
  readonly digest: string;
  readonly layout: string | null;
  readonly progress: { readonly pagesDone: number; readonly pages: number };
  readonly receiptId: string | null;
  readonly failure: string | null;
  readonly createdAt: string;
  readonly printedAt: string | null;
}

/** What the device signed: the list as reviewed. A list changed since is refused. */
export interface PrintExpectation {
  readonly digest: string;
  readonly pieces: number;
  readonly totalPostageMills: number;
}

/** Issues the pieces in one module pass and commit, running `withinCommit` in that commit. */
export type IssueList = (pieces: PieceRequest[], withinCommit: WithinCommit) => Promise<IssuedIndicia>;

/** A list as the API shows it (also rebuilt by an idempotent replay). */
export const mailingListView = (row: MailingListsTable): MailingListView => ({
  id: row.id,
  name: row.name,
  state: row.state,
  rows: row.row_count,
  errorRows: row.error_count,
  totalPostageMills: row.total_postage_mills,
  digest: row.digest,
  layout: row.layout,
  progress: { pagesDone: row.pages_done, pages: row.row_count },
  receiptId: row.receipt_id,
  failure: row.failure,
  createdAt: row.created_at,
  printedAt: row.printed_at,
});

const INSERT_CHUNK = 500;

/**
 * Mailing lists: a CSV is imported and every row checked (errors kept per row), the customer
 * reviews it, then prints it all — one batch issuance (one module pass, one commit, which also
 * records each piece's addresses and row) and one multi-page PDF rendered after the commit, with
 * progress. A list with any row in error is not printed at all: never half-printed, half-charged.
 */
export class MailingLists {
  private readonly db: Kysely<DatabaseSchema>;
  private readonly directory: string;
  private readonly rendering = new Map<string, Promise<void>>();
  private isStopping = false;

  private readonly renderer: RenderPool;

  constructor(db: Kysely<DatabaseSchema>, directory: string, renderer: RenderPool) {
    this.db = db;
    this.directory = directory;
    this.renderer = renderer;
  }

  async importList(request: ImportRequest): Promise<MailingListView> {
    const name = request.name.trim().slice(0, 100) || 'Mailing list';
    const { rows, pieces, total } = await readListRows(request);
    const id = `ml_${randomUUID()}`;
    const errorCount = rows.filter((row) => row.errors !== null).length;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('mailing_lists')
        .values({
          id,
          account_id: request.accountId,
          name,
          state: 'review',
          row_count: rows.length,
          error_count: errorCount,
          total_postage_mills: total,
          digest: digestOf(pieces),
          layout: null,
          ad_text_id: null,
          pages_done: 0,
          receipt_id: null,
          failure: null,
          created_at: new Date().toISOString(),
          printed_at: null,
        })
        .execute();
      for (let start = 0; start < rows.length; start += INSERT_CHUNK)
        await trx
          .insertInto('mailing_list_rows')
          .values(
            rows.slice(start, start + INSERT_CHUNK).map((row) => ({
              list_id: id,
              row_number: row.row,
              piece: row.piece === null ? null : JSON.stringify(row.piece),
              errors: row.errors === null ? null : JSON.stringify(row.errors),
            })),
          )
          .execute();
    });
    return this.list(request.accountId, id);
  }

  async list(accountId: string, id: string): Promise<MailingListView> {
    const row = await this.db
      .selectFrom('mailing_lists')
      .selectAll()
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    if (row === undefined)
      throw new PrintingError('mailing_list.not_found', `There is no mailing list ${id.slice(0, 60)}.`);
    return mailingListView(row);
  }

  async lists(accountId: string): Promise<MailingListView[]> {
    const rows = await this.db
      .selectFrom('mailing_lists')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .limit(100)
      .execute();
    return rows.map(mailingListView);
  }

  /** A page of the list's rows for review: all of them, or only those in error. */
  async rows(
    accountId: string,
    id: string,
    page: { errorsOnly: boolean; after: number; limit: number },
  ): Promise<{ rows: ListRow[]; nextAfter: number | null }> {
    await this.list(accountId, id);
    let query = this.db
      .selectFrom('mailing_list_rows')
      .selectAll()
      .where('list_id', '=', id)
      .where('row_number', '>', page.after);
    if (page.errorsOnly) query = query.where('errors', 'is not', null);
    const found = await query
      .orderBy('row_number')
      .limit(page.limit + 1)
      .execute();
    const rows = found.slice(0, page.limit).map((row) => ({
      row: row.row_number,
      piece: row.piece === null ? null : (JSON.parse(row.piece) as ListPiece),
      errors: row.errors === null ? null : (JSON.parse(row.errors) as RowError[]),
    }));
    return { rows, nextAfter: found.length > page.limit ? (rows.at(-1)?.row ?? null) : null };
  }

  /**
   * Prints the whole list as reviewed: claims it (so a second request cannot print it again),
   * issues every piece in one module pass and commit — which also records each piece's addresses
   * and row and moves the list to `rendering` — then renders the PDF in the background.
   */
  async print(
    accountId: string,
    id: string,
    request: {
      expected: PrintExpectation;
      layout: LayoutName;
      from: LabelAddress;
      mailingDate?: string;
      /** Approved ad text (its id, already checked) printed beside each indicium on envelopes. */
      adTextId?: string;
    },
    issue: IssueList,
  ): Promise<{ list: MailingListView; issued: IssuedIndicia }> {
    const list = await this.list(accountId, id);
    if (list.state !== 'review')
      throw new PrintingError(
        'mailing_list.not_in_review',
        `Mailing list ${id} is ${list.state}; a list prints once.`,
      );
    if (list.errorRows > 0)
      throw new PrintingError(
        'mailing_list.has_errors',
        `${list.errorRows.toLocaleString('en-US')} of the list's ${list.rows.toLocaleString('en-US')} rows have errors (GET /v1/mailing-lists/${id}/rows?errors=true); correct the file and import it again. Nothing was printed or charged.`,
        { details: { errorRows: list.errorRows } },
      );
    const { expected } = request;
    if (
      expected.digest !== list.digest ||
      expected.pieces !== list.rows ||
      expected.totalPostageMills !== list.totalPostageMills
    )
      throw new PrintingError(
        'mailing_list.changed',
        'The request names another version of this list (digest, pieces or total postage differ): review the list again and sign what it shows.',
      );
    if (list.rows > MAX_LIST_PIECES)
      throw new PrintingError(
        'mailing_list.invalid',
        `One list prints at most ${MAX_LIST_PIECES.toLocaleString('en-US')} pieces; this one has ${list.rows.toLocaleString('en-US')}. Split it.`,
      );
    const claimed = await this.db
      .updateTable('mailing_lists')
      .set({ state: 'printing', layout: request.layout, ad_text_id: request.adTextId ?? null })
      .where('id', '=', id)
      .where('state', '=', 'review')
      .executeTakeFirst();
    if (claimed.numUpdatedRows !== 1n)
      throw new PrintingError('mailing_list.not_in_review', `Mailing list ${id} is already being printed.`);
    try {
      const pieces = await this.pieces(id);
      const fromJson = JSON.stringify(request.from);
      const issued = await issue(
        pieces.map((piece) => ({
          postage: piece.postageMills,
          rateCategory: piece.rateCategory,
          ...(request.mailingDate === undefined ? {} : { mailingDate: request.mailingDate }),
        })),
        async (trx, result) => {
          // The issuance has inserted the indicia in this commit, one per piece, in row order.
          const indicia = await indiciaOfCommit(trx, result, pieces.length);
          if (indicia.length !== pieces.length)
            throw new Error(`issued ${indicia.length} of ${pieces.length} pieces`);
          for (let start = 0; start < pieces.length; start += INSERT_CHUNK)
            await trx
              .insertInto('piece_addresses')
              .values(
                pieces.slice(start, start + INSERT_CHUNK).map((piece, offset) => ({
                  indicium_id: indicia[start + offset] ?? '',
                  from_address: fromJson,
                  to_address: JSON.stringify(addressOf(piece)),
                  list_id: id,
                  row_number: start + offset + 1,
                })),
              )
              .execute();
          await trx
            .updateTable('mailing_lists')
            .set({ state: 'rendering' })
            .where('id', '=', id)
            .where('state', '=', 'printing')
            .execute();
        },
      );
      if (issued.receipt !== null)
        await this.db
          .updateTable('mailing_lists')
          .set({ receipt_id: issued.receipt.id })
          .where('id', '=', id)
          .execute();
      this.startRendering(id);
      return { list: await this.list(accountId, id), issued };
    } catch (error) {
      await this.db
        .updateTable('mailing_lists')
        .set({ state: 'review', layout: null })
        .where('id', '=', id)
        .where('state', '=', 'printing')
        .execute();
      throw error;
    }
  }

  private async pieces(id: string): Promise<ListPiece[]> {
    const rows = await this.db
      .selectFrom('mailing_list_rows')
      .select('piece')
      .where('list_id', '=', id)
      .orderBy('row_number')
      .execute();
    return rows.map((row) => JSON.parse(row.piece ?? 'null') as ListPiece);
  }

  private startRendering(id: string): void {
    if (this.rendering.has(id)) return;
    const job = this.render(id)
      .catch(async (error: unknown) => {
        await this.db
          .updateTable('mailing_lists')
          .set({ failure: error instanceof Error ? error.message.slice(0, 500) : 'rendering failed' })
          .where('id', '=', id)
          .execute();
      })
      .finally(() => this.rendering.delete(id));
    this.rendering.set(id, job);
  }

  /** Waits for the lists being rendered. */
  async idle(): Promise<void> {
    await Promise.all(this.rendering.values());
  }

  /** At shutdown: rendering stops between batches, and starts again from the top at the next start. */
  async stop(): Promise<void> {
    this.isStopping = true;
    await this.idle();
  }

  /**
   * At start-up: lists a crash caught mid-print. One still `printing` issued nothing (the claim
   * and the issuance are separate commits, and the issuance moves it on): back to review. One in
   * `rendering` has its indicia committed: its PDF is rendered again from them.
   */
  async recover(): Promise<void> {
    await this.db
      .updateTable('mailing_lists')
      .set({ state: 'review', layout: null })
      .where('state', '=', 'printing')
      .execute();
    const rendering = await this.db
      .selectFrom('mailing_lists')
      .select('id')
      .where('state', '=', 'rendering')
      .execute();
    for (const row of rendering) this.startRendering(row.id);
  }

  /** The printed list's PDF file, or `mailing_list.not_printed`. */
  async pdfFile(accountId: string, id: string): Promise<{ path: string; bytes: number }> {
    const list = await this.list(accountId, id);
    if (list.state !== 'printed')
      throw new PrintingError(
        'mailing_list.not_printed',
        `Mailing list ${id} is ${list.state}${list.state === 'rendering' ? ` (${list.progress.pagesDone} of ${list.progress.pages} pages)` : ''}; its PDF is ready once it is printed.`,
      );
    const path = this.pdfPath(id);
    return { path, bytes: (await stat(path)).size };
  }

  private pdfPath(id: string): string {
    return join(this.directory, `${id}.pdf`);
  }

  private async render(id: string): Promise<void> {
    const list = await this.db
      .selectFrom('mailing_lists')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    await mkdir(this.directory, { recursive: true });
    const partial = `${this.pdfPath(id)}.part`;
    const pages = await writeListPdf(
      { db: this.db, renderer: this.renderer, isStopping: () => this.isStopping },
      list,
      partial,
    );
    if (pages === null) return;
    await rename(partial, this.pdfPath(id));
    await this.db
      .updateTable('mailing_lists')
      .set({ state: 'printed', printed_at: new Date().toISOString(), pages_done: pages })
      .where('id', '=', id)
      .execute();
  }
}

/** The delivery address of a list's piece, as its label prints it. */
const addressOf = (piece: ListPiece): LabelAddress => ({
  name: piece.name,
  company: piece.company,
  line1: piece.line1,
  line2: piece.line2,
  city: piece.city,
  state: piece.state,
  zip: piece.zip,
});
