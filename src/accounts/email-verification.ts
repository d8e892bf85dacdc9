import type { Kysely } from 'kysely';
import type { MailMessage, Mailer } from '../mail/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import { newSecret, secretHash } from './secrets.ts';

/** A verification link works once, for 48 hours. */
export const VERIFICATION_LIFETIME_MS = 48 * 3_600_000;
/**
 * Verification e-mails one account is sent in an hour at most, the sign-up's included: resending
 * from many addresses still cannot flood one inbox.
 */
export const VERIFICATION_MAILS_PER_HOUR = 5;

/** The e-mail that carries a verification token. */
export function verificationMessage(
  account: { email: string; name: string; customerNumber: number | null },
  token: string,
  publicUrl: string,
): MailMessage {
  return {
    to: account.email,
    subject: 'Confirm your e-mail address for Indicia',
    text:
      `Hello ${account.name},\n\nconfirm this address to finish your sign-up (customer number ${account.customerNumber}):\n\n` +
      `${publicUrl}/verify-email?token=${token}\n\n` +
      `Or send the token to POST /v1/email-verifications: ${token}\n\n` +
      'The link works once, for 48 hours. If you did not sign up, ignore this message.\n',
  };
}

/**
 * Sends an unconfirmed account a new verification e-mail: a new token, every earlier one invalid.
 * Nothing is sent for an unknown or already-confirmed address, or past
 * {@link VERIFICATION_MAILS_PER_HOUR}; the caller answers the same in every case (no account
 * enumeration).
 *
 * @example await resendVerification({ db, mailer, publicUrl: () => 'https://postage.example.com' }, 'ada@example.com');
 */
export async function resendVerification(
  dependencies: { db: Kysely<DatabaseSchema>; mailer: Mailer; publicUrl: () => string },
  email: string,
  now = new Date(),
): Promise<void> {
  const { db } = dependencies;
  const normalized = email.trim().toLowerCase();
  if (normalized.length > 254) return;
  const account = await db
    .selectFrom('accounts')
    .select(['id', 'email', 'display_name', 'customer_number', 'email_verified_at'])
    .where('email', '=', normalized)
    .executeTakeFirst();
  if (account === undefined || account.email_verified_at !== null) return;
  const token = newSecret();
  const at = now.toISOString();
  const isIssued = await db.transaction().execute(async (trx) => {
    const recent = await trx
      .selectFrom('account_tokens')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('account_id', '=', account.id)
      .where('purpose', '=', 'email-verification')
      .where('created_at', '>', new Date(now.getTime() - 3_600_000).toISOString())
      .executeTakeFirstOrThrow();
    if (Number(recent.count) >= VERIFICATION_MAILS_PER_HOUR) return false;
    // The earlier links stop working: only the newest e-mail confirms the address.
    await trx
      .updateTable('account_tokens')
      .set({ expires_at: at })
      .where('account_id', '=', account.id)
      .where('purpose', '=', 'email-verification')
      .where('used_at', 'is', null)
      .where('expires_at', '>', at)
      .execute();
    await trx
      .insertInto('account_tokens')
      .values({
        token_hash: secretHash(token),
        account_id: account.id,
        purpose: 'email-verification',
        created_at: at,
        expires_at: new Date(now.getTime() + VERIFICATION_LIFETIME_MS).toISOString(),
        used_at: null,
      })
      .execute();
    return true;
  });
  if (!isIssued) return;
  await dependencies.mailer.send(
    verificationMessage(
      { email: account.email, name: account.display_name, customerNumber: account.customer_number },
      token,
      dependencies.publicUrl(),
    ),
  );
}
