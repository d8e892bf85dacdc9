export { AuthorityError, type AuthorityErrorCode } from './authority-error.ts';
export {
  CA_PACKAGE_ID,
  createAuthorityService,
  meterSubject,
  type AuthorityService,
  type IssuedCertificate,
} from './authority-service.ts';
export { moduleSigningCrypto, type ModuleKeyHandles, type ModuleSigner } from './module-signing-crypto.ts';
export {
  DEMO_AUTHORITY_DECISION,
  fileLicenceApplication,
  licenceOf,
  type LicenceApplication,
  type LicenceDecision,
} from './licences.ts';
