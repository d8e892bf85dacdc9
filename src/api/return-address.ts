import type { AccountsService, Principal } from '../accounts/index.ts';
import type { LabelAddress } from '../labels/index.ts';

/**
 * A customer's own name, company and mailing address: the return address of their labels unless
 * a piece gives one. Null for staff and for accounts without a profile.
 */
export async function returnAddressOf(
  accounts: Pick<AccountsService, 'profile' | 'account'>,
  principal: Principal,
): Promise<LabelAddress | null> {
  if (principal.customerNumber === null) return null;
  const [account, profile] = await Promise.all([
    accounts.account(principal.accountId),
    accounts.profile(principal.accountId),
  ]);
  if (profile === null) return null;
  return { name: account.name, company: account.company ?? undefined, ...profile.mailingAddress };
}
