export { AccountError, type AccountErrorCode } from './account-error.ts';
export {
  createAccountsService,
  type AccountsDependencies,
  type AccountsService,
  type WithinRegistration,
} from './accounts-service.ts';
export { SESSION_IDLE_MS, SESSION_LIFETIME_MS, type ApiKeyView, type NewSession } from './credentials.ts';
export { type DemoCredential, createDemoAccountsIfEmpty } from './demo-accounts.ts';
export { API_KEY_SCOPES, type AccountView, type ApiKeyScope, type Principal } from './principal.ts';
export {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  isPoBox,
  type AccountProfile,
  type PostalAddress,
  type RegistrationInput,
} from './registration.ts';
