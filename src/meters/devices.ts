import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { CustodyService } from '../custody/index.ts';
import type { DatabaseSchema, DevicesTable } from '../store/index.ts';
import type { ClientAuthorization, DeviceView, EnrollmentRequest } from '../vault/index.ts';
import { activeMeter } from './issuance.ts';
import { MeterError } from './meter-error.ts';

const DAY_MS = 86_400_000;

export interface DeviceDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  /** How long a device key lives from enrollment or renewal (INDICIA_DEVICE_KEY_DAYS). */
  readonly deviceKeyDays: number;
}

/** One enrolled device as its customer sees it: its chain and life span, never its key. */
export interface DeviceRecord {
  readonly id: string;
  readonly name: string;
  /** `expired` and `revoked` devices are refused by the module. */
  readonly status: 'active' | 'expired' | 'revoked';
  readonly enrolledAt: string;
  /** When its current key was sealed (enrollment or the last renewal); null if enrolled before this was kept. */
  readonly keyIssuedAt: string | null;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  /** The challenge the device signs its next request with; null once revoked. */
  readonly challenge: string | null;
  /** The registers the module reported to the device with that challenge: it signs with these. */
  readonly ascendingRegister: number;
  readonly descendingRegister: number;
}

export interface DeviceEnrollment {
  readonly device: DeviceRecord;
  /** HMAC proving the module holds the enrollment key (the device checks it; client-protocol.md). */
  readonly confirmation: Buffer;
}

// Challenges are drawn from a block of random bytes filled 128 challenges at a time: one call into
// the CSPRNG instead of one per request; every byte is handed out once.
const CHALLENGE_BYTES = 32;
const randomBlock = Buffer.alloc(CHALLENGE_BYTES * 128);
let randomOffset = randomBlock.length;

/** A new challenge: 32 random bytes, base64. */
export function newChallenge(): string {
  if (randomOffset === randomBlock.length) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const challenge = randomBlock.toString('base64', randomOffset, randomOffset + CHALLENGE_BYTES);
  randomOffset += CHALLENGE_BYTES;
  return challenge;
}

/** The enrollment key and its fingerprint (hex SHA-256 of the SPKI DER), which clients pin. */
export async function enrollmentKey(
  custody: Pick<CustodyService, 'enrollmentPublicKey'>,
): Promise<{ publicKey: Buffer; fingerprint: string }> {
  const publicKey = await custody.enrollmentPublicKey();
  return { publicKey, fingerprint: createHash('sha256').update(publicKey).digest('hex') };
}

function expiryFrom(now: Date, days: number): string {
  return new Date(now.getTime() + days * DAY_MS).toISOString();
}

/**
 * The package's devices with their records: names and enrolment times come from the package,
 * or, for the device a package held before packages held several, from its record (the only
 * record of the meter still in use that the package does not name).
 */
function recordsOf(views: readonly DeviceView[], rows: readonly DevicesTable[], now: Date): DeviceRecord[] {
  const named = new Set(views.map((view) => view.id));
  const earlier = rows.filter((row) => row.replaced_at === null && !named.has(row.id));
  return views.flatMap((view) => {
    const row =
      rows.find((candidate) => candidate.id === view.id) ?? (view.id === null ? earlier[0] : undefined);
    const id = view.id ?? row?.id;
    // Enrollment writes the record in the package's commit, so a device without one cannot be named.
    if (id === undefined) return [];
    const isExpired = !(Date.parse(view.expiresAt) > now.getTime());
    return [
      {
        id,
        name: view.name ?? row?.name ?? '',
        status: view.revokedAt !== null ? 'revoked' : isExpired ? 'expired' : 'active',
        enrolledAt: view.enrolledAt ?? row?.enrolled_at ?? '',
        keyIssuedAt: view.keyIssuedAt,
        expiresAt: view.expiresAt,
        revokedAt: view.revokedAt,
        challenge: view.challenge,
        ascendingRegister: view.ascendingRegister,
        descendingRegister: view.descendingRegister,
      },
    ];
  });
}

/** Every device the meter's package holds (revoked ones while it remembers them), oldest first. */
export async function listDevices(
  { db, custody }: Pick<DeviceDependencies, 'db' | 'custody'>,
  meterId: string,
): Promise<DeviceRecord[]> {
  const rows = await db.selectFrom('devices').selectAll().where('meter_id', '=', meterId).execute();
  return recordsOf((await custody.readMeter(meterId)).devices, rows, new Date());
}

/** One of the meter's devices; `meter.device_not_found` when the meter has no such device. */
export async function deviceOf(
  dependencies: Pick<DeviceDependencies, 'db' | 'custody'>,
  meterId: string,
  deviceId: string,
): Promise<DeviceRecord> {
  const found = (await listDevices(dependencies, meterId)).find((device) => device.id === deviceId);
  if (found === undefined)
    throw new MeterError('meter.device_not_found', `Device ${deviceId} is not one of this meter's devices.`);
  return found;
}

function recordFrom(view: readonly DeviceView[], id: string, row: DevicesTable, now: Date): DeviceRecord {
  const found = recordsOf(view, [row], now).find((device) => device.id === id);
  if (found === undefined)
    throw new MeterError('meter.request_invalid', `The module did not keep device ${id}.`);
  return found;
}

