import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readArchive, shipLog } from '../../src/log-shipping/index.ts';
import { migrateToLatest, openStore } from '../../src/store/index.ts';

/**
 * Shipping keeps every module's own order, whatever its clock says: a module whose clock stepped
 * back must not ship a record before its predecessor, which would leave that predecessor out of
 * every later shipment (the shipper resumes after each module's newest shipped counter).
 */
describe('log shipping: each module in its own order across shipments', () => {
  it('ships every record once and in counter order when one module clock steps back', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'indicia-shipping-order-'));
    const store = await openStore({ dialect: 'sqlite', file: join(folder, 'indicia.sqlite') });
    try {
      await migrateToLatest(store.db, store.location);
      const base = Date.parse('2026-12-04T00:00:00.000Z');
      const rows = [];
      for (const module of ['SW-AAAAAAAAAA', 'SW-BBBBBBBBBB']) {
        let previous: string | null = null;
        for (let counter = 1; counter <= 400; counter += 1) {
          const sealed = randomBytes(40).toString('base64');
          const digest = createHash('sha256').update(sealed).digest('hex');
          // Module A's clock steps back an hour after its 200th record.
          const at =
            module === 'SW-AAAAAAAAAA' && counter > 200 ? base + counter - 3_600_000 : base + counter;
          rows.push({
            module_serial: module,
            counter,
            previous_digest: previous,
            digest,
            sealed,
            recorded_at: new Date(at).toISOString(),
            packages: '[]',
            statements: null,
          });
          previous = digest;
        }
      }
      for (let index = 0; index < rows.length; index += 100)
        await store.db
          .insertInto('module_log')
          .values(rows.slice(index, index + 100))
          .execute();
      const key = randomBytes(32);
      const archiveDir = join(folder, 'archive');
      const report = await shipLog({
        db: store.db,
        dialect: store.dialect,
        archiveDir,
        shipmentKey: () => Promise.resolve(key),
      });
      assert.ok(report !== null);
      assert.equal(report.records, 800);
      assert.ok(report.shipments >= 2, 'more than one shipment file');
      const archive = readArchive(archiveDir, key);
      for (const module of ['SW-AAAAAAAAAA', 'SW-BBBBBBBBBB'])
        assert.deepEqual(
          archive.records.filter((record) => record.module === module).map((record) => record.counter),
          Array.from({ length: 400 }, (_, index) => index + 1),
        );
    } finally {
      await store.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
