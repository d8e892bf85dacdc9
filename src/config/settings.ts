import {
  DEFAULT_PRICING_PLAN,
  DEFAULT_PRICING_PLANS,
  type PricingPlans,
  parsePricingPlans,
} from './pricing-plans.ts';
import { isMultiHostUrl, parsePostgresUrl } from './database-url.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The server's configuration after validation. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  logLevel: LogLevel;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  shutdownTimeoutMs: number;
  meterWaitTimeoutMs: number;
  shutdownDrainMs: number;
  cryptoBackend: 'software' | 'pkcs11';
  cryptoModules: number;
  kekFile: string | undefined;
  kek: string | undefined;
  pkcs11Library: string | undefined;
  pkcs11TokenLabel: string | undefined;
  pkcs11Pin: string | undefined;
  checkpointRingSize: number;
  inhibitThreshold: number;
  cryptoOfficerCredential: string | undefined;
  reconcileIntervalMinutes: number;
  logShipIntervalSeconds: number;
  logArchiveDir: string | undefined;
  auditAnchorIntervalSeconds: number;
  auditVerifyIntervalSeconds: number;
  jobLeaseSeconds: number;
  smtpUrl: string | undefined;
  mailFrom: string;
  publicUrl: string | undefined;
  lowBalanceMills: number;
  webhookRetrySchedule: number[];
  webhookAllowPrivateTargets: boolean;
  rateLimitPerMinute: number;
  rateLimitScale: number;
  passwordRecheckPieces: number;
  mailingDateDaysAhead: number;
  timeZone: string;
  deviceKeyDays: number;
  scanFraudPolicy: 'disable-meter' | 'report-only';
  pricingPlans: PricingPlans;
  defaultPricingPlan: string;
  // Backups (src/backup, docs/operations.md "Backups").
  backupDir: string | undefined;
  backupRetention: number;
  backupAt: string;
  pgbackrestConfig: string | undefined;
  pgbackrestStanza: string;
  pgbackrestRunAs: string | undefined;
  pgDataDir: string | undefined;
  pgSocketDir: string;
}

/** One setting: its name in a config file, its environment variable, its parser and its help text. */
export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  flag?: string;
  description: string;
  defaultValue: Config[K];
  /** Holds a credential: shown as "(set)" when configuration is printed. */
  isSecret?: boolean;
  /** Returns the value, or a phrase saying what a valid value looks like. */
  parse(raw: unknown): Config[K] | { problem: string };
}

function text(raw: unknown, what: string): string | { problem: string } {
  if (typeof raw !== 'string' || raw.trim() === '') return { problem: `must be ${what}` };
  return raw.trim();
}

function integer(raw: unknown, min: number, max: number, what: string): number | { problem: string } {
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return { problem: `must be ${what} (a whole number from ${min} to ${max})` };
  }
  return value;
}

function optionalFile(raw: unknown): string | undefined | { problem: string } {
  if (raw === undefined || raw === '') return undefined;
  return text(raw, 'a file path');
}

function optionalText(raw: unknown, what: string): string | undefined | { problem: string } {
  if (raw === undefined || raw === '') return undefined;
  return text(raw, what);
}

