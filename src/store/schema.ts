/**
 * Tables as the application sees them, identical on SQLite and PostgreSQL.
 * Conventions (both dialects): amounts are BIGINT mills read back as safe-integer numbers,
 * timestamps are ISO-8601 UTC text, identifiers are text.
 */
export interface DatabaseSchema {
  accounts: AccountsTable;
  installation: InstallationTable;
  crypto_modules: CryptoModulesTable;
  psd_packages: PsdPackagesTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  certificates: CertificatesTable;
}

/** Certificates issued by the authority component: `kind` is 'ca' or 'meter'. Serials are hex. */
export interface CertificatesTable {
  serial: string;
  kind: 'ca' | 'meter';
  meter_id: string | null;
  subject: string;
  pem: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
}

/** The module table: each crypto module's latest checkpoint, MACed by the module (base64). */
export interface CryptoModulesTable {
  serial: string;
  backend: string;
  checkpoint: string | null;
  updated_at: string;
}

/** One sealed PSD package per meter (base64); `sequence` is compared-and-swapped on every change. */
export interface PsdPackagesTable {
  meter_id: string;
  sequence: number;
  key_version: number;
  sealed: string;
  created_at: string;
  updated_at: string;
}

/** The audit log: each event's hash covers the previous event's hash, so any change shows. */
export interface AuditEventsTable {
  sequence: number;
  at: string;
  kind: string;
  module_serial: string | null;
  meter_id: string | null;
  /** Canonical JSON. */
  details: string;
  previous_hash: string;
  hash: string;
}

/** One row (id 1): the chain's last sequence and hash. Updating it serializes appends. */
export interface AuditHeadTable {
  id: number;
  sequence: number;
  hash: string;
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
