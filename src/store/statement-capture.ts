import {
  CompiledQuery,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type Transaction,
  type UnknownRow,
} from 'kysely';

/** One statement a transaction wrote with, as compiled for its dialect: replay runs it again. */
export interface CapturedStatement {
  readonly sql: string;
  /** JSON-safe: bytes as { $bytes: base64 }, big integers as { $bigint: text }. */
  readonly parameters: readonly unknown[];
}

const WRITE_KINDS = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode']);
const WRITING_SQL = /^\s*(insert|update|delete|replace)\b/i;

function encodeParameter(value: unknown): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array)
    return { $bytes: Buffer.from(value).toString('base64') };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Date) return value.toISOString();
  return value;
}

function decodeParameter(value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object['$bytes'] === 'string') return Buffer.from(object['$bytes'], 'base64');
    if (typeof object['$bigint'] === 'string') return BigInt(object['$bigint']);
  }
  return value;
}

/**
 * Records every write statement run through the returned transaction (inserts, updates, deletes,
 * and raw SQL that writes), compiled as the database ran them, in order. Reads are not recorded.
 * The protected log keeps them beside the module record of the same commit, so a restore can write
 * the same rows again (an indicium, a receipt) after re-applying the register movements.
 *
 * @example const { trx: recorded, statements } = captureWrites(trx); await work(recorded);
 */
export function captureWrites<DB>(trx: Transaction<DB>): {
  trx: Transaction<DB>;
  statements: CapturedStatement[];
} {
  const statements: CapturedStatement[] = [];
  const executor = trx.getExecutor();
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      const compiled = WRITE_KINDS.has(node.kind)
        ? executor.compileQuery(node, queryId)
        : node.kind === 'RawNode'
          ? executor.compileQuery(node, queryId)
          : null;
      if (compiled !== null && (node.kind !== 'RawNode' || WRITING_SQL.test(compiled.sql)))
        statements.push({ sql: compiled.sql, parameters: compiled.parameters.map(encodeParameter) });
      return node;
    },
    transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return Promise.resolve(result);
    },
  };
  return { trx: trx.withPlugin(plugin), statements };
}

/** Runs captured statements again, in order, on `db` (a transaction of the same dialect). */
export async function runCapturedStatements(
  db: Pick<Kysely<unknown>, 'executeQuery'>,
  statements: readonly CapturedStatement[],
): Promise<void> {
  for (const statement of statements)
    await db.executeQuery(CompiledQuery.raw(statement.sql, statement.parameters.map(decodeParameter)));
}
