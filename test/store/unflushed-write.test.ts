import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { withoutFlush } from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const keyRow = (key: string) => ({
  scope: 'public',
  key,
  request_hash: 'h',
  status: 'in_progress' as const,
  response_status: null,
  response_body: null,
  created_at: new Date().toISOString(),
  owner: null,
  lease_expires_at: null,
  effect: null,
});

for (const fixture of dialectFixtures) {
  describe(`writes without their own log flush on ${fixture.name}`, () => {
    it('commits, is seen at once, and leaves every other commit durable', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        const setting = async (): Promise<unknown> =>
          store.dialect === 'sqlite'
            ? (await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db)).rows[0]?.synchronous
            : (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(store.db)).rows[0]
                ?.synchronous_commit;
        const before = await setting();
        // Side by side with ordinary (durable) writes, as requests interleave.
        await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            index % 2 === 0
              ? withoutFlush(store.db, (db) =>
                  db
                    .insertInto('idempotency_keys')
                    .values(keyRow(`k${index}`))
                    .execute(),
                )
              : store.db
                  .insertInto('idempotency_keys')
                  .values(keyRow(`k${index}`))
                  .execute(),
          ),
        );
        const rows = await store.db.selectFrom('idempotency_keys').select('key').execute();
        assert.equal(rows.length, 20);
        assert.equal(await setting(), before, 'every other commit flushes as before');
        if (store.dialect === 'sqlite') assert.equal(before, 2, 'synchronous=FULL');
        // A failing write is rolled back and the setting put back all the same.
        await assert.rejects(
          withoutFlush(store.db, (db) => db.insertInto('idempotency_keys').values(keyRow('k0')).execute()),
        );
        assert.equal(await setting(), before);
      } finally {
        await dispose();
      }
    });
  });
}
