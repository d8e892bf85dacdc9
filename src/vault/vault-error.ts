import { IndiciaError } from '../errors/index.ts';

export type VaultErrorCode = 'vault.key_file_invalid';

export class VaultError extends IndiciaError<VaultErrorCode> {}
