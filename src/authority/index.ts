export { AuthorityError, type AuthorityErrorCode } from './authority-error.ts';
export {
  CA_PACKAGE_ID,
  createAuthorityService,
  meterSubject,
  type AuthorityService,
  type CaGenerationView,
  type CertificateRecord,
  type IssuedCertificate,
  type RollOverResult,
} from './authority-service.ts';
export { CA_SUBJECT, NEXT_CA_KEY_OID, caPackageId, keyHash } from './ca-generations.ts';
export {
  REVOCATION_REASONS,
  isRevocationReason,
  isRevokedFor,
  revokeMeterCertificates,
} from './certificate-revocation.ts';
export { moduleSigningCrypto, type ModuleKeyHandles, type ModuleSigner } from './module-signing-crypto.ts';
export {
  DEMO_AUTHORITY_DECISION,
  fileLicenceApplication,
  licenceOf,
  type LicenceApplication,
  type LicenceDecision,
} from './licences.ts';
