export { type CommittedRecords, type RecordsWithinCommit } from './committed-records.ts';
export { type CustomerMeter } from './customer-meters.ts';
export { indiciaOfCommit } from './indicia-queries.ts';
export {
  MAX_PIECES_PER_REQUEST,
  type FundingResult,
  type IssuedIndicia,
  type IssuedIndicium,
  type PieceRequest,
  type SignedFunding,
} from './issuance.ts';
export { type DeviceEnrollment, type DeviceRecord, newChallenge } from './devices.ts';
export { RECEIPT_LABEL, type ReceiptBody, type SignedReceipt } from './receipts.ts';
export { MeterError, type MeterErrorCode } from './meter-error.ts';
export { type GeneratedMeter, type NewMeterRequest } from './meter-gen.ts';
export { DEFAULT_METER_SETTINGS, type MeterSettings } from './meter-settings.ts';
export {
  createMetersService,
  type MeterDetails,
  type MetersDependencies,
  type MetersService,
} from './meters-service.ts';
export { type IndiciumCheck, type ScanReport } from './verification.ts';
export {
  FRAUD_OUTCOMES,
  SCAN_FRAUD_POLICIES,
  type RevenueProtectionReport,
  type ScanFraudPolicy,
} from './revenue-protection.ts';
export {
  reconcileMeters,
  type MeterReconciliation,
  type PoolReconciliation,
  type ReconciliationReport,
} from './reconciliation.ts';
export {
  DEFAULT_POOL_INCREMENT,
  MASTER_MODEL_ID,
  MPSDS_PER_MODULE,
  POOLED_MODEL_ID,
  createPoolService,
  type PoolDependencies,
  type PoolService,
  type PoolStatusReport,
} from './pool.ts';
export { type RefundResult } from './lifecycle.ts';
export {
  type RefundPolicyInForce,
  type RefundRequestOutcome,
  type RefundRequestView,
  type RefundRequester,
  type WithinDecision,
  refundRequestView,
} from './refund-requests.ts';
export { type CardPaymentRecord, recordCardPayment } from './card-payments.ts';
export { type PooledRequest, clientPackageId, hasClientPackage } from './client-packages.ts';
