import { IndiciaError } from '../errors/index.ts';

export type StartupErrorCode =
  | 'startup.data_dir_unwritable'
  | 'startup.port_in_use'
  | 'startup.tls_unreadable'
  | 'startup.locked'
  | 'startup.not_installed'
  | 'startup.database_moved'
  /** Another live server drives these crypto modules (or, on SQLite, runs on this database). */
  | 'startup.modules_claimed'
  /** The database belongs to an installation whose keys this server does not have. */
  | 'startup.installation_keys_missing';

/** A reason the server cannot start, with a one-line message saying what to fix. */
export class StartupError extends IndiciaError<StartupErrorCode> {}
