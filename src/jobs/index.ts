export {
  FULL_BACKUP_EVERY_MS,
  kindOfNextBackup,
  millisecondsUntil,
  startBackupJob,
  type BackupJob,
} from './backup-job.ts';
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
