import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './config-error.ts';
import { CLIENT_ENV, CONFIG_FILE_ENV, type Config, type Setting, settings } from './settings.ts';

export interface ConfigSources {
  /** Environment variables; only INDICIA_* names are read, and unknown ones are refused. */
  env: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags, keyed by setting name; they win over everything else. */
  overrides?: Partial<Record<keyof Config, unknown>>;
  /** Path of a JSON config file; defaults to $INDICIA_CONFIG. */
  configFile?: string | undefined;
  /** Folder relative paths are resolved against (the working directory). */
  cwd: string;
}

/** Closest known name, to turn a typo into a suggestion. */
function suggest(name: string, candidates: readonly string[]): string {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, index) => index);
    for (let i = 1; i <= a.length; i += 1) {
      let previous = row[0] ?? 0;
      row[0] = i;
      for (let j = 1; j <= b.length; j += 1) {
        const current = row[j] ?? 0;
        row[j] = Math.min(
          (row[j] ?? 0) + 1,
          (row[j - 1] ?? 0) + 1,
          previous + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
        previous = current;
      }
    }
    return row[b.length] ?? Number.POSITIVE_INFINITY;
  };
  const best = candidates
    .map((candidate) => ({ candidate, score: distance(name.toLowerCase(), candidate.toLowerCase()) }))
    .sort((left, right) => left.score - right.score)[0];
  return best !== undefined && best.score <= 3 ? ` (did you mean ${best.candidate}?)` : '';
}

function readConfigFile(path: string): Record<string, unknown> {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError('config.file_unreadable', `config file ${path} cannot be read (${reason}).`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (error) {
    throw new ConfigError(
      'config.invalid',
      `config file ${path} is not valid JSON: ${(error as Error).message}.`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('config.invalid', `config file ${path} must hold a JSON object of settings.`);
  }
  return parsed as Record<string, unknown>;
}

function applySetting(config: Record<string, unknown>, setting: Setting, raw: unknown, origin: string): void {
  const parsed = setting.parse(raw);
  // A setting's value may itself be an object (pricingPlans): a problem is a string.
  if (typeof parsed === 'object' && 'problem' in parsed && typeof parsed.problem === 'string') {
    const shown = setting.isSecret === true ? '(hidden)' : JSON.stringify(raw);
    throw new ConfigError('config.invalid', `${origin}: ${shown} ${parsed.problem}.`, {
      details: { setting: setting.key },
    });
  }
  config[setting.key] = parsed;
}

/**
 * Builds the configuration from defaults, an optional JSON file, INDICIA_* environment variables
 * and command-line overrides, in that order of precedence. Validates everything before anything
 * touches the disk; the first problem is thrown as a {@link ConfigError} with a one-line message.
 *
 * @example loadConfig({ env: process.env, cwd: process.cwd(), overrides: { port: '9000' } })
 */
export function loadConfig(sources: ConfigSources): Config {
  const config: Record<string, unknown> = {};
  for (const setting of settings) config[setting.key] = setting.defaultValue;

  const filePath = sources.configFile ?? sources.env[CONFIG_FILE_ENV];
  if (filePath !== undefined && filePath !== '') {
    const absolute = resolve(sources.cwd, filePath);
    const file = readConfigFile(absolute);
    for (const [key, raw] of Object.entries(file)) {
      const setting = settings.find((candidate) => candidate.key === key);
      if (setting === undefined) {
        const known = settings.map((candidate) => candidate.key);
        throw new ConfigError(
          'config.unknown_key',
          `config file ${absolute}: unknown setting "${key}"${suggest(key, known)}; known settings: ${known.join(', ')}.`,
        );
      }
      applySetting(config, setting, raw, `config file ${absolute}, setting "${key}"`);
    }
  }

  const knownEnv = [...settings.map((setting) => setting.env), CONFIG_FILE_ENV];
  for (const [name, raw] of Object.entries(sources.env)) {
    if (!name.startsWith('INDICIA_') || raw === undefined) continue;
    const setting = settings.find((candidate) => candidate.env === name);
    if (setting === undefined) {
      if (name === CONFIG_FILE_ENV || CLIENT_ENV.includes(name)) continue;
      throw new ConfigError(
        'config.unknown_key',
        `environment variable ${name} is not an Indicia setting${suggest(name, knownEnv)}; unset it or fix its name.`,
      );
    }
    applySetting(config, setting, raw, `environment variable ${name}`);
  }

  for (const [key, raw] of Object.entries(sources.overrides ?? {})) {
    const setting = settings.find((candidate) => candidate.key === key);
    if (setting === undefined || raw === undefined) continue;
    applySetting(config, setting, raw, setting.flag ?? key);
  }

  const result = config as unknown as Config;
  if ((result.tlsCertFile === undefined) !== (result.tlsKeyFile === undefined)) {
    throw new ConfigError(
      'config.invalid',
      'TLS needs both tlsCertFile (INDICIA_TLS_CERT_FILE) and tlsKeyFile (INDICIA_TLS_KEY_FILE), or neither.',
    );
  }
  if (result.cryptoBackend === 'pkcs11') {
    const missing = (['pkcs11Library', 'pkcs11TokenLabel', 'pkcs11Pin'] as const).filter(
      (key) => result[key] === undefined,
    );
    if (missing.length > 0) {
      throw new ConfigError(
        'config.invalid',
        `cryptoBackend pkcs11 needs ${missing.join(', ')} (INDICIA_PKCS11_LIBRARY, INDICIA_PKCS11_TOKEN_LABEL, INDICIA_PKCS11_PIN).`,
      );
    }
  }
  if (result.kek !== undefined && result.kekFile !== undefined) {
    throw new ConfigError(
      'config.invalid',
      'Give the key-encryption key as kek (INDICIA_KEK) or kekFile (INDICIA_KEK_FILE), not both.',
    );
  }
  if (result.pricingPlans[result.defaultPricingPlan] === undefined) {
    throw new ConfigError(
      'config.invalid',
      `defaultPricingPlan (INDICIA_DEFAULT_PRICING_PLAN) "${result.defaultPricingPlan}" is not one of the pricingPlans: ${Object.keys(result.pricingPlans).join(', ')}.`,
    );
  }
  return {
    ...result,
    kekFile: result.kekFile === undefined ? undefined : resolve(sources.cwd, result.kekFile),
    dataDir: resolve(sources.cwd, result.dataDir),
    tlsCertFile: result.tlsCertFile === undefined ? undefined : resolve(sources.cwd, result.tlsCertFile),
    tlsKeyFile: result.tlsKeyFile === undefined ? undefined : resolve(sources.cwd, result.tlsKeyFile),
  };
}

/** The configuration with secrets replaced, safe to log or print. */
export function describeConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  for (const setting of settings) {
    if (setting.isSecret === true && shown[setting.key] !== undefined) shown[setting.key] = '(set)';
  }
  return shown;
}
