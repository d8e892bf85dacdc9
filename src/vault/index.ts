export {
  signOnce,
  type BackendKind,
  type CryptoBackend,
  type SigningKeyHandle,
  type GeneratedSigningKey,
  type KeyInventory,
  type MacKeyName,
  type SigningAlgorithm,
} from './backend/crypto-backend.ts';
export { Pkcs11Backend, initializeToken, type Pkcs11Settings } from './backend/pkcs11/index.ts';
export { SoftwareBackend, SoftwareKeystore } from './backend/software/index.ts';
export {
  checkpointDigest,
  openCheckpoint,
  type CheckpointRecord,
  type DiscardedTransaction,
  type TransactionEntry,
  type TransactionType,
} from './checkpoint.ts';
export { compareCheckpoints, type CheckpointDecision } from './checkpoint-comparison.ts';
export { CryptoModule, DEFAULT_RING_SIZE } from './crypto-module.ts';
export {
  MAX_GROUP_COMMANDS,
  viewOf,
  type CommandOutcome,
  type CommandRequest,
  type CommandResult,
  type CommandStep,
  type CryptoModuleOptions,
  type GroupRequest,
  type GroupResult,
  type KeyReplacementRequest,
  type ModuleCommand,
  type NewPackageRequest,
  type PsdView,
} from './module-commands.ts';
export {
  KEY_ENCRYPTION_KEY_BYTES,
  defaultKekPath,
  ensureKeyEncryptionKey,
  readKeyEncryptionKey,
  type KeyEncryptionKeyFile,
} from './key-encryption-key.ts';
export {
  STANDARD_VECTORS,
  runKnownAnswerTests,
  verifySignature,
  type KnownAnswerVectors,
  type SelfTestResult,
} from './known-answer-tests.ts';
export type { ModuleRole, ModuleState, ModuleStatus } from './module-status.ts';
export type { ModuleServices } from './module-services.ts';
export { applyOperation, type PsdOperation } from './psd-operations.ts';
export {
  readPackageHeader,
  sealPackage,
  unsealPackage,
  type PackageExpectation,
  type PsdOperationalState,
  type PsdState,
} from './psd-package.ts';
export { VaultError, type VaultErrorCode } from './vault-error.ts';
export {
  ModulePool,
  type ModulePoolOptions,
  type PoolStatus,
  type RecordedInhibition,
} from './module-pool.ts';
export {
  CODE_MANIFEST_FILE,
  MODULE_CODE_FOLDERS,
  checkCodeIntegrity,
  codeLocation,
  runningCodeLocation,
  writeCodeManifest,
  type CodeLocation,
} from './code-integrity.ts';
export {
  backendFactory,
  existingModuleNumbers,
  OPERATOR_MODULE_NUMBER,
  openCryptoModules,
  type BackendSettings,
  type OpenedModules,
  type PoolSettings,
} from './open-crypto-modules.ts';
export {
  MAX_DEVICES,
  MAX_REVOKED_DEVICES,
  type DeviceChange,
  type DeviceView,
  type EnrolledDevice,
} from './device-list.ts';
export {
  checkClientAuthorization,
  signedText,
  type ClientAuthorization,
  type EnrollmentRequest,
  type OpenedEnrollment,
} from './client-protocol.ts';
export type {
  LoggedPackageVersion,
  ReplayRecordRequest,
  ReplayedPackage,
  ReplayedRecord,
} from './log-replay.ts';
export type { GapSettlement, GapSettlementRequest } from './gap-settlement.ts';
