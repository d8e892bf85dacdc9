import { IndiciaError } from '../errors/index.ts';

export type AuthorityErrorCode =
  | 'authority.request_invalid'
  | 'authority.certificate_not_found'
  | 'authority.certificate_not_revocable'
  | 'authority.certificate_revoked'
  | 'authority.rollover_invalid'
  | 'authority.signing_failed';

export class AuthorityError extends IndiciaError<AuthorityErrorCode> {}
