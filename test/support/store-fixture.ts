import { type Store, migrateToLatest, openStore } from '../../src/store/index.ts';
import type { DialectFixture } from './dialects.ts';

export interface TestStore {
  readonly store: Store;
  /** Closes the store and drops its database. */
  readonly dispose: () => Promise<void>;
}

/** Opens a new, migrated database of the fixture's dialect. */
export async function openMigratedStore(fixture: DialectFixture): Promise<TestStore> {
  const fresh = await fixture.freshDatabase();
  const store = await openStore(fresh.target);
  await migrateToLatest(store.db, store.location);
  return {
    store,
    async dispose() {
      await store.close();
      await fresh.dispose();
    },
  };
}
