import { IndiciaError } from '../errors/index.ts';

export type AccountErrorCode =
  | 'account.invalid'
  | 'account.email_taken'
  | 'account.sign_in_failed'
  | 'account.not_verified'
  | 'account.token_invalid'
  | 'account.unauthenticated'
  | 'account.forbidden'
  | 'account.csrf_failed'
  | 'account.api_key_not_found'
  | 'account.locked'
  | 'account.password_check_required';

export class AccountError extends IndiciaError<AccountErrorCode> {}
