import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import {
  allocateNumber,
  appliedMigrationNames,
  migrateThrough,
  migrateToLatest,
  openStore,
} from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const BEFORE_ALLOCATORS = '0010-labels-and-mailing-lists';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const range = (first: number, count: number): number[] =>
  Array.from({ length: count }, (_, index) => first + index);
const ascending = (numbers: readonly number[]): number[] => [...numbers].sort((left, right) => left - right);

for (const fixture of dialectFixtures) {
  describe(`number allocators on ${fixture.name}`, () => {
    it('continues an upgraded installation where its customer numbers and meter serials stopped', async () => {
      const fresh = await fixture.freshDatabase();
      const store = await openStore(fresh.target);
      try {
        await migrateThrough(store.db, store.location, BEFORE_ALLOCATORS);
        const account = (id: string, customerNumber: number | null) => ({
          id,
          email: `${id}@example.com`,
          display_name: id,
          role: customerNumber === null ? ('admin' as const) : ('customer' as const),
          password_hash: 'x',
          created_at: new Date().toISOString(),
          customer_number: customerNumber,
        });
        await store.db
          .insertInto('accounts')
          .values([account('demo', 100_000), account('late', 100_041), account('staff', null)])
          .execute();
        await sql`insert into meter_serials (model_id, next_serial) values ('2N', 13), ('1P-58-1', 3)`.execute(
          store.db,
        );

        await migrateToLatest(store.db, store.location);
        assert.ok((await appliedMigrationNames(store.db)).includes('0012-number-allocators'));
        assert.equal(await allocateNumber(store.db, 'customer-number', 100_001), 100_042);
        assert.equal(await allocateNumber(store.db, 'meter-serial:2N', 1), 13);
        assert.equal(await allocateNumber(store.db, 'meter-serial:2N', 1), 14);
        assert.equal(await allocateNumber(store.db, 'meter-serial:1P-58-1', 1), 3);
        assert.equal(
          await allocateNumber(store.db, 'meter-serial:9Z', 1),
          1,
          'a new counter starts at first',
        );
        const tables = await store.db.introspection.getTables();
        assert.ok(!tables.some((table) => table.name === 'meter_serials'));
      } finally {
        await store.close();
        await fresh.dispose();
      }
    });

    it('starts customer numbers of a new installation at 100001', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        assert.equal(await allocateNumber(store.db, 'customer-number', 100_001), 100_001);
        // An upgrade test's helper never migrates down.
        await assert.rejects(migrateThrough(store.db, store.location, BEFORE_ALLOCATORS), {
          code: 'store.migration_failed',
        });
        assert.ok((await appliedMigrationNames(store.db)).includes('0012-number-allocators'));
      } finally {
        await dispose();
      }
    });

    it('gives 40 transactions at once distinct numbers, and a rolled-back one gives its number back', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const committed = await Promise.all(
          range(0, 40).map(async (index) => {
            try {
              return await store.db.transaction().execute(async (trx) => {
                const taken = await allocateNumber(trx, 'meter-serial:2N', 1);
                await sleep(2);
                if (index % 5 === 0) throw new Error('rolled back');
                return taken;
              });
            } catch (error) {
              if (error instanceof Error && error.message === 'rolled back') return undefined;
              throw error;
            }
          }),
        );
        const numbers = committed.filter((value) => value !== undefined);
        assert.deepEqual(ascending(numbers), range(1, 32), 'no number twice, and none lost');
        assert.equal(await allocateNumber(store.db, 'meter-serial:2N', 1), 33);
      } finally {
        await dispose();
      }
    });

    it('gives 40 callers outside a transaction distinct numbers, also for a counter they create', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const numbers = await Promise.all(
          range(0, 40).map(() => allocateNumber(store.db, 'meter-serial:NEW', 500)),
        );
        assert.deepEqual(ascending(numbers), range(500, 40));
      } finally {
        await dispose();
      }
    });
  });
}
