import type { DatabaseSync } from 'node:sqlite';
import { type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const STATEMENT_CACHE_SIZE = 256;

function toSqliteValue(value: unknown): SQLInputValue {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value as SQLInputValue;
}

/**
 * Adapts `node:sqlite`'s synchronous DatabaseSync to the interface Kysely's SqliteDialect drives
 * (the better-sqlite3 shape), with a small cache of prepared statements.
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #database: DatabaseSync;
  readonly #statements = new Map<string, { statement: StatementSync; isReader: boolean }>();

  constructor(database: DatabaseSync) {
    this.#database = database;
  }

  prepare(sql: string): SqliteStatement {
    let cached = this.#statements.get(sql);
    if (cached === undefined) {
      const statement = this.#database.prepare(sql);
      cached = { statement, isReader: statement.columns().length > 0 };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next();
        if (oldest.done !== true) this.#statements.delete(oldest.value);
      }
      this.#statements.set(sql, cached);
    }
    const { statement, isReader } = cached;
    return {
      reader: isReader,
      // node:sqlite rows have a null prototype; plain objects keep both dialects alike.
      all: (parameters) => statement.all(...parameters.map(toSqliteValue)).map((row) => ({ ...row })),
      run: (parameters) => statement.run(...parameters.map(toSqliteValue)),
      iterate: (parameters) =>
        Iterator.from(statement.iterate(...parameters.map(toSqliteValue))).map((row) => ({ ...row })),
    };
  }

  close(): void {
    this.#statements.clear();
    if (this.#database.isOpen) this.#database.close();
  }
}
