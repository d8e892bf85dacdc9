// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { appendAuditEvents } from '../audit/index.ts';
import type { CertificatesTable, DatabaseSchema, RevocationReason } from '../store/index.ts';

/** The RFC 5280 reasons a revocation may give, as the API and CLI spell them. */
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'key-compromise',
  'affiliation-changed',
  'superseded',
  'cessation-of-operation',
  'certificate-hold',
  'privilege-withdrawn',
];

const CRL_REASON_CODES: Readonly<Record<RevocationReason, x509.X509CrlReason>> = {
  unspecified: x509.X509CrlReason.unspecified,
  'key-compromise': x509.X509CrlReason.keyCompromise,
  'affiliation-changed': x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  'cessation-of-operation': x509.X509CrlReason.cessationOfOperation,
  'certificate-hold': x509.X509CrlReason.certificateHold,
  'privilege-withdrawn': x509.X509CrlReason.privilegeWithdrawn,
};

export function crlReasonCode(reason: RevocationReason): x509.X509CrlReason {
  return CRL_REASON_CODES[reason];
}

export function isRevocationReason(value: string): value is RevocationReason {
  return (REVOCATION_REASONS as readonly string[]).includes(value);
}

/**
 * Whether a revoked certificate still vouches for something its key signed at `signedAt`: a key
 * that may be in other hands (key-compromise, or no reason given) vouches for nothing any more;
 * a meter withdrawn or disabled still vouches for what it printed before.
 */
export function isRevokedFor(
  row: Pick<CertificatesTable, 'revoked_at' | 'revocation_reason'>,
  signedAt: Date,
): boolean {
  if (row.revoked_at === null) return false;
  const reason = row.revocation_reason ?? 'unspecified';
  if (reason === 'key-compromise' || reason === 'unspecified') return true;
  return signedAt.getTime() >= Date.parse(row.revoked_at);
}

/**
 * Revokes every unrevoked certificate of a meter, inside the caller's transaction (the one that
 * withdraws or disables the meter), and writes the audit event. Returns the serials revoked.
 *
 * @example await revokeMeterCertificates(trx, '421D00000001', 'cessation-of-operation', 'withdrawn');
 */
export async function revokeMeterCertificates(
  trx: Kysely<DatabaseSchema>,
  meterId: string,
  reason: RevocationReason,
  note: string | null,
): Promise<string[]> {
  const revokedAt = new Date().toISOString();
  const rows = await trx
    .updateTable('certificates')
    .set({ revoked_at: revokedAt, revocation_reason: reason, revocation_note: note })
    .where('meter_id', '=', meterId)
    .where('kind', '=', 'meter')
    .where('revoked_at', 'is', null)
    .returning('serial')
    .execute();
  const serials = rows.map((row) => row.serial).sort();
  if (serials.length > 0)
    await appendAuditEvents(trx, [
      { kind: 'authority.certificates_revoked', meterId, details: { serials, reason, note } },
    ]);
  return serials;
}

/** PEM of a CRL as openssl reads it (@peculiar/x509 writes "BEGIN CRL", openssl wants "X509 CRL"). */
export function crlPem(crl: x509.X509Crl): string {
  const body = Buffer.from(crl.rawData)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`;
}
