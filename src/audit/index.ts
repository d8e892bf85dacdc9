export {
  appendAuditEvents,
  auditEventsFor,
  auditHash,
  verifyAuditChain,
  type AuditEvent,
  type AuditEventInput,
  type ChainVerification,
} from './audit-log.ts';
