export { AuditError, type AuditErrorCode } from './audit-error.ts';
export {
  INSTALLATION_CHAIN,
  appendAuditEvents,
  auditEventsFor,
  auditHash,
  genesisHash,
  type AppendOptions,
  type AuditEvent,
  type AuditEventInput,
} from './audit-log.ts';
export {
  AUDIT_ANCHOR_LABEL,
  anchorMacs,
  anchorsBetween,
  checkAnchor,
  newestAnchor,
  writeAnchor,
  type AnchorRecord,
  type AnchoredHead,
  type AuditAnchor,
  type LeaseModule,
  type RecordMacs,
} from './audit-anchors.ts';
export {
  chainHeads,
  genesisOf,
  walkChain,
  type ChainPosition,
  type RecordProblem,
  type RecordProblemReason,
} from './chain-walk.ts';
export { verifyAuditChain, type ChainVerification } from './hash-chain-check.ts';
export {
  verifyAuditLog,
  type AuditProblem,
  type AuditProblemReason,
  type AuditVerification,
  type AuditVerificationOptions,
} from './audit-verifier.ts';
export { moduleLogCrossCheck } from './module-log-cross-check.ts';
