export {
  KEY_ENCRYPTION_KEY_BYTES,
  ensureKeyEncryptionKey,
  type KeyEncryptionKeyFile,
} from './key-encryption-key.ts';
export { VaultError, type VaultErrorCode } from './vault-error.ts';
