import { createWriteStream } from 'node:fs';
import type { Kysely } from 'kysely';
import { type LabelAddress, type LayoutName, PdfWriter, type RenderPool } from '../labels/index.ts';
import type { DatabaseSchema, MailingListsTable } from '../store/index.ts';

/**
 * Writes a printed list's PDF to `path`: a page per piece in row order, drawn 250 at a time on the
 * render threads from the committed indicia and their addresses, with the progress stored after
 * each batch. Returns the pages written, or null when told to stop (the file is then partial).
 */
export async function writeListPdf(
  {
    db,
    renderer,
    isStopping,
  }: {
    readonly db: Kysely<DatabaseSchema>;
    readonly renderer: RenderPool;
    readonly isStopping: () => boolean;
  },
  list: MailingListsTable,
  path: string,
): Promise<number | null> {
  const id = list.id;
  const layout = (list.layout ?? 'envelope-10') as LayoutName;
  // Ad text approved when the list was printed prints even if withdrawn since.
  const ad =
    list.ad_text_id === null
      ? undefined
      : await db.selectFrom('ad_texts').select('lines').where('id', '=', list.ad_text_id).executeTakeFirst();
  const adText = ad === undefined ? [] : (JSON.parse(ad.lines) as string[]);
  const file = createWriteStream(path);
  let failure: Error | undefined;
  file.on('error', (error) => {
    failure = error; // a full disk, say: reported when the file is closed
  });
  const close = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      file.end(() => (failure === undefined ? resolve() : reject(failure)));
    });
  const writer = new PdfWriter((chunk) => file.write(chunk));
  let after = 0;
  for (;;) {
    const batch = await db
      .selectFrom('piece_addresses')
      .innerJoin('indicia', 'indicia.id', 'piece_addresses.indicium_id')
      .select([
        'piece_addresses.row_number',
        'piece_addresses.from_address',
        'piece_addresses.to_address',
        'indicia.data',
      ])
      .where('piece_addresses.list_id', '=', id)
      .where('piece_addresses.row_number', '>', after)
      .orderBy('piece_addresses.row_number')
      .limit(250)
      .execute();
    if (batch.length === 0) break;
    if (isStopping()) {
      await close();
      return null;
    }
    // The pages are drawn on the render threads, all cores at once, and written in row order.
    const streams = await Promise.all(
      batch.map((row) =>
        renderer.pageStream({
          layout,
          contents: [
            {
              indicium: Buffer.from(row.data, 'base64'),
              from: row.from_address === null ? null : (JSON.parse(row.from_address) as LabelAddress),
              to: row.to_address === null ? null : (JSON.parse(row.to_address) as LabelAddress),
              adText,
            },
          ],
        }),
      ),
    );
    for (const stream of streams) writer.addStream(stream);
    after = batch.at(-1)?.row_number ?? after;
    await db.updateTable('mailing_lists').set({ pages_done: writer.pages }).where('id', '=', id).execute();
    // Let requests in between batches: the server answers while a long list renders.
    await new Promise((resolve) => setImmediate(resolve));
  }
  writer.finish();
  await close();
  return writer.pages;
}
