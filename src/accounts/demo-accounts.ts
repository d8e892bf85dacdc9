import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AccountRole, DatabaseSchema } from '../store/index.ts';
import { generatePassword, hashPassword } from '../passwords/index.ts';

export interface DemoCredential {
  readonly role: AccountRole;
  readonly label: string;
  readonly email: string;
  readonly password: string;
}

const DEMO_ACCOUNTS: readonly { role: AccountRole; label: string; email: string; displayName: string }[] = [
  {
    role: 'admin',
    label: 'demo operator',
    email: 'operator@demo.indicia.test',
    displayName: 'Demo Operator',
  },
  {
    role: 'customer',
    label: 'demo customer',
    email: 'customer@demo.indicia.test',
    displayName: 'Demo Customer',
  },
];

/**
 * On an installation without accounts, creates the demo operator and demo customer with fresh
 * random passwords and returns their credentials, which exist nowhere else (only hashes are
 * stored): the caller shows them once. Returns an empty list when accounts already exist.
 */
export async function createDemoAccountsIfEmpty(db: Kysely<DatabaseSchema>): Promise<DemoCredential[]> {
  if ((await db.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) !== undefined) return [];
  const credentials = await Promise.all(
    DEMO_ACCOUNTS.map(async (account) => {
      const password = generatePassword();
      return { ...account, password, hash: await hashPassword(password) };
    }),
  );
  return db.transaction().execute(async (trx) => {
    // Checked again inside the transaction: two servers starting at once must not both seed.
    const existing = await trx.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
    if (existing !== undefined) return [];
    const now = new Date().toISOString();
    await trx
      .insertInto('accounts')
      .values(
        credentials.map((account) => ({
          id: `acct_${randomUUID()}`,
          email: account.email,
          display_name: account.displayName,
          role: account.role,
          password_hash: account.hash,
          created_at: now,
        })),
      )
      .execute();
    return credentials.map(({ role, label, email, password }) => ({ role, label, email, password }));
  });
}
