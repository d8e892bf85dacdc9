import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * What labels print besides the indicium (the addresses of a piece, approved ad text), serialized
 * label stock (sheets of ten numbered labels, each printable once), and mailing lists.
 */
export const migration0010: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('piece_addresses')
      .addColumn('indicium_id', 'text', (column) => column.primaryKey().references('indicia.id'))
      .addColumn('from_address', 'text')
      .addColumn('to_address', 'text')
      // A mailing list's piece: the list and its row.
      .addColumn('list_id', 'text')
      .addColumn('row_number', 'integer')
      .execute();
    await db.schema
      .createIndex('piece_addresses_list')
      .on('piece_addresses')
      .columns(['list_id', 'row_number'])
      .execute();

    await db.schema
      .createTable('label_sheets')
      .addColumn('serial', 'bigint', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('created_at', 'text', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('sheet_labels')
      .addColumn('label_serial', 'bigint', (column) => column.primaryKey())
      .addColumn('sheet_serial', 'bigint', (column) => column.notNull().references('label_sheets.serial'))
      .addColumn('position', 'integer', (column) => column.notNull())
      // valid → reserved (an issuance is under way; used_at holds when) → used (in the issuing
      // commit); reserved → valid when that issuance fails, or after 10 minutes (a crash).
      .addColumn('state', 'text', (column) => column.notNull())
      .addColumn('indicium_id', 'text')
      .addColumn('used_at', 'text')
      .execute();
    await db.schema
      .createIndex('sheet_labels_sheet')
      .on('sheet_labels')
      .columns(['sheet_serial', 'position'])
      .unique()
      .execute();

    // Ad text the operator approved for printing beside the indicium on envelopes.
    await db.schema
      .createTable('ad_texts')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('lines', 'text', (column) => column.notNull())
      .addColumn('approved_by', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('withdrawn_at', 'text')
      .execute();

    await db.schema
      .createTable('mailing_lists')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('state', 'text', (column) => column.notNull())
      .addColumn('row_count', 'integer', (column) => column.notNull())
      .addColumn('error_count', 'integer', (column) => column.notNull())
      .addColumn('total_postage_mills', 'bigint', (column) => column.notNull())
      .addColumn('digest', 'text', (column) => column.notNull())
      .addColumn('layout', 'text')
      .addColumn('ad_text_id', 'text')
      .addColumn('pages_done', 'integer', (column) => column.notNull())
      .addColumn('receipt_id', 'text')
      .addColumn('failure', 'text')
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('printed_at', 'text')
      .execute();
    await db.schema
      .createTable('mailing_list_rows')
      .addColumn('list_id', 'text', (column) => column.notNull().references('mailing_lists.id'))
      .addColumn('row_number', 'integer', (column) => column.notNull())
      .addColumn('piece', 'text')
      .addColumn('errors', 'text')
      .addPrimaryKeyConstraint('mailing_list_rows_pk', ['list_id', 'row_number'])
      .execute();
  },
};
