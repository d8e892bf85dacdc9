import type { Kysely } from 'kysely';
import { type DatabaseSchema, allocateNumber } from '../store/index.ts';
import { DAY, revocationList } from './ca-certificates.ts';
import type { CaGeneration } from './ca-generations.ts';
import { crlPem, crlReasonCode } from './certificate-revocation.ts';
import type { ModuleKeyHandles } from './module-signing-crypto.ts';

/** A CRL promises its next update within this; a fresh one is signed well before. */
const CRL_VALIDITY_DAYS = 7;
const CRL_REFRESH_MS = DAY;

export interface RevocationLists {
  /** Every unexpired CA generation's CRL, PEM, oldest generation first. */
  pem(): Promise<string>;
}

/**
 * CRLs, one per CA generation (openssl accepts a CRL only from the key that signed the
 * certificate, or one on its path), each signed by that generation's key in a crypto module.
 * Signing is a module transaction, so a CRL is kept in memory and signed again only when that
 * generation's revocations changed or it is a day old; a number from the `crl-number:<serial>`
 * counter orders them across servers.
 */
export function createRevocationLists({
  db,
  generations,
  signerOf,
}: {
  db: Kysely<DatabaseSchema>;
  generations: () => Promise<CaGeneration[]>;
  signerOf: (generation: CaGeneration) => ModuleKeyHandles;
}): RevocationLists {
  const cache = new Map<string, { fingerprint: string; signedAt: number; pem: Promise<string> }>();

  const listOf = async (generation: CaGeneration): Promise<string> => {
    const revoked = await db
      .selectFrom('certificates')
      .select(['serial', 'revoked_at', 'revocation_reason'])
      .where('issuer_serial', '=', generation.row.serial)
      .where('revoked_at', 'is not', null)
      .orderBy('serial')
      .execute();
    const fingerprint = revoked.map((row) => `${row.serial}@${row.revoked_at ?? ''}`).join(',');
    const cached = cache.get(generation.row.serial);
    if (cached?.fingerprint === fingerprint && Date.now() - cached.signedAt < CRL_REFRESH_MS)
      return cached.pem;
    const thisUpdate = new Date();
    const pem = (async () => {
      const number = await allocateNumber(db, `crl-number:${generation.row.serial}`, 1);
      const crl = await revocationList(signerOf(generation), generation.certificate, {
        number,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + CRL_VALIDITY_DAYS * DAY),
        revoked: revoked.map((row) => ({
          serial: row.serial,
          revokedAt: row.revoked_at ?? thisUpdate.toISOString(),
          reason: crlReasonCode(row.revocation_reason ?? 'unspecified'),
        })),
      });
      return crlPem(crl);
    })();
    cache.set(generation.row.serial, { fingerprint, signedAt: thisUpdate.getTime(), pem });
    // A failed signing is not kept: the next request tries again.
    pem.catch(() => cache.delete(generation.row.serial));
    return pem;
  };

  return {
    async pem() {
      const now = new Date();
      const live = (await generations()).filter(
        (generation) => generation.isTrusted && generation.certificate.notAfter > now,
      );
      return (await Promise.all(live.map(listOf))).join('');
    },
  };
}
