import { IndiciaError } from '../errors/index.ts';

export type AuditErrorCode = 'audit.invalid_chain' | 'audit.unknown_anchor';

export class AuditError extends IndiciaError<AuditErrorCode> {}
