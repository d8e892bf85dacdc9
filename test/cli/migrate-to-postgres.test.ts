import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { type ServingProcess, runIndicia, serveIndicia } from '../support/cli-process.ts';
import { dialectFixtures, type FreshDatabase } from '../support/dialects.ts';
import { findFreePort } from '../support/free-port.ts';

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
    return (database.prepare(`select count(*) as count from ${table}`).get() as { count: number }).count;
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

async function clientPrint(count: number, out: string, state: string[]): Promise<string> {
  const printed = await runIndicia([
    'client',
    'print',
    '--postage',
    '0.73',
    '--rate',
    'FC',
    '--count',
    String(count),
    '--out',
    out,
    ...state,
  ]);
  assert.equal(printed.status, 0, printed.stderr);
  return printed.stdout;
}

describe('indicia migrate --to postgres://… (moving an embedded installation to PostgreSQL)', () => {
  // One installation through the whole move, step by step (each step needs the one before).
  const folder = mkdtempSync(join(tmpdir(), 'indicia-move-'));
  const dataDir = join(folder, 'data');
  const at = ['--data-dir', dataDir];
  const sqliteFile = join(dataDir, 'indicia.sqlite');
  const state = ['--state', join(folder, 'client.json')];
  let url = '';
  let serveArgs: string[] = [];
  let meterId = '';
  let sourceIndicia = 0;
  let arrived: Record<string, number> = {};
  let server: ServingProcess | undefined;
  after(() => server?.stop());

  it('builds a SQLite installation: the demo customer enrolls, funds and prints through its server', async () => {
    url = await freshPostgresUrl();
    // The same port before and after: the customer's client keeps talking to "its" server.
    serveArgs = [...at, '--port', String(await findFreePort())];
    // The first start creates the demo accounts (operator, customer) and the customer's meter.
    server = await serveIndicia(serveArgs);
    const exported = /INDICIA_PASSWORD=(\S+) INDICIA_FINGERPRINT=(\S+)/.exec(server.output());
    assert.ok(exported?.[1] !== undefined && exported[2] !== undefined, server.output());
    const enrolled = await runIndicia(
      [
        'client',
        'enroll',
        '--url',
        server.url,
        '--email',
        'customer@demo.indicia.test',
        '--fingerprint',
        exported[2],
        ...state,
      ],
      { INDICIA_PASSWORD: exported[1] },
    );
    assert.equal(enrolled.status, 0, enrolled.stderr);
    const funded = await runIndicia([
      'client',
      'fund',
      '20.00',
      '--card',
      '4242424242424242',
      '--exp',
      '12/2099',
      '--cvc',
      '123',
      ...state,
    ]);
    assert.equal(funded.status, 0, funded.stderr);
    assert.match(await clientPrint(2, join(folder, 'before'), state), /AR \$1\.46, DR \$18\.54/);
  });

  it('adds a meter of the operator, funded, with pieces issued beside the running server', async () => {
    assert.ok(server !== undefined, 'the server runs');
    const created = await runIndicia([
      'meters',
      'create',
      '--customer',
      '1001',
      '--zip',
      '94107',
      '--max-dr',
      '500.00',
      ...at,
    ]);
    assert.equal(created.status, 0, created.stderr);
    meterId = /Meter (\S+) created/.exec(created.stdout)?.[1] ?? '';
    assert.equal((await runIndicia(['meters', 'fund', meterId, '100.00', ...at])).status, 0);
    assert.match(await issue(meterId, 3, at), /AR \$2\.19 DR \$97\.81/);
  });

  it('refuses to move beside the running server, writing nothing', async () => {
    assert.ok(server !== undefined && meterId !== '', 'the installation was built');
    const whileRunning = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(whileRunning.status, 1);
    assert.match(whileRunning.stderr, /the server is running .*stop it first \(pid \d+\)/);
    assert.deepEqual(await tableCounts(url), {}, 'a refused move writes nothing');
    await server.stop();
    server = undefined;
    sourceIndicia = sqliteCount(sqliteFile, 'indicia');
    assert.equal(sourceIndicia, 5);
  });

  it('moves it with registers, chain, module log and checkpoints verified on arrival', async () => {
    assert.ok(meterId !== '', 'the installation was built');
    const moved = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stdout, /^Copied \d+ tables and \d+ rows from .*indicia\.sqlite to postgres:\/\//);
    assert.match(moved.stdout, /audit hash chain intact: [1-9]\d* event\(s\)/);
    assert.match(moved.stdout, /protected module log verified .*: [1-9]\d* record\(s\)/);
    assert.match(
      moved.stdout,
      /2 meter\(s\); all \d+ sealed package\(s\) \(meters' and the authority's\) open in the module with the source's registers \(AR \$3\.65, DR \$116\.35 in total\)/,
    );
    assert.match(
      moved.stdout,
      /3 module checkpoint\(s\) identical; 3 module\(s\) compared their checkpoint rings with the copy/,
    );
    assert.ok(
      moved.stdout.includes(`INDICIA_DATABASE_URL='${url}' indicia serve --data-dir ${dataDir}\n`),
      moved.stdout,
    );
    assert.match(moved.stdout, /Recorded the move in .*database-moved\.json/);

    arrived = await tableCounts(url);
    for (const table of [
      'accounts',
      'api_keys',
      'devices',
      'card_payments',
      'meters',
      'meter_fundings',
      'indicia',
      'module_log',
      'audit_events',
      'audit_heads',
      'log_shipments',
      'psd_packages',
      'crypto_modules',
      'number_allocators',
    ]) {
      assert.equal(arrived[table], sqliteCount(sqliteFile, table), `rows of ${table}`);
    }
  });

  it('refuses, from then on, a start on the SQLite file and a second move, changing nothing', async () => {
    assert.ok(Object.keys(arrived).length > 0, 'the move went through');
    const movedAway =
      /this installation's database moved to PostgreSQL \(postgres:\/\/.*\) at \d{4}-.*: set INDICIA_DATABASE_URL/;
    const stale = await runIndicia(['serve', ...serveArgs]);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, movedAway);
    const again = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
    assert.equal(again.status, 1);
    assert.match(again.stderr, movedAway);
    assert.deepEqual(await tableCounts(url), arrived);
    assert.equal(sqliteCount(sqliteFile, 'indicia'), sourceIndicia);
  });

  it('carries on on PostgreSQL: the same meters print on through the server, registers continue, reconcile is clean', async () => {
    assert.ok(Object.keys(arrived).length > 0, 'the move went through');
    // Same data directory (its modules) and port, the database URL set.
    const env = { INDICIA_DATABASE_URL: url };
    const onPostgres = await serveIndicia(serveArgs, env);
    try {
      assert.match(await clientPrint(1, join(folder, 'after'), state), /AR \$2\.19, DR \$17\.81/);
      assert.match(await issue(meterId, 2, at, env), /AR \$3\.65 DR \$96\.35/);
      const shown = await runIndicia(['meters', 'show', meterId, ...at], env);
      assert.match(shown.stdout, /AR \$3\.65 {2}DR \$96\.35/);
      const reconciled = await runIndicia(['reconcile', ...at], env, MOVE_TIMEOUT_MS);
      assert.equal(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
      assert.match(reconciled.stdout, /2 meter\(s\), .* all balanced/);
    } finally {
      await onPostgres.stop();
    }
    assert.equal((await tableCounts(url))['indicia'], sourceIndicia + 3);
    assert.equal(sqliteCount(sqliteFile, 'indicia'), sourceIndicia, 'the SQLite file is left as it was');
  });

  describe('a move that fails', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-move-fail-')), 'data');
    const at = ['--data-dir', dataDir];
    const sqliteFile = join(dataDir, 'indicia.sqlite');
    let url = '';
    // The first audit event, by rowid: a chain column (migration 0018) may give several a sequence 1.
    let firstEvent = { rowid: 0, at: '' };
    const edit = (statements: string[]): void => {
      const database = new DatabaseSync(sqliteFile);
      try {
        for (const statement of statements) database.exec(statement);
      } finally {
        database.close();
      }
    };

    it('refuses a target that holds anything, as it is', async () => {
      url = await freshPostgresUrl();
      const server = await serveIndicia([...at, '--port', '0']);
      await server.stop();
      const database = new DatabaseSync(sqliteFile);
      firstEvent = database
        .prepare('select rowid, at from audit_events order by rowid limit 1')
        .get() as typeof firstEvent;
      database.close();
      const occupied = await freshPostgresUrl();
      const client = new pg.Client({ connectionString: occupied });
      await client.connect();
      await client.query("create table notes (body text); insert into notes values ('keep me')");
      await client.end();
      const refused = await runIndicia(['migrate', '--to', occupied, ...at], {}, MOVE_TIMEOUT_MS);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /is not empty: it has tables \(notes\)\. Nothing was changed/);
      assert.deepEqual(await tableCounts(occupied), { notes: 1 });
    });

    it('leaves the target empty when PostgreSQL refuses a row in the middle of the copy', async () => {
      assert.ok(firstEvent.at !== '', 'the installation was made');
      // A row SQLite kept only because foreign keys were off when it was written: PostgreSQL
      // refuses it after the tables before it in the order are copied.
      edit([
        'pragma foreign_keys = off',
        "insert into meter_fundings (id, meter_id, amount_mills, source, package_sequence, created_at) values ('orphan-funding', 'NO-SUCH-METER', 1000, 'test', 1, '2026-01-01T00:00:00.000Z')",
      ]);
      const failed = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
      assert.equal(failed.status, 1);
      assert.match(
        failed.stderr,
        /copying table meter_fundings to postgres:\/\/.* failed after 0 row\(s\): .*foreign key.*the target was left as empty as it was/,
      );
      assert.deepEqual(
        await tableCounts(url),
        {},
        'no table, no row: the migrations rolled back with the copy',
      );
    });

    it('leaves the target empty when the check on arrival refuses the copy', async () => {
      assert.ok(firstEvent.at !== '', 'the installation was made');
      // The row gone, but one audit event changed by hand: the copy arrives, its chain does not verify.
      edit([
        "delete from meter_fundings where id = 'orphan-funding'",
        `update audit_events set at = '2000-01-01T00:00:00.000Z' where rowid = ${firstEvent.rowid}`,
      ]);
      const tampered = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
      assert.equal(tampered.status, 1);
      assert.match(
        tampered.stderr,
        /the source's audit chain is broken at event \d+: .*Nothing was kept on the target \(the copy was rolled back\)/,
      );
      assert.deepEqual(await tableCounts(url), {});
    });

    it('goes through once the source is put right', async () => {
      assert.ok(firstEvent.at !== '', 'the installation was made');
      edit([`update audit_events set at = '${firstEvent.at}' where rowid = ${firstEvent.rowid}`]);
      const moved = await runIndicia(['migrate', '--to', url, ...at], {}, MOVE_TIMEOUT_MS);
      assert.equal(moved.status, 0, moved.stderr);
      assert.match(moved.stdout, /Verified on arrival/);
    });
  });

  it('says what is wrong with the call before it opens anything', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'indicia-move-usage-')), 'data');
    const notPostgres = await runIndicia(['migrate', '--to', 'mysql://db/indicia', '--data-dir', dataDir]);
    assert.equal(notPostgres.status, 2);
    assert.match(notPostgres.stderr, /--to needs a PostgreSQL URL/);
    const fromPostgres = await runIndicia(
      ['migrate', '--to', 'postgres://db/indicia', '--data-dir', dataDir],
      { INDICIA_DATABASE_URL: 'postgres://other/indicia' },
    );
    assert.equal(fromPostgres.status, 2);
    assert.match(fromPostgres.stderr, /the configured database is PostgreSQL already/);
    const nothing = await runIndicia(['migrate', '--to', 'postgres://db/indicia', '--data-dir', dataDir]);
    assert.equal(nothing.status, 1);
    assert.match(
      nothing.stderr,
      /There is no Indicia database in .*: give the --data-dir of the installation to move/,
    );
  });
});
