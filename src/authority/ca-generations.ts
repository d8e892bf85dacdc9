// @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificatesTable } from '../store/index.ts';

/**
 * The extension a CA certificate carries to commit to the next CA key (seed 004: "included with
 * the CA's certificate will be a hash of the next certificate key values"): its value is a DER
 * OCTET STRING of the SHA-256 of the next key's SubjectPublicKeyInfo (DER). Non-critical, so
 * verifiers that do not know it ignore it. The arc 1.3.6.1.4.1.32473 is the private enterprise
 * number RFC 5612 sets aside for documentation and examples, which fits the built-in demo
 * authority; a real postal authority names its own. (A UUID arc under 2.25 would need no
 * registration, but @peculiar/x509 cannot encode an arc that large.)
 */
export const NEXT_CA_KEY_OID = '1.3.6.1.4.1.32473.1.1';

/** Every CA generation keeps this name, so a cross-certificate is self-issued (RFC 4210's NewWithOld). */
export const CA_SUBJECT = 'CN=Indicia Postal Authority CA (demo),O=Indicia';

const CA_PACKAGE_PREFIX = 'AUTHORITY-CA-';

/** The sealed package holding CA generation `generation`'s key: AUTHORITY-CA-1, -2, … */
export function caPackageId(generation: number): string {
  return `${CA_PACKAGE_PREFIX}${generation}`;
}

/** The generation a CA row's key package names (1 for a row written before generations). */
export function generationOf(row: Pick<CertificatesTable, 'key_package_id'>): number {
  const match = /^AUTHORITY-CA-(\d+)$/.exec(row.key_package_id ?? '');
  return match?.[1] === undefined ? 1 : Number(match[1]);
}

/** SHA-256 of a SubjectPublicKeyInfo (DER), the value the next-key extension commits to. */
export function keyHash(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest();
}

/** The extension committing a CA certificate to the next CA key. */
export function nextKeyExtension(nextSpki: Buffer): x509.Extension {
  const hash = keyHash(nextSpki);
  return new x509.Extension(NEXT_CA_KEY_OID, false, Buffer.concat([Buffer.from([0x04, hash.length]), hash]));
}

/** The next-key hash a CA certificate commits to, or null when it carries none (before rollover support). */
export function committedNextKeyHash(certificate: x509.X509Certificate): Buffer | null {
  const extension = certificate.getExtension(NEXT_CA_KEY_OID);
  if (extension === null) return null;
  const value = Buffer.from(extension.value);
  // A DER OCTET STRING of 32 bytes: tag 04, length 32.
  if (value.length !== 34 || value[0] !== 0x04 || value[1] !== 32) return Buffer.alloc(0);
  return value.subarray(2);
}

export function spkiOf(certificate: x509.X509Certificate): Buffer {
  return Buffer.from(certificate.publicKey.rawData);
}

export function keyIdOf(certificate: x509.X509Certificate): string | undefined {
  return certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}

/** One CA generation as a verifier sees it: trusted or not, and why not. */
export interface CaGeneration {
  readonly generation: number;
  readonly row: CertificatesTable;
  readonly certificate: x509.X509Certificate;
  /** The certificate of this key signed by the previous generation's key (none for generation 1). */
  readonly crossCertificate: CertificatesTable | null;
  readonly keyId: string | undefined;
  /** The hash of the next key this generation's certificate commits to, hex, or null. */
  readonly nextKeyHash: string | null;
  readonly isTrusted: boolean;
  readonly problem: string | null;
}

/**
 * Which CA generations a verifier trusts, from the stored certificates: generation 1 is the root
 * every verifier was given; each later one only if its self-signed certificate verifies, the
 * previous trusted generation's key signed its cross-certificate, and its key hashes to what the
 * previous certificate committed to (when that certificate carries a commitment). A break leaves
 * that generation and every later one untrusted.
 */
export async function evaluateGenerations(rows: readonly CertificatesTable[]): Promise<CaGeneration[]> {
  const cas = rows
    .filter((row) => row.kind === 'ca')
    .sort((a, b) => generationOf(a) - generationOf(b) || a.issued_at.localeCompare(b.issued_at));
  const crosses = rows.filter((row) => row.kind === 'ca-cross');
  const generations: CaGeneration[] = [];
  let previous: CaGeneration | undefined;
  for (const row of cas) {
    const certificate = new x509.X509Certificate(row.pem);
    const spki = spkiOf(certificate);
    const commitment = committedNextKeyHash(certificate);
    let problem: string | null = null;
    let cross: CertificatesTable | null = null;
    if (!(await certificate.verify({ signatureOnly: true }))) problem = 'its self-signature does not verify';
    if (previous !== undefined && problem === null) {
      cross =
        crosses.find(
          (candidate) =>
            candidate.issuer_serial === previous?.row.serial &&
            spkiOf(new x509.X509Certificate(candidate.pem)).equals(spki),
        ) ?? null;
      const previousCommitment = committedNextKeyHash(previous.certificate);
      if (!previous.isTrusted) problem = `generation ${previous.generation} is not trusted`;
      else if (cross === null) problem = `no cross-certificate signed by generation ${previous.generation}`;
      else if (
        !(await new x509.X509Certificate(cross.pem).verify({
          publicKey: previous.certificate.publicKey,
          signatureOnly: true,
        }))
      )
        problem = `its cross-certificate is not signed by generation ${previous.generation}`;
      else if (previousCommitment !== null && !previousCommitment.equals(keyHash(spki)))
        problem = `its key does not hash to what generation ${previous.generation} committed to`;
    }
    const generation: CaGeneration = {
      generation: generationOf(row),
      row,
      certificate,
      crossCertificate: cross,
      keyId: keyIdOf(certificate),
      nextKeyHash: commitment === null ? null : commitment.toString('hex'),
      isTrusted: problem === null,
      problem,
    };
    generations.push(generation);
    previous = generation;
  }
  return generations;
}
