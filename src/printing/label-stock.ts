import { randomInt } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DatabaseSchema, SheetLabelState } from '../store/index.ts';
import { SHEET } from '../labels/index.ts';
import { PrintingError } from './printing-error.ts';

/** Serials are random 12-digit numbers (they fit the indicium's 40-bit label serial field). */
const newSerial = (): number => randomInt(100_000_000_000, 999_999_999_999);

export interface SheetView {
  readonly serial: number;
  readonly createdAt: string;
  readonly labels: {
    readonly serial: number;
    readonly position: number;
    readonly state: SheetLabelState;
    readonly indiciumId: string | null;
  }[];
}

/** Where a label sits: its sheet and its place on it (1–10, row by row). */
export interface LabelPlace {
  readonly labelSerial: number;
  readonly sheetSerial: number;
  readonly position: number;
}

/** A reservation older than this was left by an issuance that never finished (a crash). */
const RESERVATION_MS = 10 * 60_000;
const abandonedBefore = (): string => new Date(Date.now() - RESERVATION_MS).toISOString();

const unknownLabel = (serial: number): PrintingError =>
  new PrintingError(
    'label.serial_unknown',
    `There is no label ${serial} on your sheets: check the number printed on the label.`,
  );

/**
 * Serialized label stock: sheets of ten numbered stamp labels. The server keeps which labels are
 * still valid; printing reserves one (so two requests cannot both print on it), the issuing commit
 * marks it used with its indicium, and a failed issuance puts it back.
 */
export class LabelStock {
  private readonly db: Kysely<DatabaseSchema>;
  private readonly drawSerial: () => number;

  /** `drawSerial` is for tests that make draws collide; serials are random otherwise. */
  constructor(db: Kysely<DatabaseSchema>, drawSerial: () => number = newSerial) {
    this.db = db;
    this.drawSerial = drawSerial;
  }

  /**
   * A new sheet of ten valid labels for the account. A random serial that is taken already is
   * drawn again: the inserts skip conflicting rows (ON CONFLICT DO NOTHING) rather than fail, so
   * the transaction stays usable on PostgreSQL.
   */
  async createSheet(accountId: string): Promise<SheetView> {
    const createdAt = new Date().toISOString();
    const serial = await this.db.transaction().execute(async (trx) => {
      let sheetSerial: number | undefined;
      while (sheetSerial === undefined) {
        const inserted = await trx
          .insertInto('label_sheets')
          .values({ serial: this.drawSerial(), account_id: accountId, created_at: createdAt })
          .onConflict((conflict) => conflict.column('serial').doNothing())
          .returning('serial')
          .executeTakeFirst();
        sheetSerial = inserted?.serial;
      }
      let positions = Array.from({ length: SHEET.labels }, (_, index) => index + 1);
      while (positions.length > 0) {
        const inserted = await trx
          .insertInto('sheet_labels')
          .values(
            positions.map((position) => ({
              label_serial: this.drawSerial(),
              sheet_serial: sheetSerial,
              position,
              state: 'valid' as const,
              indicium_id: null,
              used_at: null,
            })),
          )
          .onConflict((conflict) => conflict.column('label_serial').doNothing())
          .returning('position')
          .execute();
        const placed = new Set(inserted.map((row) => row.position));
        positions = positions.filter((position) => !placed.has(position));
      }
      return sheetSerial;
    });
    return this.sheet(accountId, serial);
  }

  async sheet(accountId: string, serial: number): Promise<SheetView> {
    const sheet = await this.db
      .selectFrom('label_sheets')
      .selectAll()
      .where('serial', '=', serial)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    if (sheet === undefined)
      throw new PrintingError('label.sheet_unknown', `There is no label sheet ${serial} on your account.`);
    const labels = await this.db
      .selectFrom('sheet_labels')
      .selectAll()
      .where('sheet_serial', '=', serial)
      .orderBy('position')
      .execute();
    return {
      serial,
      createdAt: sheet.created_at,
      labels: labels.map((label) => ({
        serial: label.label_serial,
        position: label.position,
        state: label.state,
        indiciumId: label.indicium_id,
      })),
    };
  }

