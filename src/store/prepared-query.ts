import { type Compilable, type Kysely, createQueryId } from 'kysely';
import type { DatabaseSchema } from './schema.ts';

/**
 * A query Kysely builds and compiles once per database, then runs with new parameter values.
 * Building a query (its operation tree, then SQL) costs 30–60 µs for a join of a dozen columns;
 * the statements every request runs (the session lookup, the customer's meter) need not pay it.
 * `build` makes the query with placeholder values; `run` passes the real ones in the order the
 * SQL names them (the order of the builder's value calls) — the count is checked. For reads: a
 * plugin that records statements as they are compiled (captureWrites) would see only the first run.
 *
 * @example const byId = preparedQuery((db) => db.selectFrom('meters').selectAll().where('meter_id', '=', '')); await byId(db, [meterId]);
 */
export function preparedQuery<Row>(
  build: (db: Kysely<DatabaseSchema>) => Compilable<Row>,
): (db: Kysely<DatabaseSchema>, parameters: readonly unknown[]) => Promise<Row[]> {
  const compiled = new WeakMap<Kysely<DatabaseSchema>, ReturnType<Compilable<Row>['compile']>>();
  return async (db, parameters) => {
    let query = compiled.get(db);
    if (query === undefined) {
      query = build(db).compile();
      compiled.set(db, query);
    }
    if (query.parameters.length !== parameters.length)
      throw new Error(
        `a prepared query takes ${query.parameters.length} parameters, not ${parameters.length}: ${query.sql}`,
      );
    const result = await db.executeQuery<Row>({ ...query, parameters, queryId: createQueryId() });
    return result.rows;
  };
}
