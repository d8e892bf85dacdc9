import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../store/index.ts';
import { PrintingError } from './printing-error.ts';

export interface AdText {
  readonly id: string;
  readonly lines: string[];
  readonly createdAt: string;
}

/** Lines of ad text, and characters a line: what fits beside the indicium on a #10 envelope. */
export const AD_TEXT_LIMITS = { lines: 3, characters: 30 } as const;

/**
 * Ad text printed beside the indicium on envelopes: only text the operator approved (an admin
 * adds it; withdrawn text is no longer offered or printed). Customers choose among it.
 */
export class AdTexts {
  private readonly db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.db = db;
  }

  async approve(lines: readonly string[], approvedBy: string): Promise<AdText> {
    const cleaned = lines.map((line) => line.trim().replace(/\s+/g, ' ')).filter((line) => line !== '');
    if (cleaned.length === 0 || cleaned.length > AD_TEXT_LIMITS.lines)
      throw new PrintingError('label.ad_invalid', `Ad text has 1 to ${AD_TEXT_LIMITS.lines} lines.`);
    for (const line of cleaned)
      if (line.length > AD_TEXT_LIMITS.characters || !/^[\x20-\x7e]*$/.test(line))
        throw new PrintingError(
          'label.ad_invalid',
          `"${line.slice(0, 40)}": an ad line has at most ${AD_TEXT_LIMITS.characters} printable ASCII characters.`,
        );
    const text = { id: `adt_${randomUUID()}`, lines: cleaned, createdAt: new Date().toISOString() };
    await this.db
      .insertInto('ad_texts')
      .values({
        id: text.id,
        lines: JSON.stringify(cleaned),
        approved_by: approvedBy,
        created_at: text.createdAt,
        withdrawn_at: null,
      })
      .execute();
    return text;
  }

  async withdraw(id: string): Promise<void> {
    const result = await this.db
      .updateTable('ad_texts')
      .set({ withdrawn_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('withdrawn_at', 'is', null)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) throw unknown(id);
  }

  async approved(): Promise<AdText[]> {
    const rows = await this.db
      .selectFrom('ad_texts')
      .selectAll()
      .where('withdrawn_at', 'is', null)
      .orderBy('created_at')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      lines: JSON.parse(row.lines) as string[],
      createdAt: row.created_at,
    }));
  }

  /** The lines of approved ad text `id`, or `label.ad_unknown`. */
  async lines(id: string): Promise<string[]> {
    const row = await this.db
      .selectFrom('ad_texts')
      .select('lines')
      .where('id', '=', id)
      .where('withdrawn_at', 'is', null)
      .executeTakeFirst();
    if (row === undefined) throw unknown(id);
    return JSON.parse(row.lines) as string[];
  }
}

const unknown = (id: string): PrintingError =>
  new PrintingError(
    'label.ad_unknown',
    `There is no approved ad text ${id.slice(0, 60)} (GET /v1/ad-texts lists the approved ones).`,
  );
