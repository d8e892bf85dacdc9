import { IndiciaError } from '../errors/index.ts';

export type ConfigErrorCode = 'config.invalid' | 'config.unknown_key' | 'config.file_unreadable';

/** A configuration problem; its message is one line that says what to fix. */
export class ConfigError extends IndiciaError<ConfigErrorCode> {}