  async sheets(accountId: string): Promise<{ serial: number; createdAt: string; validLabels: number }[]> {
    const rows = await this.db
      .selectFrom('label_sheets')
      .leftJoin('sheet_labels', (join) =>
        join
          .onRef('sheet_labels.sheet_serial', '=', 'label_sheets.serial')
          .on('sheet_labels.state', '=', 'valid'),
      )
      .select(['label_sheets.serial', 'label_sheets.created_at'])
      .select((eb) => eb.fn.count<number>('sheet_labels.label_serial').as('valid'))
      .where('label_sheets.account_id', '=', accountId)
      .groupBy(['label_sheets.serial', 'label_sheets.created_at'])
      .orderBy('label_sheets.created_at', 'desc')
      .execute();
    return rows.map((row) => ({
      serial: row.serial,
      createdAt: row.created_at,
      validLabels: row.valid,
    }));
  }

  /** Reserves this label for an issuance, or refuses an unknown (or another account's) or used one. */
  async reserve(accountId: string, labelSerial: number): Promise<LabelPlace> {
    const label = await this.db
      .selectFrom('sheet_labels')
      .innerJoin('label_sheets', 'label_sheets.serial', 'sheet_labels.sheet_serial')
      .select(['sheet_labels.sheet_serial', 'sheet_labels.position', 'sheet_labels.state'])
      .where('sheet_labels.label_serial', '=', labelSerial)
      .where('label_sheets.account_id', '=', accountId)
      .executeTakeFirst();
    if (label === undefined) throw unknownLabel(labelSerial);
    const taken = await this.db
      .updateTable('sheet_labels')
      .set({ state: 'reserved', used_at: new Date().toISOString() })
      .where('label_serial', '=', labelSerial)
      .where((eb) =>
        eb.or([
          eb('state', '=', 'valid'),
          // An issuance cut short by a crash left its reservation behind: take it over.
          eb.and([eb('state', '=', 'reserved'), eb('used_at', '<', abandonedBefore())]),
        ]),
      )
      .executeTakeFirst();
    if (taken.numUpdatedRows !== 1n)
      throw new PrintingError(
        'label.serial_used',
        `Label ${labelSerial} (sheet ${label.sheet_serial}, position ${label.position}) has already been printed; a label is printable once. Use another label.`,
      );
    return { labelSerial, sheetSerial: label.sheet_serial, position: label.position };
  }

  /**
   * The sheet's next valid label (which the issuance then reserves: two requests racing for it get
   * one print and one `label.serial_used`), or a refusal for an exhausted sheet.
   */
  async nextValid(accountId: string, sheetSerial: number): Promise<LabelPlace> {
    const sheet = await this.sheet(accountId, sheetSerial);
    const label = sheet.labels.find((candidate) => candidate.state === 'valid');
    if (label === undefined)
      throw new PrintingError(
        'label.sheet_exhausted',
        `Every label of sheet ${sheetSerial} has been printed; start a new sheet (POST /v1/label-sheets).`,
      );
    return { labelSerial: label.serial, sheetSerial, position: label.position };
  }

  /** Inside the issuing commit: the label is used, by this indicium. */
  async markUsed(trx: Transaction<DatabaseSchema>, labelSerial: number, indiciumId: string): Promise<void> {
    await trx
      .updateTable('sheet_labels')
      .set({ state: 'used', indicium_id: indiciumId, used_at: new Date().toISOString() })
      .where('label_serial', '=', labelSerial)
      .where('state', '=', 'reserved')
      .execute();
  }

  /** The issuance failed: the label is valid again. */
  async release(labelSerial: number): Promise<void> {
    await this.db
      .updateTable('sheet_labels')
      .set({ state: 'valid', used_at: null })
      .where('label_serial', '=', labelSerial)
      .where('state', '=', 'reserved')
      .execute();
  }

  /** Where a printed label sits, for drawing its indicium onto the right place of the sheet. */
  async placeOf(labelSerial: number): Promise<LabelPlace | undefined> {
    const label = await this.db
      .selectFrom('sheet_labels')
      .select(['sheet_serial', 'position'])
      .where('label_serial', '=', labelSerial)
      .executeTakeFirst();
    return label === undefined
      ? undefined
      : { labelSerial, sheetSerial: label.sheet_serial, position: label.position };
  }
}
