import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { StartupError } from '../startup/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { ModulePool } from '../vault/index.ts';

/** The label of the secret whose hash is the installation's key fingerprint (never stored itself). */
const FINGERPRINT_LABEL = 'installation-keys-fingerprint';

/** How an operator gives a new server the installation's keys, for the refusals below. */
export const HOW_TO_SHARE_KEYS =
  'Every server of an installation needs the same keys: for the software backend the same key-encryption key ' +
  '(INDICIA_KEK_FILE pointing at a copy of the first server’s <data dir>/keys/kek-v1.key, or INDICIA_KEK) and a copy of its ' +
  '<data dir>/vault/keyset.json in this server’s <data dir>/vault/ (not its vault/modules/ folder); for PKCS#11 the same token ' +
  '(INDICIA_PKCS11_TOKEN_LABEL and PIN). See docs/operations.md, “Adding a server to a farm”.';

/** What the database says about the installation's keys before a server opens its modules. */
export interface InstallationKeys {
  /** The recorded fingerprint, or null (a new database, or one older than the record). */
  readonly fingerprint: string | null;
  /** Whether modules of this database have keys already: then a server must not make new ones. */
  readonly exist: boolean;
}

/** Reads the installation's key record: a fingerprint, or modules registered with live keys. */
export async function readInstallationKeys(db: Kysely<DatabaseSchema>): Promise<InstallationKeys> {
  const row = await db
    .selectFrom('installation_keys')
    .select('fingerprint')
    .where('id', '=', 1)
    .executeTakeFirst();
  if (row !== undefined) return { fingerprint: row.fingerprint, exist: true };
  const module = await db
    .selectFrom('crypto_modules')
    .select('serial')
    .where('zeroized_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  return { fingerprint: null, exist: module !== undefined };
}

/** The refusal for a server whose modules have no keys (or cannot open them) on an existing installation. */
export function keysMissing(dataDir: string, why: string): StartupError {
  return new StartupError(
    'startup.installation_keys_missing',
    `this database belongs to an installation whose keys this server (data directory ${dataDir}) does not have: ${why}. ` +
      `No keys were created. ${HOW_TO_SHARE_KEYS}`,
  );
}

/**
 * The fingerprint of the keys a pool's modules share: SHA-256 of a secret derived under the
 * control key, and of the device-enrollment public key (both shared by every module of one
 * installation). One-way: it tells two key sets apart and reveals nothing of either.
 */
export async function keyFingerprint(pool: ModulePool): Promise<string> {
  return pool.withModule(async (module) => {
    const secret = await module.services.deriveSecret(FINGERPRINT_LABEL);
    const enrollment = await module.services.enrollmentPublicKey();
    const digest = createHash('sha256').update(secret).update(enrollment).digest('hex');
    secret.fill(0);
    return digest;
  });
}

/**
 * Compares the pool's keys with the installation's record, recording them on a first start (or
 * on an installation older than the record). A server with other keys refuses to start: it would
 * pass readiness and fail every package with 500.
 */
export async function assertInstallationKeys(
  db: Kysely<DatabaseSchema>,
  pool: ModulePool,
  context: { readonly backend: string; readonly serverId: string; readonly dataDir: string },
): Promise<void> {
  const fingerprint = await keyFingerprint(pool);
  await db
    .insertInto('installation_keys')
    .values({
      id: 1,
      backend: context.backend,
      fingerprint,
      recorded_at: new Date().toISOString(),
      recorded_by: context.serverId,
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
  const recorded = await db
    .selectFrom('installation_keys')
    .select(['fingerprint', 'recorded_by', 'recorded_at'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  if (recorded.fingerprint !== fingerprint)
    throw keysMissing(
      context.dataDir,
      `its modules hold other keys than those server ${recorded.recorded_by} recorded at ${recorded.recorded_at} (key fingerprint ${fingerprint.slice(0, 16)}… against ${recorded.fingerprint.slice(0, 16)}…)`,
    );
}
