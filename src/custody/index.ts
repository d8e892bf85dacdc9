export { CustodyError, type CustodyErrorCode } from './custody-error.ts';
export {
  createCustodyService,
  type CustodyDependencies,
  type CommittedCommand,
  type CustodyService,
  type ModuleAssessment,
  type RotationReport,
  type WithinCommit,
} from './custody-service.ts';
export type { LoggedPackage, ModuleLogReport, PackageMismatch } from './module-log.ts';
export {
  inspectModule,
  inspectModules,
  listInstallationModules,
  ownerOf,
  registerModules,
  type InspectedModule,
  type InstallationModule,
  type ZeroizationReport,
} from './installation-modules.ts';
