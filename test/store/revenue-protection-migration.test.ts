import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import type { AccountRole } from '../../src/store/index.ts';
import { appliedMigrationNames, migrateThrough, migrateToLatest, openStore } from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';

const BEFORE = '0012-number-allocators';
const now = new Date().toISOString();

const account = (id: string, role: AccountRole, customerNumber: number | null = null) => ({
  id,
  email: `${id}@example.com`,
  display_name: id,
  role,
  password_hash: 'x',
  created_at: now,
  customer_number: customerNumber,
});

const certificate = (serial: string, kind: 'ca' | 'meter', revokedAt: string | null = null) => ({
  serial,
  kind,
  meter_id: kind === 'meter' ? '421D00000001' : null,
  subject: 'CN=x',
  pem: 'x',
  not_before: now,
  not_after: now,
  issued_at: now,
  revoked_at: revokedAt,
});

for (const fixture of dialectFixtures) {
  describe(`migration 0014 (revenue protection) on ${fixture.name}`, () => {
    it('upgrades an installation: the verifier role, the accounts table and what refers to it intact, the CA and its certificates marked', async () => {
      const fresh = await fixture.freshDatabase();
      const store = await openStore(fresh.target);
      try {
        await migrateThrough(store.db, store.location, BEFORE);
        await store.db
          .insertInto('accounts')
          .values([account('demo', 'customer', 100_000), account('boss', 'admin')])
          .execute();
        // Before 0014 the role check refuses a verifier: the defect this migration mends.
        await assert.rejects(store.db.insertInto('accounts').values(account('early', 'verifier')).execute());
        await store.db
          .insertInto('sessions')
          .values({
            token_hash: 'h',
            id: 's1',
            account_id: 'demo',
            csrf_hash: 'c',
            created_at: now,
            expires_at: now,
            last_seen_at: now,
            ended_at: null,
          })
          .execute();
        // Columns 0014 adds are not there yet; write the rows as an older Indicia did.
        const values = [
          certificate('1000000000000001', 'ca'),
          certificate('2000000000000002', 'meter'),
          certificate('3000000000000003', 'meter', now),
        ];
        for (const row of values) {
          await sql`insert into certificates (serial, kind, meter_id, subject, pem, not_before, not_after, issued_at, revoked_at)
            values (${row.serial}, ${row.kind}, ${row.meter_id}, ${row.subject}, ${row.pem}, ${row.not_before}, ${row.not_after}, ${row.issued_at}, ${row.revoked_at})`.execute(
            store.db,
          );
        }

        await migrateToLatest(store.db, store.location);
        assert.ok((await appliedMigrationNames(store.db)).includes('0014-revenue-protection'));
        await store.db.insertInto('accounts').values(account('scanner', 'verifier')).execute();
        await assert.rejects(
          store.db
            .insertInto('accounts')
            .values(account('wizard', 'wizard' as AccountRole))
            .execute(),
          'the role check still refuses unknown roles',
        );
        const accounts = await store.db
          .selectFrom('accounts')
          .select(['id', 'customer_number'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          accounts.map((row) => [row.id, row.customer_number === null ? null : row.customer_number]),
          [
            ['boss', null],
            ['demo', 100_000],
            ['scanner', null],
          ],
        );
        // Indexes and foreign keys survived the rebuild.
        await assert.rejects(
          store.db
            .insertInto('accounts')
            .values(account('twin', 'customer', 100_000))
            .execute(),
          'customer numbers stay unique',
        );
        await assert.rejects(
          store.db
            .insertInto('sessions')
            .values({
              token_hash: 'h2',
              id: 's2',
              account_id: 'nobody',
              csrf_hash: 'c',
              created_at: now,
              expires_at: now,
              last_seen_at: now,
              ended_at: null,
            })
            .execute(),
          'sessions still refer to accounts',
        );
        const session = await store.db
          .selectFrom('sessions')
          .innerJoin('accounts', 'accounts.id', 'sessions.account_id')
          .select('accounts.email')
          .executeTakeFirstOrThrow();
        assert.equal(session.email, 'demo@example.com');
        if (fixture.name === 'sqlite') {
          assert.deepEqual((await sql`pragma foreign_key_check`.execute(store.db)).rows, []);
          assert.equal(
            (await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(store.db)).rows[0]
              ?.foreign_keys,
            1,
          );
        }

        const rows = await store.db
          .selectFrom('certificates')
          .select(['serial', 'key_package_id', 'issuer_serial', 'revocation_reason'])
          .orderBy('serial')
          .execute();
        assert.deepEqual(rows, [
          {
            serial: '1000000000000001',
            key_package_id: 'AUTHORITY-CA-1',
            issuer_serial: null,
            revocation_reason: null,
          },
          {
            serial: '2000000000000002',
            key_package_id: null,
            issuer_serial: '1000000000000001',
            revocation_reason: null,
          },
          {
            serial: '3000000000000003',
            key_package_id: null,
            issuer_serial: '1000000000000001',
            revocation_reason: 'unspecified',
          },
        ]);
      } finally {
        await store.close();
        await fresh.dispose();
      }
    });
  });
}
