export { CustodyError, type CustodyErrorCode } from './custody-error.ts';
export {
  createCustodyService,
  type CustodyDependencies,
  type CommittedCommand,
  type CustodyService,
  type RotationReport,
  type WithinCommit,
} from './custody-service.ts';
