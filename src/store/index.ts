export { redactDatabaseUrl } from './dialect/postgres/index.ts';
export { SQLITE_PRAGMAS } from './dialect/sqlite/index.ts';
export type { DatabaseTarget, DialectName } from './dialect/store-dialect.ts';
export {
  MIGRATION_TABLE,
  appliedMigrationNames,
  assertSchemaNotNewer,
  knownMigrationNames,
  migrateToLatest,
  type MigrationReport,
} from './migrate.ts';
export { openStore, type Store } from './open-store.ts';
export type {
  AccountRole,
  AccountsTable,
  AccountTokensTable,
  ApiKeysTable,
  LicenceApplicationsTable,
  SessionsTable,
  AuditEventsTable,
  AuditHeadTable,
  BalanceEntriesTable,
  BalanceEntryKind,
  CardPaymentsTable,
  CertificatesTable,
  DevicesTable,
  ReceiptsTable,
  CryptoModulesTable,
  CustomerBalancesTable,
  DatabaseSchema,
  IndiciaTable,
  IndiciumStatus,
  InstallationTable,
  MeterFundingsTable,
  MeterMode,
  MeterSerialsTable,
  MeterStatus,
  MetersTable,
  MpsdCheckoutsTable,
  PoolTransfersTable,
  ScanOutcome,
  ScansTable,
  PsdPackagesTable,
  RefundKind,
  RefundsTable,
} from './schema.ts';
export { StoreError, type StoreErrorCode } from './store-error.ts';
