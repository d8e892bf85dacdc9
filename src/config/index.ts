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
