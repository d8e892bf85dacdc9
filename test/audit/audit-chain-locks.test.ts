import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { appendAuditEvents } from '../../src/audit/index.ts';
import type { Store } from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');

/** Resolves with the value, or rejects after `ms` saying what did not happen. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    }),
  ]);
}

describe('audit chains on postgres: appends to different chains do not wait for each other', () => {
  assert.ok(postgres, 'the PostgreSQL fixture is missing');
  let store: Store;
  let dispose: () => Promise<void>;
  before(async () => {
    ({ store, dispose } = await openMigratedStore(postgres));
  });
  after(() => dispose());

  it("while one transaction holds chain A's head lock, appends to chain B and to installation commit; a second append to A waits", async () => {
    const event = { kind: 'test.event', details: {} };
    // The chains exist first, so the lock taken is the head row's (not a new row's index entry).
    for (const chain of ['SW-AAAAAAAAAA', 'SW-BBBBBBBBBB', 'installation'])
      await store.db.transaction().execute((trx) => appendAuditEvents(trx, [event], { chain }));

    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = store.db.transaction().execute(async (trx) => {
      await appendAuditEvents(trx, [event], { chain: 'SW-AAAAAAAAAA' });
      locked();
      await held;
    });
    await isLocked;
    try {
      await within(
        store.db.transaction().execute((trx) => appendAuditEvents(trx, [event], { chain: 'SW-BBBBBBBBBB' })),
        5_000,
        'an append to chain B while chain A is locked',
      );
      await within(
        store.db.transaction().execute((trx) => appendAuditEvents(trx, [event])),
        5_000,
        'an append to the installation chain while chain A is locked',
      );
      let isSecondDone = false;
      const second = store.db
        .transaction()
        .execute((trx) => appendAuditEvents(trx, [event], { chain: 'SW-AAAAAAAAAA' }))
        .then(() => {
          isSecondDone = true;
        });
      // The second append to A shows up in this database's activity as waiting for a lock.
      for (let attempt = 0; ; attempt += 1) {
        const { rows } = await sql<{ waiting: string }>`
          select count(*) as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(store.db);
        if (Number(rows[0]?.waiting) > 0) break;
        assert.ok(attempt < 100, 'the second append to chain A never waited');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(isSecondDone, false);
      release();
      await within(holder, 5_000, 'the holder');
      await within(second, 5_000, 'the second append to chain A once the lock was released');
    } finally {
      release();
      await holder.catch(() => undefined);
    }
    const heads = await store.db.selectFrom('audit_heads').selectAll().orderBy('chain').execute();
    assert.deepEqual(
      heads.map((head) => [head.chain, head.sequence]),
      [
        ['SW-AAAAAAAAAA', 3],
        ['SW-BBBBBBBBBB', 2],
        ['installation', 2],
      ],
    );
  });
});
