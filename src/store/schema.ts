/**
 * Tables as the application sees them, identical on SQLite and PostgreSQL.
 * Conventions (both dialects): amounts are BIGINT mills read back as safe-integer numbers,
 * timestamps are ISO-8601 UTC text, identifiers are text.
 */
export interface DatabaseSchema {
  accounts: AccountsTable;
  installation: InstallationTable;
}

export type AccountRole = 'customer' | 'support' | 'admin' | 'crypto-officer' | 'auditor';

export interface AccountsTable {
  id: string;
  email: string;
  display_name: string;
  role: AccountRole;
  /** PHC-format argon2id hash; never the password. */
  password_hash: string;
  created_at: string;
}

/** Facts about this installation (first start time and the like), one row per key. */
export interface InstallationTable {
  key: string;
  value: string;
  updated_at: string;
}
