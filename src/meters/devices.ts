import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { EnrollmentRequest } from '../vault/index.ts';
import { activeMeter } from './issuance.ts';

export interface DeviceEnrollment {
  readonly deviceId: string;
  /** HMAC proving the module holds the enrollment key (the device checks it; client-protocol.md). */
  readonly confirmation: Buffer;
  /** base64 of the first challenge: the device signs its next request with it. */
  readonly challenge: string;
  readonly ascendingRegister: number;
  readonly descendingRegister: number;
}

/** A new challenge: 32 random bytes, base64. */
export function newChallenge(): string {
  return randomBytes(32).toString('base64');
}

/** The enrollment key and its fingerprint (hex SHA-256 of the SPKI DER), which clients pin. */
export async function enrollmentKey(
  custody: Pick<CustodyService, 'enrollmentPublicKey'>,
): Promise<{ publicKey: Buffer; fingerprint: string }> {
  const publicKey = await custody.enrollmentPublicKey();
  return { publicKey, fingerprint: createHash('sha256').update(publicKey).digest('hex') };
}

/**
 * Enrolls a device for a dedicated meter (seed 001's registration state): the module decrypts the
 * device's HMK and seals it into the meter's package with a first challenge, in one commit with
 * the device record. One HMK per meter: a new enrollment replaces the device before it.
 */
export async function enrollDevice(
  { db, custody }: { db: Kysely<DatabaseSchema>; custody: CustodyService },
  meterId: string,
  request: EnrollmentRequest,
  owner: { accountId: string; name: string },
): Promise<DeviceEnrollment> {
  // A dedicated meter, or a pooled customer's client package (which has no meters row).
  if (!meterId.startsWith('CLIENT-')) await activeMeter(db, meterId, 'dedicated');
  const opened = await custody.openEnrollment(request);
  const challenge = newChallenge();
  const deviceId = `dev_${randomUUID()}`;
  try {
    const committed = await custody.execute(
      meterId,
      [{ operation: { type: 'update', hmk: opened.hmk.toString('base64'), lastChallenge: challenge } }],
      async (trx) => {
        const now = new Date().toISOString();
        await trx
          .updateTable('devices')
          .set({ replaced_at: now })
          .where('meter_id', '=', meterId)
          .where('replaced_at', 'is', null)
          .execute();
        await trx
          .insertInto('devices')
          .values({
            id: deviceId,
            account_id: owner.accountId,
            meter_id: meterId,
            name: owner.name,
            enrolled_at: now,
            replaced_at: null,
          })
          .execute();
      },
    );
    return {
      deviceId,
      confirmation: opened.confirmation(Buffer.from(challenge, 'base64')),
      challenge,
      ascendingRegister: committed.view.ascendingRegister,
      descendingRegister: committed.view.descendingRegister,
    };
  } finally {
    opened.hmk.fill(0);
  }
}
