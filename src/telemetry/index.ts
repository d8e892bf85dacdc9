export { REDACTED_PATHS, createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { createMetrics, type AuditMetrics, type JobMetrics, type ServerMetrics } from './metrics.ts';
