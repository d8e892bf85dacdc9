export { FULL_BACKUP_EVERY_MS, kindOfNextBackup, startBackupJob, type BackupJob } from './backup-job.ts';
export { startReconciliationJob, type ReconciliationJob } from './reconciliation-job.ts';
export {
  DEFAULT_RETRY_SCHEDULE_SECONDS,
  startWebhookDeliveryJob,
  type WebhookDeliveryJob,
  type WebhookDeliveryOptions,
} from './webhook-delivery-job.ts';
export { startLogShippingJob, type LogShippingJob } from './log-shipping-job.ts';
export { startAuditAnchorJob, type AnchorRun, type AuditAnchorJob } from './audit-anchor-job.ts';
export { startAuditVerificationJob, type AuditVerificationJob } from './audit-verification-job.ts';
export {
  type JobDefinition,
  type JobRunner,
  type JobSchedule,
  millisecondsUntil,
  startJobRunner,
} from './job-runner.ts';
export {
  DEFAULT_JOB_LEASE_MS,
  type JobCoordinator,
  type JobRunRecord,
  jobCoordinator,
  jobLeaseHolder,
  listJobRuns,
} from './job-lease.ts';
export { JobError, type JobErrorCode } from './job-error.ts';
