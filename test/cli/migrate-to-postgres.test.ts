import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { runIndicia, serveIndicia } from '../support/cli-process.ts';
import { dialectFixtures, type FreshDatabase } from '../support/dialects.ts';

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');
const MOVE_TIMEOUT_MS = 120_000;
const disposals: FreshDatabase[] = [];

after(async () => {
  for (const database of disposals) await database.dispose();
});

async function freshPostgresUrl(): Promise<string> {
  if (postgres === undefined) throw new Error('the PostgreSQL dialect fixture is missing');
  const database = await postgres.freshDatabase();
  disposals.push(database);
  if (database.target.dialect !== 'postgres') throw new Error('expected a PostgreSQL database');
  return database.target.url;
}

/** Every table of the database's public schema with its row count. */
async function tableCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
    );
    const counts: Record<string, number> = {};
    for (const { table_name: table } of rows) {
      const result = await client.query<{ count: string }>(`select count(*) as count from "${table}"`);
      counts[table] = Number(result.rows[0]?.count);
    }
    return counts;
  } finally {
    await client.end();
  }
}

function sqliteCount(file: string, table: string): number {
  const database = new DatabaseSync(file);
  try {
    return Number((database.prepare(`select count(*) as count from ${table}`).get() as { count: number }).count);
  } finally {
    database.close();
  }
}

async function issue(meterId: string, count: number, at: string[], env: Record<string, string> = {}) {
  const issued = await runIndicia(
    ['meters', 'issue', meterId, '--postage', '0.73', '--rate', 'FC', '--count', String(count), ...at],
    env,
  );
  assert.equal(issued.status, 0, issued.stderr);
  return issued.stdout;
}

describe('indicia migrate --to postgres://… (moving an embedded installation to PostgreSQL)', () => {
  it('copies everything, verifies it on arrival, and the server carries on on PostgreSQL', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-move-')), 'data');
    const at = ['--data-dir', dataDir];
    const url = await freshPostgresUrl();
    // SQLite: the first start creates the demo accounts and meter; then a meter of our own,
    // funded, with pieces issued.
    const server = await serveIndicia([...at, '--port', '0']);
    let meterId: string;
    try {
      const created = await runIndicia(['meters', 'create', '--customer', '1001', '--zip', '94107', '--max-dr', '500.00', ...at]);
      assert.equal(created.status, 0, created.stderr);
      meterId = /Meter (\S+) created/.exec(created.stdout)?.[1] ?? '';
      assert.equal((await runIndicia(['meters', 'fund', meterId, '100.00', ...at])).status, 0);
      assert.match(await issue(meterId, 3, at), /AR \$2\.19 DR \$97\.81/);

      const whileRunning = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
      assert.equal(whileRunning.status, 1);
      assert.match(whileRunning.stderr, /the server is running .*stop it first \(pid \d+\)/);
      assert.deepEqual(await tableCounts(url), {}, 'a refused move writes nothing');
    } finally {
      await server.stop();
    }
    const sqliteFile = join(dataDir, 'indicia.sqlite');
    const sourceIndicia = sqliteCount(sqliteFile, 'indicia');

    const moved = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stdout, /^Copied \d+ tables and \d+ rows from .*indicia\.sqlite to postgres:\/\//);
    assert.match(moved.stdout, /audit hash chain intact: [1-9]\d* event\(s\)/);
    assert.match(moved.stdout, /protected module log verified .*: [1-9]\d* record\(s\)/);
    assert.match(moved.stdout, /2 meter\(s\); all \d+ sealed package\(s\) \(meters' and the authority's\) open in the module with the source's registers \(AR \$2\.19, DR \$97\.81 in total\)/);
    assert.match(moved.stdout, /module checkpoint\(s\) identical/);
    assert.match(moved.stdout, /INDICIA_DATABASE_URL=.* indicia serve --data-dir /);

    const arrived = await tableCounts(url);
    for (const table of ['accounts', 'meters', 'meter_fundings', 'indicia', 'module_log', 'audit_events', 'audit_head', 'psd_packages', 'crypto_modules', 'number_allocators']) {
      assert.equal(arrived[table], sqliteCount(sqliteFile, table), `rows of ${table}`);
    }
    assert.equal(arrived['indicia'], sourceIndicia);

    // A second move onto the same (now full) database is refused and changes nothing.
    const again = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /is not empty: it holds an Indicia installation already .*Nothing was changed/);
    assert.deepEqual(await tableCounts(url), arrived);

    // The server on PostgreSQL, same data directory (its modules): the same meter prints on.
    const env = { INDICIA_DATABASE_URL: url };
    const onPostgres = await serveIndicia([...at, '--port', '0'], env);
    try {
      assert.match(onPostgres.output(), /postgres/i);
      assert.match(await issue(meterId, 2, at, env), /AR \$3\.65 DR \$96\.35/);
      const shown = await runIndicia(['meters', 'show', meterId, ...at], env);
      assert.match(shown.stdout, /AR \$3\.65 {2}DR \$96\.35/);
      const reconciled = await runIndicia(['reconcile', ...at], env, MOVE_TIMEOUT_MS);
      assert.equal(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
      assert.match(reconciled.stdout, /all balanced/);
    } finally {
      await onPostgres.stop();
    }
    assert.equal((await tableCounts(url))['indicia'], sourceIndicia + 2);
  });

  it('a failure in the middle of the copy leaves the target empty; fixed, the move goes through', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-move-fail-')), 'data');
    const at = ['--data-dir', dataDir];
    const url = await freshPostgresUrl();
    const server = await serveIndicia([...at, '--port', '0']);
    await server.stop();
    // A row SQLite kept only because foreign keys were off when it was written: PostgreSQL
    // refuses it after the tables before it in the order are copied.
    const sqliteFile = join(dataDir, 'indicia.sqlite');
    const database = new DatabaseSync(sqliteFile);
    database.exec('pragma foreign_keys = off');
    database.exec(
      "insert into meter_fundings (id, meter_id, amount_mills, source, package_sequence, created_at) values ('orphan-funding', 'NO-SUCH-METER', 1000, 'test', 1, '2026-01-01T00:00:00.000Z')",
    );
    database.close();

    const failed = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /copying table meter_fundings to postgres:\/\/.* failed after 0 row\(s\): .*foreign key.*the target was left as empty as it was/);
    assert.deepEqual(await tableCounts(url), {}, 'no table, no row: the migrations rolled back with the copy');

    const fix = new DatabaseSync(sqliteFile);
    fix.exec("delete from meter_fundings where id = 'orphan-funding'");
    fix.close();
    const moved = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stdout, /Verified on arrival/);
  });
});
