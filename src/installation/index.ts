export {
  SQLITE_FILE_NAME,
  databaseTargetFor,
  hasDatabase,
  logArchiveDir,
  openMigratedStore,
} from './database.ts';
export {
  OPERATOR_MODULE_LOCK,
  OPERATOR_MODULE_NUMBER,
  SERVER_MODULES_LOCK,
  type ServerModules,
  backendSettingsFor,
  installationModuleNumbers,
  lockHolder,
  moduleOpener,
  openModulePool,
  startServerModules,
  takeServerModulesLock,
} from './modules.ts';
export {
  type OperatorServices,
  meterSettingsFor,
  withCustody,
  withOperatorServices,
} from './operator-services.ts';
