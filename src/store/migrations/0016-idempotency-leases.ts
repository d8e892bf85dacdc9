import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Idempotency keys that survive a crash: the process that holds a key (`owner`) and until when
 * (`lease_expires_at`, refreshed while the request runs), and the effect a value-moving request
 * committed in its own transaction (`effect`), from which a retry rebuilds the answer.
 */
export const migration0016: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('idempotency_keys').addColumn('owner', 'text').execute();
    await db.schema.alterTable('idempotency_keys').addColumn('lease_expires_at', 'text').execute();
    await db.schema.alterTable('idempotency_keys').addColumn('effect', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('idempotency_keys').dropColumn('effect').execute();
    await db.schema.alterTable('idempotency_keys').dropColumn('lease_expires_at').execute();
    await db.schema.alterTable('idempotency_keys').dropColumn('owner').execute();
  },
};