/**
 * Enrolls one more device for a meter (seed 001's registration state): the module decrypts the
 * device's HMK and adds it to the meter's package with a first challenge and a life span, in one
 * commit with the device record. The meter's other devices keep working.
 */
export async function enrollDevice(
  { db, custody, deviceKeyDays }: DeviceDependencies,
  meterId: string,
  request: EnrollmentRequest,
  owner: { accountId: string; name: string },
): Promise<DeviceEnrollment> {
  // A dedicated meter, or a pooled customer's client package (which has no meters row).
  if (!meterId.startsWith('CLIENT-')) await activeMeter(db, meterId, 'dedicated');
  const opened = await custody.openEnrollment(request);
  const challenge = newChallenge();
  const now = new Date();
  const row: DevicesTable = {
    id: `dev_${randomUUID()}`,
    account_id: owner.accountId,
    meter_id: meterId,
    name: owner.name,
    enrolled_at: now.toISOString(),
    replaced_at: null,
  };
  const change = {
    kind: 'enroll' as const,
    id: row.id,
    name: owner.name,
    hmk: opened.hmk.toString('base64'),
    challenge,
    expiresAt: expiryFrom(now, deviceKeyDays),
  };
  try {
    const committed = await custody.execute(
      meterId,
      [{ operation: { type: 'update', device: change } }],
      async (trx) => {
        await trx.insertInto('devices').values(row).execute();
        await appendAuditEvents(trx, [
          { kind: 'device.enrolled', meterId, details: { deviceId: row.id, expiresAt: change.expiresAt } },
        ]);
      },
    );
    return {
      device: recordFrom(committed.view.devices, row.id, row, now),
      confirmation: opened.confirmation(Buffer.from(challenge, 'base64')),
    };
  } finally {
    opened.hmk.fill(0);
  }
}

/**
 * Revokes a device: the module drops its HMK from the package, so its requests are refused
 * (`psd.device_revoked`); its record is marked ended in the same commit. Revoking it again changes
 * nothing.
 */
export async function revokeDevice(
  { db, custody }: Pick<DeviceDependencies, 'db' | 'custody'>,
  meterId: string,
  deviceId: string,
): Promise<DeviceRecord> {
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('id', '=', deviceId)
    .where('meter_id', '=', meterId)
    .executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.device_not_found', `Device ${deviceId} is not one of this meter's devices.`);
  const current = (await listDevices({ db, custody }, meterId)).find((device) => device.id === deviceId);
  if (current?.status === 'revoked') return current;
  // A device replaced under the one-device rule of earlier versions: the package holds no key of it.
  if (current === undefined)
    throw new MeterError(
      'meter.device_not_found',
      `Device ${deviceId} holds no key in the meter's package any more (another device replaced it).`,
    );
  const now = new Date();
  const committed = await custody.execute(
    meterId,
    [{ operation: { type: 'update', device: { kind: 'revoke', id: deviceId } } }],
    async (trx) => {
      await trx
        .updateTable('devices')
        .set({ replaced_at: now.toISOString() })
        .where('id', '=', deviceId)
        .execute();
      await appendAuditEvents(trx, [{ kind: 'device.revoked', meterId, details: { deviceId } }]);
    },
  );
  return recordFrom(committed.view.devices, deviceId, row, now);
}

/**
 * Renews a device's key before it ends (seed 004's key renewal): a request the device signs with
 * its current key carries a new HMK encrypted to the enrollment key; the module checks the old
 * key's signature, then seals the new key with a new life span. The answer's confirmation is the
 * enrollment's, over the next challenge.
 */
export async function renewDevice(
  { db, custody, deviceKeyDays }: DeviceDependencies,
  meterId: string,
  deviceId: string,
  request: EnrollmentRequest,
  authorization: ClientAuthorization,
): Promise<DeviceEnrollment> {
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('id', '=', deviceId)
    .where('meter_id', '=', meterId)
    .executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.device_not_found', `Device ${deviceId} is not one of this meter's devices.`);
  if (authorization.deviceId !== deviceId)
    throw new MeterError(
      'meter.request_invalid',
      `A renewal is signed by the device it renews: send Indicia-Device ${deviceId}.`,
    );
  const opened = await custody.openEnrollment(request);
  const now = new Date();
  const change = {
    kind: 'renew' as const,
    id: deviceId,
    hmk: opened.hmk.toString('base64'),
    expiresAt: expiryFrom(now, deviceKeyDays),
  };
  try {
    const committed = await custody.execute(
      meterId,
      [{ operation: { type: 'update', device: change } }],
      async (trx) => {
        await appendAuditEvents(trx, [
          { kind: 'device.renewed', meterId, details: { deviceId, expiresAt: change.expiresAt } },
        ]);
      },
      authorization,
    );
    return {
      device: recordFrom(committed.view.devices, deviceId, row, now),
      confirmation: opened.confirmation(Buffer.from(authorization.nextChallenge, 'base64')),
    };
  } finally {
    opened.hmk.fill(0);
  }
}
