import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import {
  MIGRATION_TABLE,
  StoreError,
  appliedMigrationNames,
  knownMigrationNames,
  migrateToLatest,
  openStore,
} from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

function isStoreError(code: string) {
  return (error: unknown) => error instanceof StoreError && error.code === code;
}

interface AmountsSchema {
  amounts: { id: number; amount_mills: number };
}

async function createAmountsTable<DB>(db: Kysely<DB>): Promise<Kysely<AmountsSchema>> {
  await db.schema
    .createTable('amounts')
    .addColumn('id', 'integer', (column) => column.primaryKey())
    .addColumn('amount_mills', 'bigint', (column) => column.notNull())
    .execute();
  return db as unknown as Kysely<AmountsSchema>;
}

for (const fixture of dialectFixtures) {
  describe(`store contract on ${fixture.name}`, () => {
    it('migrates a new database to the latest schema, and a second run changes nothing', async () => {
      const fresh = await fixture.freshDatabase();
      const store = await openStore(fresh.target);
      try {
        const first = await migrateToLatest(store.db, store.location);
        assert.deepEqual(first.applied, knownMigrationNames());
        const second = await migrateToLatest(store.db, store.location);
        assert.deepEqual(second.applied, []);
        assert.deepEqual(await appliedMigrationNames(store.db), knownMigrationNames());
        assert.equal(store.dialect, fixture.name);
      } finally {
        await store.close();
        await fresh.dispose();
      }
    });

    it('stores 64-bit mills and reads them back as the same safe integers', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const db = await createAmountsTable(store.db);
        const values = [
          0,
          1,
          -1,
          730,
          500_000,
          Number.MAX_SAFE_INTEGER,
          -Number.MAX_SAFE_INTEGER,
          2 ** 40 + 7,
        ];
        await db
          .insertInto('amounts')
          .values(values.map((amount_mills, id) => ({ id, amount_mills })))
          .execute();
        const rows = await db.selectFrom('amounts').select(['id', 'amount_mills']).orderBy('id').execute();
        assert.deepEqual(
          rows.map((row) => row.amount_mills),
          values,
        );
        for (const row of rows) assert.equal(typeof row.amount_mills, 'number');
        const total = await db
          .selectFrom('amounts')
          .select((eb) => eb.fn.sum<number | string>('amount_mills').as('total'))
          .where('id', 'in', [1, 3, 4])
          .executeTakeFirstOrThrow();
        assert.equal(Number(total.total), 1 + 730 + 500_000);
        const count = await db
          .selectFrom('amounts')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(count.n, values.length);
      } finally {
        await dispose();
      }
    });

    it('refuses to read an integer beyond 2^53 instead of rounding it', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const db = await createAmountsTable(store.db);
        await sql`insert into amounts (id, amount_mills) values (1, 9007199254740993)`.execute(db);
        await assert.rejects(db.selectFrom('amounts').select('amount_mills').execute(), /too large/i);
        // The store stays usable afterwards.
        const rows = await db.selectFrom('amounts').select('id').execute();
        assert.deepEqual(rows, [{ id: 1 }]);
      } finally {
        await dispose();
      }
    });

    it('refuses a database written by a newer Indicia and writes nothing to it', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00.000Z')`.execute(
          store.db,
        );
        await assert.rejects(migrateToLatest(store.db, store.location), (error: unknown) => {
          assert.ok(error instanceof StoreError && error.code === 'store.schema_newer');
          assert.match(error.message, /9999-from-the-future/);
          return true;
        });
        assert.deepEqual(await appliedMigrationNames(store.db), [
          ...knownMigrationNames(),
          '9999-from-the-future',
        ]);
      } finally {
        await dispose();
      }
    });

    it('rolls a failed transaction back completely', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const now = new Date().toISOString();
        await assert.rejects(
          store.db.transaction().execute(async (trx) => {
            await trx.insertInto('installation').values({ key: 'a', value: '1', updated_at: now }).execute();
            await trx.insertInto('installation').values({ key: 'a', value: '2', updated_at: now }).execute();
          }),
        );
        const rows = await store.db.selectFrom('installation').selectAll().execute();
        assert.deepEqual(rows, []);
      } finally {
        await dispose();
      }
    });

    it('enforces the account constraints: unique email, known roles', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const account = {
          id: 'acct_1',
          email: 'a@example.com',
          display_name: 'A',
          role: 'customer' as const,
          password_hash: 'x',
          created_at: new Date().toISOString(),
        };
        await store.db.insertInto('accounts').values(account).execute();
        await assert.rejects(
          store.db
            .insertInto('accounts')
            .values({ ...account, id: 'acct_2' })
            .execute(),
        );
        await assert.rejects(
          store.db
            .insertInto('accounts')
            .values({ ...account, id: 'acct_3', email: 'b@example.com', role: 'superuser' as 'admin' })
            .execute(),
        );
        const count = await store.db
          .selectFrom('accounts')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(count.n, 1);
      } finally {
        await dispose();
      }
    });

    it('reports an unreachable database as store.unavailable', async () => {
      const target =
        fixture.name === 'sqlite'
          ? ({ dialect: 'sqlite', file: '/proc/indicia-cannot-exist/indicia.sqlite' } as const)
          : ({ dialect: 'postgres', url: 'postgres://indicia:secret@127.0.0.1:1/none' } as const);
      await assert.rejects(openStore(target), (error: unknown) => {
        assert.ok(isStoreError('store.unavailable')(error));
        assert.doesNotMatch((error as Error).message, /secret/);
        return true;
      });
    });
  });
}

describe('store on sqlite: durability settings', () => {
  it('runs with WAL, synchronous=FULL and foreign keys on', async () => {
    const sqliteFixture = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
    assert.ok(sqliteFixture);
    const { store, dispose } = await openMigratedStore(sqliteFixture);
    try {
      const read = async (pragma: string): Promise<unknown> => {
        const result = await sql.raw<Record<string, unknown>>(`PRAGMA ${pragma}`).execute(store.db);
        return Object.values(result.rows[0] ?? {})[0];
      };
      assert.equal(await read('journal_mode'), 'wal');
      assert.equal(await read('synchronous'), 2);
      assert.equal(await read('foreign_keys'), 1);
    } finally {
      await dispose();
    }
  });

  it('checkpoints the WAL on its worker thread, not in the committing call', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'indicia-wal-'));
    const file = join(folder, 'wal.sqlite');
    const store = await openStore({ dialect: 'sqlite', file });
    try {
      await sql`create table filler (id integer primary key, body text not null)`.execute(store.db);
      await store.db.transaction().execute(async (trx) => {
        for (let index = 0; index < 400; index += 1)
          await sql`insert into filler (body) values (${'x'.repeat(2_000)})`.execute(trx);
      });
      // The writer's own threshold (16,384 pages) is far off: only the worker moves these pages.
      const deadline = Date.now() + 5_000;
      while (statSync(file).size < 700_000 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(statSync(file).size >= 700_000, `database file is ${statSync(file).size} bytes`);
    } finally {
      await store.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
