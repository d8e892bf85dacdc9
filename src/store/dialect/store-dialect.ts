import type { Dialect } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/**
 * What the store needs from a database dialect. One folder per implementation beneath this one
 * (`sqlite/`, `postgres/`); both pass the same contract suite in test/store/.
 */
export interface StoreDialect {
  readonly name: DialectName;
  /** Where the data lives, for messages; never contains a password. */
  readonly location: string;
  readonly kyselyDialect: Dialect;
  /** Stops what the dialect runs beside its connections (SQLite's WAL checkpointer), after them. */
  readonly close?: () => Promise<void>;
}

/** Where the database is: a SQLite file, or a PostgreSQL URL. */
export type DatabaseTarget = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };
