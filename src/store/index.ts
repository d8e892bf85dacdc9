export { redactDatabaseUrl } from './dialect/postgres/index.ts';
export { SQLITE_PRAGMAS } from './dialect/sqlite/index.ts';
export type { DatabaseTarget, DialectName } from './dialect/store-dialect.ts';
export {
  MIGRATION_TABLE,
  appliedMigrationNames,
  assertSchemaNotNewer,
  knownMigrationNames,
  migrateThrough,
  migrateToLatest,
  type MigrationReport,
} from './migrate.ts';
export {
  copyDatabase,
  type CopiedTable,
  type CopyDatabaseOptions,
  type DatabaseCopyReport,
} from './copy-database.ts';
export { allocateNumber, type NumberCounter } from './number-allocator.ts';
export { preparedQuery } from './prepared-query.ts';
export { withoutFlush } from './unflushed-write.ts';
export {
  type CommitParticipant,
  type CommittedPackage,
  currentCommitParticipant,
  withCommitParticipant,
  withoutCommitParticipant,
} from './commit-participant.ts';
export { openStore, type Store } from './open-store.ts';
export {
  type AdvisoryLockKey,
  type LockSession,
  advisoryObjectId,
  heldAdvisoryLocks,
  openLockSession,
} from './lock-session.ts';
export { type CapturedStatement, captureWrites, runCapturedStatements } from './statement-capture.ts';
export {
  type CurrentPackage,
  type ModuleLogEntry,
  type PackageVersion,
  insertModuleLogEntry,
  readCurrentPackages,
  readPackageSequences,
  writePackageVersions,
} from './package-versions.ts';
export type {
  AccountRole,
  AccountsTable,
  AccountTokensTable,
  ApiKeysTable,
  LicenceApplicationsTable,
  SessionsTable,
  AuditEventsTable,
  AuditAnchorsTable,
  AuditHeadsTable,
  BalanceEntriesTable,
  BalanceEntryKind,
  AdTextsTable,
  CardPaymentsTable,
  LabelSheetsTable,
  MailingListRowsTable,
  MailingListState,
  MailingListsTable,
  PieceAddressesTable,
  SheetLabelState,
  SheetLabelsTable,
  CertificatesTable,
  RevenueProtectionAction,
  RevenueProtectionReportsTable,
  RevocationReason,
  DevicesTable,
  IdempotencyKeysTable,
  WebhookDeliveriesTable,
  WebhookEvent,
  WebhookSubscriptionsTable,
  ReceiptsTable,
  LogShipmentsTable,
  JobLeasesTable,
  JobRunOutcome,
  JobRunTrigger,
  JobRunsTable,
  ModuleLogTable,
  RecoveryGapsTable,
  CryptoModulesTable,
  InstallationKeysTable,
  ModuleClaimsTable,
  ServersTable,
  CustomerBalancesTable,
  DatabaseSchema,
  IndiciaTable,
  IndiciumStatus,
  InstallationTable,
  MeterFundingsTable,
  MeterMode,
  MeterStatus,
  MetersTable,
  MpsdCheckoutsTable,
  NumberAllocatorsTable,
  PoolTransfersTable,
  ScanOutcome,
  ScansTable,
  PsdPackagesTable,
  RefundKind,
  RefundRequestStatus,
  RefundRequestsTable,
  RefundsTable,
} from './schema.ts';
export { StoreError, type StoreErrorCode } from './store-error.ts';
