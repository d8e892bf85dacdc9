import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type Store, StoreError, copyDatabase, migrateToLatest, openStore } from '../../src/store/index.ts';
import { dialectFixtures, type FreshDatabase } from '../support/dialects.ts';

const fixtureOf = (name: string) => {
  const fixture = dialectFixtures.find((candidate) => candidate.name === name);
  if (fixture === undefined) throw new Error(`no ${name} fixture`);
  return fixture;
};
const opened: { store: Store; fresh: FreshDatabase }[] = [];

after(async () => {
  for (const { store, fresh } of opened.reverse()) {
    await store.close();
    await fresh.dispose();
  }
});

async function open(name: 'sqlite' | 'postgres', { migrated }: { migrated: boolean }): Promise<Store> {
  const fresh = await fixtureOf(name).freshDatabase();
  const store = await openStore(fresh.target);
  opened.push({ store, fresh });
  if (migrated) await migrateToLatest(store.db, store.location);
  return store;
}

async function tableNames(store: Store): Promise<string[]> {
  return (await store.db.introspection.getTables({ withInternalKyselyTables: true }))
    .filter((table) => table.schema === undefined || table.schema === 'public')
    .map((table) => table.name)
    .sort();
}

const refusedWith = (code: string, message: RegExp) => (error: unknown) => {
  assert.ok(error instanceof StoreError, String(error));
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
};

describe('copyDatabase (SQLite → PostgreSQL)', () => {
  it('copies every table in batches, integers exact, and the verifier sees both sides', async () => {
    const source = await open('sqlite', { migrated: true });
    const target = await open('postgres', { migrated: false });
    const now = new Date().toISOString();
    const facts = Array.from({ length: 1_234 }, (_, index) => ({
      key: `fact-${String(index).padStart(5, '0')}`,
      value: `value ${index}`,
      updated_at: now,
    }));
    await source.db.insertInto('installation').values(facts).execute();
    // The largest integer a mills column may hold, and the seeded allocators replaced by the source's.
    await sql`update number_allocators set next_number = ${Number.MAX_SAFE_INTEGER} where name = 'customer-number'`.execute(
      source.db,
    );
    let verifiedRows = 0;
    const report = await copyDatabase(source, target, {
      batchSize: 100,
      verify: async ({ target: copied }) => {
        verifiedRows = (await copied.selectFrom('installation').select('key').execute()).length;
      },
    });
    assert.equal(verifiedRows, facts.length);
    assert.equal(report.tables.find((table) => table.name === 'installation')?.rows, facts.length);
    assert.ok(report.tables.some((table) => table.name === 'module_log'));
    assert.ok(
      report.tables.findIndex((table) => table.name === 'meters') <
        report.tables.findIndex((table) => table.name === 'indicia'),
      'referenced tables first',
    );
    const allocators = await target.db.selectFrom('number_allocators').selectAll().orderBy('name').execute();
    const expected = await source.db.selectFrom('number_allocators').selectAll().orderBy('name').execute();
    assert.deepEqual(allocators, expected);
    assert.equal(
      allocators.find((row) => row.name === 'customer-number')?.next_number,
      Number.MAX_SAFE_INTEGER,
    );
    const head = await target.db.selectFrom('audit_heads').selectAll().execute();
    assert.deepEqual(head, await source.db.selectFrom('audit_heads').selectAll().execute());
  });

  it('refuses a target that has any table, and leaves it as it was', async () => {
    const source = await open('sqlite', { migrated: true });
    const target = await open('postgres', { migrated: false });
    await sql`create table notes (body text)`.execute(target.db);
    await sql`insert into notes (body) values ('keep me')`.execute(target.db);
    await assert.rejects(
      copyDatabase(source, target),
      refusedWith('store.target_not_empty', /is not empty: it has tables \(notes\)\. Nothing was changed/),
    );
    assert.deepEqual(await tableNames(target), ['notes']);
    const { rows } = await sql<{ body: string }>`select body from notes`.execute(target.db);
    assert.deepEqual(rows, [{ body: 'keep me' }]);
  });

  it('refuses a table or a column only the source has, and leaves the target empty', async () => {
    const source = await open('sqlite', { migrated: true });
    const target = await open('postgres', { migrated: false });
    await sql`create table stray_notes (body text)`.execute(source.db);
    await assert.rejects(
      copyDatabase(source, target),
      refusedWith('store.copy_failed', /the source has a table stray_notes the target lacks/),
    );
    assert.deepEqual(await tableNames(target), []);
    await sql`drop table stray_notes`.execute(source.db);
    await sql`alter table module_log add column stray_note text`.execute(source.db);
    await assert.rejects(
      copyDatabase(source, target),
      refusedWith('store.copy_failed', /table module_log has the columns .*stray_note.* in the source but /),
    );
    assert.deepEqual(await tableNames(target), []);
  });

  it('refuses a value the target column cannot hold exactly, after earlier tables were copied', async () => {
    const source = await open('sqlite', { migrated: true });
    const target = await open('postgres', { migrated: false });
    // SQLite keeps text in a BIGINT column; PostgreSQL must not get a guess.
    await sql`update number_allocators set next_number = 'many' where name = 'customer-number'`.execute(
      source.db,
    );
    await assert.rejects(
      copyDatabase(source, target),
      refusedWith(
        'store.copy_failed',
        /number_allocators\.next_number holds a string value the target's int8 column/,
      ),
    );
    assert.deepEqual(await tableNames(target), []);
  });

  it('rolls everything back when the verifier refuses the copy', async () => {
    const source = await open('sqlite', { migrated: true });
    const target = await open('postgres', { migrated: false });
    await assert.rejects(
      copyDatabase(source, target, {
        verify: () => Promise.reject(new StoreError('store.copy_not_verified', 'not what was sent')),
      }),
      refusedWith('store.copy_not_verified', /not what was sent/),
    );
    assert.deepEqual(await tableNames(target), []);
    // The source was held only for the copy: it takes writes again.
    await source.db
      .insertInto('installation')
      .values({ key: 'after', value: 'x', updated_at: 'now' })
      .execute();
  });
});
