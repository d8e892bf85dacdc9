import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AccountRole, DatabaseSchema } from '../store/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import { generatePassword, hashPassword } from '../passwords/index.ts';
import type { AccountProfile } from './registration.ts';

export interface DemoCredential {
  readonly role: AccountRole;
  readonly label: string;
  readonly email: string;
  readonly password: string;
  readonly accountId: string;
  /** The demo customer's number and sign-up details (its licence and meter are made by the caller). */
  readonly customer: { readonly customerNumber: number; readonly profile: AccountProfile } | null;
}

/** The demo customer: a dedicated meter, licensed at the Empire State Building's post office. */
export const DEMO_CUSTOMER_NUMBER = 100_000;
const DEMO_ADDRESS = { line1: '350 Fifth Avenue', city: 'New York', state: 'NY', zip: '10118' };
const DEMO_PROFILE: AccountProfile = {
  physicalAddress: DEMO_ADDRESS,
  mailingAddress: DEMO_ADDRESS,
  billingAddress: DEMO_ADDRESS,
  licensingZip: '10118',
  postOffice: { name: 'Empire State', state: 'NY', zip: '10118' },
  previousMeterNumber: null,
  poBoxes: [],
};

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
      return { ...account, id: `acct_${randomUUID()}`, password, hash: await hashPassword(password) };
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
          id: account.id,
          email: account.email,
          display_name: account.displayName,
          role: account.role,
          password_hash: account.hash,
          created_at: now,
          email_verified_at: now,
          ...(account.role === 'customer'
            ? {
                customer_number: DEMO_CUSTOMER_NUMBER,
                meter_mode: 'dedicated' as const,
                profile: canonicalJson(DEMO_PROFILE),
              }
            : {}),
        })),
      )
      .execute();
    return credentials.map(({ role, label, email, password, id }) => ({
      role,
      label,
      email,
      password,
      accountId: id,
      customer: role === 'customer' ? { customerNumber: DEMO_CUSTOMER_NUMBER, profile: DEMO_PROFILE } : null,
    }));
  });
}
