export { generatePassword } from './generate-password.ts';
export {
  PASSWORD_HASH_PARAMETERS,
  hashPassword,
  verifyPassword,
  type PasswordCheck,
  type PasswordHashParameters,
} from './password.ts';
