import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.ts';

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log line. Secrets are also
 * kept out of log calls in the first place; this is the second line of defence.
 */
export const REDACTED_PATHS = [
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'secret',
  'apiKey',
  'databaseUrl',
  'authorization',
  'cookie',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.secret',
  '*.apiKey',
  '*.databaseUrl',
  '*.passwordHash',
  '*.password_hash',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
] as const;

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; standard output when omitted. */
  destination?: NodeJS.WritableStream;
}

/**
 * The server's structured JSON logger with secret redaction.
 *
 * @example const logger = createLogger({ level: 'info' }); logger.info({ password: 'x' }, 'hi'); // password: "[redacted]"
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'indicia' },
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

export type { Logger } from 'pino';
