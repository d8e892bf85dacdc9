export {
  DATABASE_MOVE_FILE,
  assertDatabaseNotMoved,
  recordDatabaseMove,
  type DatabaseMove,
} from './database-move.ts';
export { acquireLockFile } from './lock-file.ts';
export { assertDataDirWritable, assertPortFree, readTlsFiles } from './preflight.ts';
export { StartupError, type StartupErrorCode } from './startup-error.ts';
