export { ConfigError, type ConfigErrorCode } from './config-error.ts';
export { describeConfig, loadConfig, type ConfigSources } from './load-config.ts';
export {
  CONFIG_FILE_ENV,
  LOG_LEVELS,
  settings,
  type Config,
  type LogLevel,
  type Setting,
} from './settings.ts';
export {
  DEFAULT_PRICING_PLAN,
  DEFAULT_PRICING_PLANS,
  describeRefundPolicy,
  type PricingPlan,
  type PricingPlans,
  type RefundPolicy,
} from './pricing-plans.ts';
export {
  type DatabaseHost,
  type PostgresUrl,
  type TargetSessionAttrs,
  isMultiHostUrl,
  parsePostgresUrl,
} from './database-url.ts';