export const settings: readonly Setting[] = [
  {
    key: 'host',
    env: 'INDICIA_HOST',
    flag: '--host',
    description: 'Address to listen on. 127.0.0.1 keeps the server private to this machine.',
    defaultValue: '127.0.0.1',
    parse: (raw) => text(raw, 'a host name or IP address'),
  },
  {
    key: 'port',
    env: 'INDICIA_PORT',
    flag: '--port',
    description: 'TCP port to listen on; 0 picks a free one.',
    defaultValue: 8080,
    parse: (raw) => integer(raw, 0, 65535, 'a port number'),
  },
  {
    key: 'dataDir',
    env: 'INDICIA_DATA_DIR',
    flag: '--data-dir',
    description: 'Folder for the SQLite database and the server keys; created on first start.',
    defaultValue: 'indicia-data',
    parse: (raw) => text(raw, 'a folder path'),
  },
  {
    key: 'databaseUrl',
    env: 'INDICIA_DATABASE_URL',
    flag: '--database-url',
    description:
      'postgres://user:password@host:port/db to use PostgreSQL instead of the SQLite file; list a primary and its standby as host1:port1,host2:port2 with ?target_session_attrs=read-write.',
    defaultValue: undefined,
    isSecret: true,
    parse: (raw) => {
      if (raw === undefined || raw === '') return undefined;
      if (typeof raw !== 'string' || !/^postgres(ql)?:\/\/\S+$/.test(raw.trim())) {
        return { problem: 'must be a URL like postgres://user:password@localhost:5432/indicia' };
      }
      // A libpq host list (primary and standby) is checked host by host; one host as before.
      if (isMultiHostUrl(raw)) {
        const parsed = parsePostgresUrl(raw);
        return 'problem' in parsed ? parsed : raw.trim();
      }
      try {
        new URL(raw.trim());
      } catch {
        return { problem: 'must be a URL like postgres://user:password@localhost:5432/indicia' };
      }
      return raw.trim();
    },
  },
  {
    key: 'logLevel',
    env: 'INDICIA_LOG_LEVEL',
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    defaultValue: 'info',
    parse: (raw) =>
      typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw.trim())
        ? raw.trim()
        : { problem: `must be one of ${LOG_LEVELS.join(', ')}` },
  },
  {
    key: 'tlsCertFile',
    env: 'INDICIA_TLS_CERT_FILE',
    description: 'PEM certificate (chain) file; with tlsKeyFile, the server speaks HTTPS.',
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'tlsKeyFile',
    env: 'INDICIA_TLS_KEY_FILE',
    description: 'PEM private key file for tlsCertFile.',
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'shutdownTimeoutMs',
    env: 'INDICIA_SHUTDOWN_TIMEOUT_MS',
    description: 'How long a graceful shutdown waits for requests in flight before closing anyway.',
    defaultValue: 10_000,
    parse: (raw) => integer(raw, 0, 600_000, 'a duration in milliseconds'),
  },
  {
    key: 'meterWaitTimeoutMs',
    env: 'INDICIA_METER_WAIT_TIMEOUT_MS',
    description:
      "PostgreSQL: how long a command waits for a meter another server's commands hold before it is refused with custody.meter_busy (503, Retry-After).",
    defaultValue: 10_000,
    parse: (raw) => integer(raw, 1, 600_000, 'a duration in milliseconds'),
  },
  {
    key: 'shutdownDrainMs',
    env: 'INDICIA_SHUTDOWN_DRAIN_MS',
    description:
      "Behind a load balancer: how long a graceful shutdown answers /readyz 503 while still serving, before it stops accepting (at least the balancer's check interval × fall).",
    defaultValue: 0,
    parse: (raw) => integer(raw, 0, 600_000, 'a duration in milliseconds'),
  },
  {
    key: 'cryptoBackend',
    env: 'INDICIA_CRYPTO_BACKEND',
    description: 'Crypto modules: software (keys under a KEK) or pkcs11 (an HSM through PKCS#11).',
    defaultValue: 'software',
    parse: (raw) =>
      raw === 'software' || raw === 'pkcs11' ? raw : { problem: 'must be software or pkcs11' },
  },
  {
    key: 'cryptoModules',
    env: 'INDICIA_CRYPTO_MODULES',
    description: 'How many crypto modules the pool runs; any module serves any meter.',
    defaultValue: 2,
    parse: (raw) => integer(raw, 1, 64, 'a number of modules'),
  },
  {
    key: 'kekFile',
    env: 'INDICIA_KEK_FILE',
    description:
      'Software backend: file with the base64 key-encryption key (default <dataDir>/keys/kek-v1.key, created on first start).',
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'kek',
    env: 'INDICIA_KEK',
    description: 'Software backend: the key-encryption key itself, base64 (instead of a file).',
    defaultValue: undefined,
    isSecret: true,
    parse: (raw) => {
      if (raw === undefined || raw === '') return undefined;
      return typeof raw === 'string' && Buffer.from(raw, 'base64').length === 32
        ? raw
        : { problem: 'must be 32 bytes in base64 (openssl rand -base64 32)' };
    },
  },
  {
    key: 'pkcs11Library',
    env: 'INDICIA_PKCS11_LIBRARY',
    description: 'PKCS#11 backend: path of the library, e.g. /usr/lib/softhsm/libsofthsm2.so.',
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'pkcs11TokenLabel',
    env: 'INDICIA_PKCS11_TOKEN_LABEL',
    description: 'PKCS#11 backend: label of the initialized token to use.',
    defaultValue: undefined,
    parse: (raw) => optionalText(raw, 'a token label'),
  },
  {
    key: 'pkcs11Pin',
    env: 'INDICIA_PKCS11_PIN',
    description: "PKCS#11 backend: the token's user PIN (the crypto-user credential).",
    defaultValue: undefined,
    isSecret: true,
    parse: (raw) => optionalText(raw, 'a PIN'),
  },
  {
    key: 'checkpointRingSize',
    env: 'INDICIA_CHECKPOINT_RING_SIZE',
    description: 'Transaction records each module keeps for rollback detection (3 to 5).',
    defaultValue: 3,
    parse: (raw) => integer(raw, 3, 5, 'a ring size'),
  },
  {
    key: 'inhibitThreshold',
    env: 'INDICIA_INHIBIT_THRESHOLD',
    description: 'Inhibited modules that stop the whole service until an operator acts.',
    defaultValue: 1,
    parse: (raw) => integer(raw, 1, 64, 'a number of modules'),
  },
  {
    key: 'reconcileIntervalMinutes',
    env: 'INDICIA_RECONCILE_INTERVAL_MINUTES',
    description: 'How often the server proves every meter balances (0 turns the job off).',
    defaultValue: 60,
    parse: (raw) => integer(raw, 0, 10_080, 'a number of minutes'),
  },
  {
    key: 'logShipIntervalSeconds',
    env: 'INDICIA_LOG_SHIP_INTERVAL',
    description:
      'Seconds between shipments of the protected log to the log archive (0 turns shipping off): the most a restore can lose.',
    defaultValue: 300,
    parse: (raw) => integer(raw, 0, 86_400, 'a number of seconds'),
  },
  {
    key: 'logArchiveDir',
    env: 'INDICIA_LOG_ARCHIVE_DIR',
    description:
      'Folder the protected log is shipped to (default <dataDir>/log-archive); mount it from another disk or host: a copy beside the database is lost with it.',
    defaultValue: undefined,
    parse: (raw) => optionalText(raw, 'a folder path'),
  },
  {
    key: 'auditAnchorIntervalSeconds',
    env: 'INDICIA_AUDIT_ANCHOR_INTERVAL',
    description:
      'Seconds between anchors: a crypto module MACs every audit chain head into the root chain, after verifying what was written since the last (0 turns anchoring off).',
    defaultValue: 10,
    parse: (raw) => integer(raw, 0, 86_400, 'a number of seconds'),
  },
  {
    key: 'auditVerifyIntervalSeconds',
    env: 'INDICIA_AUDIT_VERIFY_INTERVAL',
    description:
      'Seconds between verifications of the audit log (chains, anchor MACs, module log cross-check), as indicia audit verify does (0 turns the job off).',
    defaultValue: 3_600,
    parse: (raw) => integer(raw, 0, 604_800, 'a number of seconds'),
  },
  {
    key: 'jobLeaseSeconds',
    env: 'INDICIA_JOB_LEASE_SECONDS',
    description:
      'How long a server holds a timed job (reconciliation, log shipping, anchors, verification, backup) without renewing it; when a server dies, another runs its jobs from the next period after this.',
    defaultValue: 30,
    parse: (raw) => integer(raw, 2, 3_600, 'a number of seconds'),
  },
  {
    key: 'smtpUrl',
    env: 'INDICIA_SMTP_URL',
    description:
      'smtp://user:password@host:587 (STARTTLS when offered) or smtps://… of the relay for outgoing mail; without it mail is written to <dataDir>/outbox as .eml files.',
    defaultValue: undefined,
    isSecret: true,
    parse: (raw) => {
      if (raw === undefined || raw === '') return undefined;
      const value = typeof raw === 'string' ? raw.trim() : '';
      try {
        if (/^smtps?:\/\/\S+$/.test(value) && new URL(value).hostname !== '') return value;
      } catch {
        // reported below
      }
      return { problem: 'must be a URL like smtp://user:password@mail.example.com:587' };
    },
  },
  {
    key: 'mailFrom',
    env: 'INDICIA_MAIL_FROM',
    description: 'The From address of mail the server sends.',
    defaultValue: 'Indicia <no-reply@indicia.localhost>',
    parse: (raw) => text(raw, 'an address like "Postage <no-reply@example.com>"'),
  },
  {
    key: 'publicUrl',
    env: 'INDICIA_PUBLIC_URL',
    description:
      'The address customers reach the server at, for links in e-mails; the listening URL when unset.',
    defaultValue: undefined,
    parse: (raw) => {
      if (raw === undefined || raw === '') return undefined;
      const value = typeof raw === 'string' ? raw.trim().replace(/\/+$/, '') : '';
      return /^https?:\/\/[^\s/]+(\/\S*)?$/.test(value)
        ? value
        : { problem: 'must be a URL like https://postage.example.com' };
    },
  },
  {
    key: 'lowBalanceMills',
    env: 'INDICIA_LOW_BALANCE_MILLS',
    description: 'A meter whose DR falls below this many mills after printing sends the balance.low webhook.',
    defaultValue: 10_000,
    parse: (raw) => integer(raw, 0, 1_000_000_000, 'an amount in mills'),
  },
  {
    key: 'webhookRetrySchedule',
    env: 'INDICIA_WEBHOOK_RETRY_SCHEDULE',
    description:
      'Seconds before each webhook retry, comma-separated; after the last the delivery has failed.',
    defaultValue: [10, 30, 120, 600, 3_600, 10_800, 21_600, 43_200],
    parse: (raw) => {
      const text = Array.isArray(raw) ? raw.join(',') : typeof raw === 'string' ? raw : '';
      const parts = text.split(',').map((part) => part.trim());
      if (parts.length === 0 || parts.length > 20 || parts.some((part) => !/^\d{1,6}$/.test(part)))
        return { problem: 'must be up to 20 whole numbers of seconds, comma-separated, like 10,30,120' };
      return parts.map(Number);
    },
  },
  {
    key: 'webhookAllowPrivateTargets',
    env: 'INDICIA_WEBHOOK_ALLOW_PRIVATE_TARGETS',
    description:
      'true lets webhooks reach loopback and private addresses (development, tests); never on a server customers use.',
    defaultValue: false,
    parse: (raw) =>
      raw === true || raw === 'true'
        ? true
        : raw === false || raw === 'false'
          ? false
          : { problem: 'must be true or false' },
  },
  {
    key: 'rateLimitPerMinute',
    env: 'INDICIA_RATE_LIMIT_PER_MINUTE',
    description:
      'Requests a minute for each signed-in account and each address without sign-in (0 turns it off).',
    defaultValue: 6_000,
    parse: (raw) => integer(raw, 0, 10_000_000, 'a number of requests'),
  },
  {
    key: 'rateLimitScale',
    env: 'INDICIA_RATE_LIMIT_SCALE',
    description:
      'Multiplies the per-address limits on sign-in (10/min), sign-up (10/h) and e-mails (5/h); raise it behind a proxy many users share.',
    defaultValue: 1,
    parse: (raw) => integer(raw, 1, 10_000, 'a factor'),
  },
  {
    key: 'passwordRecheckPieces',
    env: 'INDICIA_PASSWORD_RECHECK_PIECES',
    description:
      'A signed-in browser session prints at most this many pieces before the password is checked again (a failed check ends the session).',
    defaultValue: 5_000,
    parse: (raw) => integer(raw, 1, 10_000_000, 'a number of pieces'),
  },
  {
    key: 'mailingDateDaysAhead',
    env: 'INDICIA_MAILING_DATE_DAYS_AHEAD',
    description:
      'A meter prints for today or up to this many days ahead (0 to 7); other mailing dates are refused before anything is charged.',
    defaultValue: 3,
    parse: (raw) => integer(raw, 0, 7, 'a number of days'),
  },
  {
    key: 'timeZone',
    env: 'INDICIA_TIME_ZONE',
    description:
      'IANA time zone whose calendar date is "today" for every meter: the mailing-date window and the default mailing date, e.g. America/Chicago.',
    defaultValue: 'UTC',
    parse: (raw) => {
      const name = typeof raw === 'string' ? raw.trim() : '';
      try {
        if (name !== '')
          return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
      } catch {
        // reported below
      }
      return { problem: 'must be an IANA time zone name like UTC or America/New_York' };
    },
  },
  {
    key: 'deviceKeyDays',
    env: 'INDICIA_DEVICE_KEY_DAYS',
    description:
      'Days a device key lives from its enrollment or renewal; the crypto module then refuses it (the SDK renews it before).',
    defaultValue: 365,
    parse: (raw) => integer(raw, 1, 3650, 'a number of days'),
  },
  {
    key: 'scanFraudPolicy',
    env: 'INDICIA_SCAN_FRAUD_POLICY',
    description:
      "What a verifier's duplicate, implausible or unknown scan does: disable-meter (the meter stops printing, its certificates are revoked, a report is filed for the authority) or report-only (only the report).",
    defaultValue: 'disable-meter',
    parse: (raw) =>
      raw === 'disable-meter' || raw === 'report-only'
        ? raw
        : { problem: 'must be disable-meter or report-only' },
  },
  {
    key: 'pricingPlans',
    env: 'INDICIA_PRICING_PLANS',
    description:
      'Named pricing plans, each with its refund policy, as JSON (docs/operations.md, "Refunds"); by default standard (review window, 60 days) and spoilage-cap (1% of printing, the seed\'s rule).',
    defaultValue: DEFAULT_PRICING_PLANS,
    parse: parsePricingPlans,
  },
  {
    key: 'defaultPricingPlan',
    env: 'INDICIA_DEFAULT_PRICING_PLAN',
    description: 'The plan of every customer an operator has not put on another (one of pricingPlans).',
    defaultValue: DEFAULT_PRICING_PLAN,
    parse: (raw) => text(raw, 'the name of a plan in pricingPlans'),
  },
  {
    key: 'cryptoOfficerCredential',
    env: 'INDICIA_CRYPTO_OFFICER_CREDENTIAL',
    description:
      'For `indicia modules` key-management commands run without a terminal; prompted for otherwise.',
    defaultValue: undefined,
    isSecret: true,
    parse: (raw) => optionalText(raw, 'a credential'),
  },
  // Backups (src/backup): one block, documented in docs/operations.md "Backups".
  {
    key: 'backupDir',
    env: 'INDICIA_BACKUP_DIR',
    description:
      "Folder backups go to (default <dataDir>/backups). Mount it from another disk or host: a backup on the database's own disk dies with it.",
    defaultValue: undefined,
    parse: (raw) => optionalText(raw, 'a folder path'),
  },
  {
    key: 'backupRetention',
    env: 'INDICIA_BACKUP_RETENTION',
    description:
      'Full backups kept; older ones (and, on PostgreSQL, the incremental backups and WAL only they need) are removed after each backup.',
    defaultValue: 7,
    parse: (raw) => integer(raw, 1, 1000, 'a number of full backups'),
  },
  {
    key: 'backupAt',
    env: 'INDICIA_BACKUP_AT',
    description:
      'UTC time of day (HH:MM) the server takes its daily backup, or off when backups are taken elsewhere (cron running indicia backup).',
    defaultValue: '02:00',
    parse: (raw) => {
      const value = typeof raw === 'string' ? raw.trim() : '';
      return value === 'off' || /^([01]\d|2[0-3]):[0-5]\d$/.test(value)
        ? value
        : { problem: 'must be a UTC time like 02:00, or off' };
    },
  },
  {
    key: 'pgbackrestConfig',
    env: 'INDICIA_PGBACKREST_CONFIG',
    description:
      'PostgreSQL: the pgbackrest.conf to use (default <backupDir>/pgbackrest.conf). Indicia writes it from these settings unless the file exists without its "Written by Indicia" first line.',
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'pgbackrestStanza',
    env: 'INDICIA_PGBACKREST_STANZA',
    description: "PostgreSQL: pgBackRest's name for the cluster (its stanza).",
    defaultValue: 'indicia',
    parse: (raw) =>
      typeof raw === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(raw.trim())
        ? raw.trim()
        : { problem: 'must be a name of letters, digits, _ and -' },
  },
  {
    key: 'pgbackrestRunAs',
    env: 'INDICIA_PGBACKREST_RUN_AS',
    description:
      'PostgreSQL: OS user pgBackRest runs as (through runuser) when Indicia runs as root, normally postgres; unset, it runs as the current user.',
    defaultValue: undefined,
    parse: (raw) => optionalText(raw, 'a user name'),
  },
  {
    key: 'pgDataDir',
    env: 'INDICIA_PG_DATA_DIR',
    description:
      "PostgreSQL: the cluster's data directory on this host (pg1-path), e.g. /var/lib/postgresql/15/main; backups need it.",
    defaultValue: undefined,
    parse: optionalFile,
  },
  {
    key: 'pgSocketDir',
    env: 'INDICIA_PG_SOCKET_DIR',
    description: "PostgreSQL: the folder of the cluster's Unix socket, which pgBackRest connects through.",
    defaultValue: '/var/run/postgresql',
    parse: (raw) => text(raw, 'a folder path'),
  },
];

/** The environment variable naming an optional JSON config file. */
export const CONFIG_FILE_ENV = 'INDICIA_CONFIG';

/**
 * The client's variables (the CLI's `client`, `print` and `verify` commands and the README's
 * `export` line): not server settings, so a server command run in the same shell passes them by.
 */
export const CLIENT_ENV = ['INDICIA_URL', 'INDICIA_PASSWORD', 'INDICIA_API_KEY', 'INDICIA_FINGERPRINT'];
