export { startReconciliationJob, type ReconciliationJob } from './reconciliation-job.ts';
