import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelStock } from '../../src/printing/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMigratedStore } from '../support/store-fixture.ts';

/** Draws that repeat: each serial comes up twice in a row, and the first sheet's come up again. */
function repeatingDraws(): () => number {
  const draws = [7, 7, 7, ...Array.from({ length: 40 }, (_, index) => 100 + Math.floor(index / 2))];
  let next = 0;
  return () => draws[next++ % draws.length] ?? 0;
}

for (const fixture of dialectFixtures) {
  describe(`label sheet serials on ${fixture.name}`, () => {
    it('draws a random serial again when it is taken, for sheets and labels, instead of failing', async () => {
      const { store, dispose } = await openMigratedStore(fixture);
      try {
        await store.db
          .insertInto('accounts')
          .values({
            id: 'acct_labels',
            email: 'labels@example.com',
            display_name: 'Labels',
            role: 'customer',
            password_hash: 'x',
            created_at: new Date().toISOString(),
          })
          .execute();
        const stock = new LabelStock(store.db, repeatingDraws());
        const first = await stock.createSheet('acct_labels');
        // Restarting the same draws: every serial the second sheet draws first is taken.
        const second = await new LabelStock(store.db, repeatingDraws()).createSheet('acct_labels');
        assert.notEqual(first.serial, second.serial);
        const labels = [...first.labels, ...second.labels];
        assert.equal(new Set(labels.map((label) => label.serial)).size, 20);
        assert.deepEqual(
          second.labels.map((label) => label.position),
          Array.from({ length: 10 }, (_, index) => index + 1),
        );
        assert.ok(labels.every((label) => label.state === 'valid'));
      } finally {
        await dispose();
      }
    });
  });
}
