import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { appendAuditEvents, auditHash, verifyAuditChain } from '../../src/audit/index.ts';
import { appliedMigrationNames, migrateThrough, migrateToLatest, openStore } from '../../src/store/index.ts';
import { canonicalJson } from '../../src/encoding/index.ts';
import { dialectFixtures } from '../support/dialects.ts';

const BEFORE = '0016-idempotency-leases';

for (const fixture of dialectFixtures) {
  describe(`migration 0018 (audit chains) on ${fixture.name}`, () => {
    it('turns the one chain into chain "installation" with sequences and hashes unchanged; appends carry on after it', async () => {
      const fresh = await fixture.freshDatabase();
      const store = await openStore(fresh.target);
      try {
        await migrateThrough(store.db, store.location, BEFORE);
        // Three events as Indicia wrote them before 0018: one chain, head row id 1.
        let previous = '0'.repeat(64);
        const written: { sequence: number; hash: string }[] = [];
        for (let sequence = 1; sequence <= 3; sequence += 1) {
          const unhashed = {
            sequence,
            at: `2026-01-0${sequence}T00:00:00.000Z`,
            kind: 'meter.funded',
            moduleSerial: null,
            meterId: '042N51000001',
            details: { amountMills: sequence * 1_000 },
          };
          const hash = auditHash(previous, unhashed);
          await sql`insert into audit_events (sequence, at, kind, module_serial, meter_id, details, previous_hash, hash)
            values (${sequence}, ${unhashed.at}, ${unhashed.kind}, ${null}, ${unhashed.meterId}, ${canonicalJson(unhashed.details)}, ${previous}, ${hash})`.execute(
            store.db,
          );
          written.push({ sequence, hash });
          previous = hash;
        }
        await sql`update audit_head set sequence = 3, hash = ${previous} where id = 1`.execute(store.db);

        await migrateToLatest(store.db, store.location);
        assert.ok((await appliedMigrationNames(store.db)).includes('0018-audit-chains'));
        const rows = await store.db.selectFrom('audit_events').selectAll().orderBy('sequence').execute();
        assert.deepEqual(
          rows.map((row) => ({ chain: row.chain, sequence: row.sequence, hash: row.hash })),
          written.map((row) => ({ chain: 'installation', ...row })),
        );
        assert.deepEqual(await store.db.selectFrom('audit_heads').selectAll().execute(), [
          { chain: 'installation', sequence: 3, hash: previous },
        ]);
        assert.deepEqual(await store.db.selectFrom('audit_anchors').selectAll().execute(), []);
        assert.deepEqual(await verifyAuditChain(store.db), {
          isIntact: true,
          events: 3,
          firstBrokenSequence: null,
        });

        await store.db.transaction().execute(async (trx) => {
          const [next] = await appendAuditEvents(trx, [
            { kind: 'meter.funded', details: { amountMills: 4_000 } },
          ]);
          assert.ok(next);
          assert.deepEqual([next.chain, next.sequence, next.previousHash], ['installation', 4, previous]);
          const [other] = await appendAuditEvents(trx, [{ kind: 'psd.fund', details: {} }], {
            chain: 'SW-0123456789',
          });
          assert.ok(other);
          assert.equal(other.sequence, 1);
          assert.equal(
            other.previousHash,
            createHash('sha256').update('indicia/audit-chain/v1\nSW-0123456789').digest('hex'),
          );
        });
        // Two chains may hold the same sequence: the key is (chain, sequence).
        await store.db
          .transaction()
          .execute((trx) => appendAuditEvents(trx, [{ kind: 'x', details: {} }], { chain: 'SW-0123456789' }));
        assert.deepEqual(await verifyAuditChain(store.db), {
          isIntact: true,
          events: 6,
          firstBrokenSequence: null,
        });
      } finally {
        await store.close();
        await fresh.dispose();
      }
    });
  });
}
