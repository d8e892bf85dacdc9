// The composition root: the one place that builds every part and wires them together, in order
// (checks → database → migrations → keys → first-start data → HTTP server), and tears them down
// in reverse on shutdown. Everything else receives its dependencies as arguments.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  type AccountsService,
  type DemoCredential,
  createAccountsService,
  createDemoAccountsIfEmpty,
} from './accounts/index.ts';
import { ApiError, createApiServer } from './api/index.ts';
import { anchorMacs, moduleLogCrossCheck } from './audit/index.ts';
import {
  type AuthorityService,
  createAuthorityService,
  fileLicenceApplication,
  licenceOf,
} from './authority/index.ts';
import {
  type CustodyService,
  createCustodyService,
  inspectModules,
  listInstallationModules,
} from './custody/index.ts';
import type { Config } from './config/index.ts';
import {
  type AuditAnchorJob,
  type AuditVerificationJob,
  type BackupJob,
  type LogShippingJob,
  type ReconciliationJob,
  type WebhookDeliveryJob,
  JobError,
  jobCoordinator,
  startAuditAnchorJob,
  startAuditVerificationJob,
  startBackupJob,
  startLogShippingJob,
  startReconciliationJob,
  startWebhookDeliveryJob,
} from './jobs/index.ts';
import { type Mailer, createMailer } from './mail/index.ts';
import { createSandboxProcessor } from './payments/index.ts';
import { offlineAddressProvider } from './addresses/index.ts';
import { RenderPool } from './labels/index.ts';
import { RatesService, rateTableDirectories } from './rates/index.ts';
import { LabelStock, MailingLists } from './printing/index.ts';
import { createWebhooksService, enqueueWebhookEvent } from './webhooks/index.ts';
import {
  type ServerClaim,
  assertInstallationKeys,
  claimServerModules,
  keysMissing,
  moduleNumbersOf,
  readFleet,
  readInstallationKeys,
  readServerId,
} from './fleet/index.ts';
import { backupBackendFor } from './backup/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  type MeterSettings,
  type MetersService,
  type PoolService,
  createMetersService,
  createPoolService,
} from './meters/index.ts';
import {
  StartupError,
  acquireLockFile,
  assertDataDirWritable,
  assertDatabaseNotMoved,
  assertPortFree,
  readTlsFiles,
} from './startup/index.ts';
import {
  type DatabaseTarget,
  type MigrationReport,
  type Store,
  migrateToLatest,
  openStore,
} from './store/index.ts';
import { type Logger, createLogger, createMetrics } from './telemetry/index.ts';
import {
  type BackendSettings,
  CryptoModule,
  type KeyEncryptionKeyFile,
  type ModulePool,
  type OpenedModules,
  backendFactory,
  defaultKekPath,
  ensureKeyEncryptionKey,
  existingModuleNumbers,
  OPERATOR_MODULE_NUMBER,
  VaultError,
  openCryptoModules,
  readKeyEncryptionKey,
} from './vault/index.ts';

// package.json sits one folder up from both src/main.ts and the packaged dist/main.js.
const packageJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};
export const VERSION: string = packageJson.version;
export const SQLITE_FILE_NAME = 'indicia.sqlite';

export interface RunningIndicia {
  /** Base URL clients use, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  readonly config: Config;
  readonly store: Store;
  readonly app: FastifyInstance;
  readonly logger: Logger;
  readonly migrations: MigrationReport;
  /** The software backend's default KEK file, when this installation uses it. */
  readonly keyEncryptionKey: KeyEncryptionKeyFile | undefined;
  readonly pool: ModulePool;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly meters: MetersService;
  readonly accounts: AccountsService;
  /** Pooled mode on this server (its mini-PSD check-outs). */
  readonly pooledMode: PoolService;
  /** Mailing lists; their PDFs render in the background. */
  readonly mailingLists: MailingLists;
  readonly mailer: Mailer;
  /** Hex SHA-256 of the device-enrollment public key, which clients pin. */
  readonly enrollmentKeyFingerprint: string;
  /** The name this server holds the farm's job leases under (job_runs.holder). */
  readonly jobHolder: string;
  readonly reconciliation: ReconciliationJob;
  /** Ships the protected log to the log archive (INDICIA_LOG_ARCHIVE_DIR) on its interval. */
  readonly logShipping: LogShippingJob;
  /** The audit log's anchor writer (root chain, MACed in a module) and its verification job. */
  readonly auditAnchoring: AuditAnchorJob;
  readonly auditVerification: AuditVerificationJob;
  /** Set only on the start that created the module keys: shown once, stored only as a hash. */
  readonly createdOfficerCredential: string | undefined;
  /** Credentials of demo accounts created by this start; empty on every later start. */
  readonly demoCredentials: readonly DemoCredential[];
  /** Stops accepting requests, waits for those in flight (bounded), closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where log lines go; standard output when omitted. */
  logDestination?: NodeJS.WritableStream;
}

/** Where the database is for a configuration: PostgreSQL when a URL is set, else the SQLite file. */
export function databaseTargetFor(config: Config): DatabaseTarget {
  return config.databaseUrl === undefined
    ? { dialect: 'sqlite', file: join(config.dataDir, SQLITE_FILE_NAME) }
    : { dialect: 'postgres', url: config.databaseUrl };
}

/** Where the protected log is shipped: INDICIA_LOG_ARCHIVE_DIR, else <dataDir>/log-archive. */
export function logArchiveDir(config: Config): string {
  return config.logArchiveDir ?? join(config.dataDir, 'log-archive');
}

/** Whether the configured database exists already (PostgreSQL: always taken to). */
export function hasDatabase(config: Config): boolean {
  return config.databaseUrl !== undefined || existsSync(join(config.dataDir, SQLITE_FILE_NAME));
}

/** Opens and migrates the configured database; used by `serve` and `migrate`. */
export async function openMigratedStore(
  config: Config,
): Promise<{ store: Store; migrations: MigrationReport }> {
  assertDataDirWritable(config.dataDir);
  assertDatabaseNotMoved(config.dataDir, config.databaseUrl);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(databaseTargetFor(config));
  try {
    return { store, migrations: await migrateToLatest(store.db, store.location) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * Where the crypto modules' keys are: for the software backend the KEK comes from INDICIA_KEK,
 * INDICIA_KEK_FILE, or the default file in the data directory (created on first start).
 */
export function backendSettingsFor(
  config: Config,
  options: { createKekIfMissing: boolean } = { createKekIfMissing: true },
): { settings: BackendSettings; kekFile: KeyEncryptionKeyFile | undefined } {
  if (config.cryptoBackend === 'pkcs11') {
    return {
      settings: {
        backend: 'pkcs11',
        library: config.pkcs11Library ?? '',
        tokenLabel: config.pkcs11TokenLabel ?? '',
        userPin: config.pkcs11Pin ?? '',
      },
      kekFile: undefined,
    };
  }
  const vaultDir = join(config.dataDir, 'vault');
  if (config.kek !== undefined)
    return {
      settings: { backend: 'software', vaultDir, kek: Buffer.from(config.kek, 'base64') },
      kekFile: undefined,
    };
  if (config.kekFile !== undefined) {
    return {
      settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(config.kekFile) },
      kekFile: undefined,
    };
  }
  if (!options.createKekIfMissing) {
    return {
      settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(defaultKekPath(config.dataDir)) },
      kekFile: undefined,
    };
  }
  const kekFile = ensureKeyEncryptionKey(config.dataDir);
  return { settings: { backend: 'software', vaultDir, kek: readKeyEncryptionKey(kekFile.path) }, kekFile };
}

/**
 * Opens the configured crypto module pool. The server creates the keys on its first start;
 * maintenance commands pass `initializeIfEmpty: false` and never create keys or a KEK.
 */
export async function openModulePool(
  config: Config,
  options: {
    initializeIfEmpty: boolean;
    initializeZeroized?: boolean;
    firstModuleNumber?: number;
    modules?: number;
    moduleNumbers?: readonly number[];
  },
): Promise<OpenedModules & { kekFile: KeyEncryptionKeyFile | undefined }> {
  const { settings, kekFile } = backendSettingsFor(config, { createKekIfMissing: options.initializeIfEmpty });
  const opened = await openCryptoModules(settings, {
    modules: options.modules ?? config.cryptoModules,
    ringSize: config.checkpointRingSize,
    inhibitThreshold: config.inhibitThreshold,
    initializeIfEmpty: options.initializeIfEmpty,
    initializeZeroized: options.initializeZeroized === true,
    ...(options.firstModuleNumber === undefined ? {} : { firstModuleNumber: options.firstModuleNumber }),
    ...(options.moduleNumbers === undefined ? {} : { moduleNumbers: options.moduleNumbers }),
  });
  return { ...opened, kekFile };
}

/** Store, module pool and custody service for maintenance work outside the server; closes them after. */
export async function withCustody<T>(
  config: Config,
  work: (custody: CustodyService) => Promise<T>,
): Promise<T> {
  const { store } = await openMigratedStore(config);
  try {
    // In a farm, this data directory's own module numbers (fleet/), never another server's.
    const { own } = await moduleNumbersOf(store.db, readServerId(config.dataDir));
    const { pool } = await openModulePool(config, {
      initializeIfEmpty: false,
      ...(own.length > 0 ? { moduleNumbers: own.slice(0, config.cryptoModules) } : {}),
    });
    try {
      return await work(createCustodyService({ db: store.db, pool }));
    } finally {
      await pool.close();
    }
  } finally {
    await store.close();
  }
}

/** The meters' settings: the vendor's defaults, with the mailing-date window from configuration. */
export function meterSettingsFor(config: Config): MeterSettings {
  return {
    ...DEFAULT_METER_SETTINGS,
    mailingDateDaysAhead: config.mailingDateDaysAhead,
    timeZone: config.timeZone,
    deviceKeyDays: config.deviceKeyDays,
    pricingPlans: config.pricingPlans,
    defaultPricingPlan: config.defaultPricingPlan,
  };
}

export { OPERATOR_MODULE_NUMBER };
/** Held by the process using the operator module; and by the server for its modules 1..N. */
export const OPERATOR_MODULE_LOCK = 'operator-module.lock';
export const SERVER_MODULES_LOCK = 'server-modules.lock';

/** The live process holding a lock file in the data directory, or null. */
export function lockHolder(dataDir: string, lock: string): number | null {
  const path = join(dataDir, lock);
  if (!existsSync(path)) return null;
  const pid = Number(readFileSync(path, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Takes the lock on the server's modules 1..N: two servers sharing a module would trip its
 * rollback detection, and maintenance on one (re-anchoring, zeroizing) needs its server stopped.
 * A holder in this very process (servers started in-process one after another) is taken as is.
 */
export function takeServerModulesLock(dataDir: string, refusal: string): () => void {
  const holder = lockHolder(dataDir, SERVER_MODULES_LOCK);
  if (holder === process.pid) return () => undefined;
  if (holder !== null) throw new StartupError('startup.locked', `${refusal} (pid ${holder}).`);
  return acquireLockFile(join(dataDir, SERVER_MODULES_LOCK));
}

/** A server's modules, opened on the numbers it claimed, and what to undo at shutdown. */
interface ServerModules {
  readonly claim: ServerClaim;
  readonly opened: Awaited<ReturnType<typeof openModulePool>>;
  readonly release: () => Promise<void>;
}

/**
 * The server's crypto modules, exclusively (fleet/): claims this data directory's module numbers
 * in the database (a live server on them refuses the start), takes the lock file the maintenance
 * commands look for, opens the modules, takes their serials, and checks that they hold the
 * installation's keys. Keys are created only for a database no module has keys for; otherwise a
 * server without them refuses to start, naming how to share them.
 */
async function startServerModules(config: Config, store: Store): Promise<ServerModules> {
  const claim = await claimServerModules({
    db: store.db,
    target: databaseTargetFor(config),
    dataDir: config.dataDir,
    moduleCount: config.cryptoModules,
    backend: config.cryptoBackend,
  });
  let releaseLock: () => void = () => undefined;
  let opened: Awaited<ReturnType<typeof openModulePool>> | undefined;
  try {
    releaseLock = takeServerModulesLock(
      config.dataDir,
      `another server runs on ${config.dataDir} with its crypto modules ${claim.moduleNumbers.join(', ')}; stop it first`,
    );
    const keys = await readInstallationKeys(store.db);
    try {
      opened = await openModulePool(config, {
        initializeIfEmpty: !keys.exist,
        moduleNumbers: claim.moduleNumbers,
      });
    } catch (error) {
      const why =
        !(error instanceof VaultError) || !keys.exist
          ? null
          : error.code === 'vault.kek_missing'
            ? `it has no key-encryption key (INDICIA_KEK, INDICIA_KEK_FILE, or ${defaultKekPath(config.dataDir)})`
            : error.code === 'vault.wrong_state'
              ? `its crypto modules have no keys (software backend: there is no ${join(config.dataDir, 'vault', 'keyset.json')})`
              : error.code === 'vault.key_file_invalid'
                ? `its key-encryption key does not open its keyset (${error.message})`
                : null;
      if (why !== null) throw keysMissing(config.dataDir, why);
      throw error;
    }
    await claim.bindSerials(opened.pool.modules);
    try {
      await assertInstallationKeys(store.db, opened.pool, {
        backend: config.cryptoBackend,
        serverId: claim.serverId,
        dataDir: config.dataDir,
      });
    } catch (error) {
      if (error instanceof VaultError) throw keysMissing(config.dataDir, error.message);
      throw error;
    }
  } catch (error) {
    await opened?.pool.close();
    releaseLock();
    await claim.release({ forget: true });
    throw error;
  }
  const lock = releaseLock;
  return {
    claim,
    opened,
    release: async () => {
      lock();
      await claim.release();
    },
  };
}

/**
 * The installation's module numbers: the configured server modules 1..N, the software module
 * folders that exist (the operator's 100 among them), and the numbers the module table knows.
 */
export async function installationModuleNumbers(config: Config, store: Store | null): Promise<number[]> {
  const { settings } = backendSettingsFor(config, { createKekIfMissing: false });
  const known = store === null ? [] : await listInstallationModules(store.db);
  // In a farm: this data directory's claimed numbers; never another server's (its ring is elsewhere).
  const claims =
    store === null
      ? { own: [], others: new Set<number>() }
      : await moduleNumbersOf(store.db, readServerId(config.dataDir));
  const numbers = new Set([
    ...(claims.own.length > 0
      ? claims.own
      : Array.from({ length: config.cryptoModules }, (_, index) => index + 1)),
    ...(existingModuleNumbers(settings) ?? []),
    ...known.flatMap((row) =>
      row.moduleNumber !== null && row.zeroizedAt === null && row.backend === settings.backend
        ? [row.moduleNumber]
        : [],
    ),
  ]);
  return [...numbers].filter((n) => !claims.others.has(n)).sort((left, right) => left - right);
}

/** Opens (unstarted) module number n of the configured backend; never creates keys or a KEK. */
export function moduleOpener(config: Config): (moduleNumber: number) => Promise<CryptoModule> {
  const createBackend = backendFactory(backendSettingsFor(config, { createKekIfMissing: false }).settings);
  return async (moduleNumber) =>
    new CryptoModule(await createBackend(moduleNumber), {
      ringSize: config.checkpointRingSize,
      moduleNumber,
    });
}

export interface OperatorServices {
  readonly store: Store;
  /** The operator's module (number 100), for work custody does not do (audit anchor MACs). */
  readonly pool: ModulePool;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly meters: MetersService;
}

/**
 * Services for one operator command (`indicia meters ...`), on a crypto module of its own
 * (number 100) so the command can run beside a live server. A lock file keeps two commands from
 * sharing that module.
 */
/** The meter settings this installation runs with: the defaults, and the configured device key life span. */

export async function withOperatorServices<T>(
  config: Config,
  work: (services: OperatorServices) => Promise<T>,
): Promise<T> {
  if (!existsSync(config.dataDir)) {
    throw new StartupError(
      'startup.not_installed',
      `There is no Indicia installation in ${config.dataDir}: start the server once (indicia serve --data-dir ${config.dataDir}) to create it, or give the right --data-dir.`,
    );
  }
  const lock = join(config.dataDir, OPERATOR_MODULE_LOCK);
  const release = acquireLockFile(lock);
  try {
    const { store } = await openMigratedStore(config);
    try {
      const { pool } = await openModulePool(config, {
        initializeIfEmpty: false,
        firstModuleNumber: OPERATOR_MODULE_NUMBER,
        modules: 1,
      });
      try {
        const custody = createCustodyService({
          db: store.db,
          pool,
          meterWaitTimeoutMs: config.meterWaitTimeoutMs,
        });
        // Registers module 100 and compares it with the database: an inhibition shows at once,
        // and the installation's recorded inhibitions count here as in the server.
        await custody.assessModules({ verifyLog: false });
        const authority = createAuthorityService({ db: store.db, custody });
        return await work({
          store,
          pool,
          custody,
          authority,
          meters: createMetersService({
            db: store.db,
            custody,
            authority,
            settings: meterSettingsFor(config),
            scanFraudPolicy: config.scanFraudPolicy,
          }),
        });
      } finally {
        await pool.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    release();
  }
}

function publicUrl(protocol: string, host: string, port: number): string {
  const shownHost =
    host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${shownHost}:${port}`;
}

/**
 * Starts Indicia with a validated configuration. Every check that can fail on bad input (data
 * directory, port, TLS files) runs before anything is written, so a failed start changes nothing.
 *
 * @example const indicia = await startIndicia(loadConfig({ env: process.env, cwd: process.cwd() }));
 */
export async function startIndicia(config: Config, options: StartOptions = {}): Promise<RunningIndicia> {
  assertDataDirWritable(config.dataDir);
  await assertPortFree(config.host, config.port);
  const tls =
    config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined
      ? readTlsFiles(config.tlsCertFile, config.tlsKeyFile)
      : undefined;
  // Rate tables are checked before anything is written: a bad file stops the start cleanly.
  const rates = new RatesService(rateTableDirectories(config.dataDir));

  const logger = createLogger({
    level: config.logLevel,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const metrics = createMetrics();
  const { store, migrations } = await openMigratedStore(config);
  let serverModules: ServerModules;
  try {
    serverModules = await startServerModules(config, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  const { claim, opened: modules } = serverModules;
  let isShuttingDown = false;
  let app: FastifyInstance | undefined;
  let pool: ModulePool | undefined;
  let reconciliation: ReconciliationJob | undefined;
  let shipping: LogShippingJob | undefined;
  let auditAnchoring: AuditAnchorJob | undefined;
  let auditVerification: AuditVerificationJob | undefined;
  let backupJob: BackupJob | undefined;
  let mailer: Mailer | undefined;
  let deliveries: WebhookDeliveryJob | undefined;
  let poolService: PoolService | undefined;
  try {
    const { kekFile } = modules;
    pool = modules.pool;
    for (const serial of modules.failedModules)
      logger.error({ serial }, 'crypto module failed its power-up tests and serves nothing');
    const custody = createCustodyService({
      db: store.db,
      pool,
      meterWaitTimeoutMs: config.meterWaitTimeoutMs,
    });
    metrics.observeGroupCommits(() => custody.groupCommits());
    const authority = createAuthorityService({ db: store.db, custody });
    await authority.ensureCertificateAuthority();
    const meters = createMetersService({
      db: store.db,
      custody,
      authority,
      settings: meterSettingsFor(config),
      scanFraudPolicy: config.scanFraudPolicy,
    });
    // Timed jobs run once per period across every server on this database (job_leases, job_runs).
    const coordinator = jobCoordinator({ db: store.db, leaseMs: config.jobLeaseSeconds * 1000 });
    reconciliation = startReconciliationJob({
      db: store.db,
      custody,
      logger,
      metrics,
      intervalMinutes: config.reconcileIntervalMinutes,
      coordinator,
    });
    shipping = startLogShippingJob({
      db: store.db,
      dialect: store.dialect,
      custody,
      logger,
      metrics,
      archiveDir: logArchiveDir(config),
      intervalSeconds: config.logShipIntervalSeconds,
      coordinator,
    });
    const auditPool = pool;
    const auditMacs = anchorMacs((work) => auditPool.withModule(work));
    auditAnchoring = startAuditAnchorJob({
      db: store.db,
      macs: auditMacs,
      logger,
      metrics,
      intervalSeconds: config.auditAnchorIntervalSeconds,
      memoryFile: join(config.dataDir, 'audit-anchor.json'),
      coordinator,
    });
    auditVerification = startAuditVerificationJob({
      db: store.db,
      verifyMac: auditMacs.verify,
      crossCheck: () =>
        moduleLogCrossCheck(store.db, (sealed) =>
          auditPool.withModule((module) => module.verifyCheckpoint(sealed)),
        ),
      logger,
      metrics,
      intervalSeconds: config.auditVerifyIntervalSeconds,
      coordinator,
    });
    const backups = (): ReturnType<typeof backupBackendFor> =>
      backupBackendFor(config, join(config.dataDir, SQLITE_FILE_NAME));
    backupJob = startBackupJob({ backups, logger, metrics, at: config.backupAt, coordinator });
    const { fingerprint: enrollmentKeyFingerprint } = await meters.enrollmentKey();
    const demoCredentials = await createDemoAccountsIfEmpty(store.db);
    for (const { accountId, customer } of demoCredentials) {
      if (customer === null) continue;
      // The demo customer is licensed and has its meter from the first start, as if it had signed up.
      await store.db.transaction().execute((trx) =>
        fileLicenceApplication(trx, {
          accountId,
          customerNumber: customer.customerNumber,
          meterMode: 'dedicated',
          licensingZip: customer.profile.licensingZip,
          application: { ...customer.profile, name: 'Demo Customer', company: null },
        }),
      );
      await meters.provisionCustomer({
        customerNumber: customer.customerNumber,
        meterMode: 'dedicated',
        licensingZip: customer.profile.licensingZip,
      });
    }
    const modulePool = pool;
    mailer = createMailer({
      smtpUrl: config.smtpUrl,
      from: config.mailFrom,
      outboxDir: join(config.dataDir, 'outbox'),
    });
    // Pooled customers print from mini-PSDs this server checks out (returned at shutdown).
    const pooled = createPoolService({
      db: store.db,
      custody,
      authority,
      settings: meterSettingsFor(config),
      modules: config.cryptoModules,
    });
    poolService = pooled;
    const webhooks = createWebhooksService(store.db, (subscriptionId) =>
      custody.deriveSecret(`webhook:${subscriptionId}`),
    );
    deliveries = startWebhookDeliveryJob({
      db: store.db,
      webhooks,
      logger,
      retryScheduleSeconds: config.webhookRetrySchedule,
      allowPrivateTargets: config.webhookAllowPrivateTargets,
      metrics,
      dialect: store.dialect,
    });
    const webhookJob = deliveries;
    let listeningUrl = '';
    const accounts = createAccountsService({
      db: store.db,
      mailer,
      publicUrl: () => config.publicUrl ?? listeningUrl,
      passwordRecheckPieces: config.passwordRecheckPieces,
    });
    // Before the first request: a module the database cannot account for (a restore, a replayed
    // row) inhibits now, so readiness and `modules status` say so from the start.
    const assessment = await custody.assessModules();
    for (const { serial, decision } of assessment.modules) {
      if (decision.kind === 'inhibit')
        logger.error({ serial, reason: decision.reason }, 'crypto module inhibited itself at start');
    }
    for (const problem of assessment.log?.chainProblems ?? [])
      logger.error({ problem }, 'the protected module log does not verify');
    for (const mismatch of assessment.log?.mismatches ?? [])
      logger.error(
        { meterId: mismatch.meterId, reason: mismatch.reason },
        'a meter is refused: its package is not the newest version the module log holds',
      );
    // The installation's other modules (the operator's), read-only: their inhibitions count from now.
    const others = (await installationModuleNumbers(config, store)).filter(
      (n) => !claim.moduleNumbers.includes(n),
    );
    for (const found of await inspectModules(store.db, others, moduleOpener(config), 'server start')) {
      if (found.problem !== null)
        logger.warn(
          { number: found.moduleNumber, problem: found.problem },
          'could not inspect a crypto module',
        );
      else if (found.decision?.kind === 'inhibit')
        logger.error(
          { serial: found.status?.serial, reason: found.decision.reason },
          'crypto module inhibited',
        );
    }
    await custody.refreshInstallationInhibitions();
    const renderer = new RenderPool();
    const lists = new MailingLists(store.db, join(config.dataDir, 'mailing-lists'), renderer);
    await lists.recover();
    app = await createApiServer({
      addresses: offlineAddressProvider(),
      rates,
      stock: new LabelStock(store.db),
      lists,
      renderer,
      logger,
      metrics,
      tls,
      authority,
      accounts,
      meters,
      db: store.db,
      processor: createSandboxProcessor(),
      webhooks,
      pool: pooled,
      rateLimits: { perMinute: config.rateLimitPerMinute, scale: config.rateLimitScale },
      events: {
        publish: enqueueWebhookEvent,
        flush: () => webhookJob.kick(),
        lowBalanceMills: config.lowBalanceMills,
      },
      moduleStatus: () => modulePool.status(),
      installationModules: () => custody.installationModules(),
      fleet: () => readFleet(store.db, store.dialect),
      zeroizeModule: (serial, credential, by) => custody.zeroizeModule(serial, credential, by),
      reconcile: async () => {
        if (reconciliation === undefined) throw new Error('The reconciliation job is not running.');
        try {
          return await reconciliation.runOnce();
        } catch (error) {
          // Another server of the farm holds the job: a conflict the caller can retry, not a 500.
          if (error instanceof JobError)
            throw new ApiError('request.conflict', error.message, { details: error.details });
          throw error;
        }
      },
      licenceOf: (accountId) => licenceOf(store.db, accountId),
      health: {
        version: VERSION,
        pingDatabase: store.ping,
        isShuttingDown: () => isShuttingDown,
        // Every process's recorded inhibitions count: another's inhibited module makes this one not ready.
        isVaultServing: async () => {
          await custody.refreshInstallationInhibitions().catch((error: unknown) => {
            logger.warn({ err: error }, 'readiness: could not read the recorded module inhibitions');
          });
          return modulePool.status().stopped === null;
        },
      },
    });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const url = publicUrl(tls ? 'https' : 'http', config.host, port);
    listeningUrl = url;
    // The fleet sees this server's modules, their load and its port; losing the claim stops serving.
    const heartbeatReport = () => {
      const status = modulePool.status();
      const commits = custody.groupCommits();
      return {
        groupsCommitted: commits.groups,
        commandsCommitted: commits.commands,
        waitingCommands: status.waitingCommands,
        modules: status.modules,
      };
    };
    await claim.heartbeat(heartbeatReport(), port);
    claim.startHeartbeat(heartbeatReport, (reason) => {
      logger.error({ reason }, 'this server lost its claim on its crypto modules; it stops serving');
      modulePool.stop(`this server lost its claim on its crypto modules: ${reason}`);
    });
    logger.info(
      {
        url,
        database: store.dialect,
        migrationsApplied: migrations.applied,
        version: VERSION,
        mail: mailer.description,
      },
      'indicia is listening',
    );

    const server = app;
    const reconciliationJob = reconciliation;
    const shippingJob = shipping;
    const anchoring = auditAnchoring;
    const verification = auditVerification;
    const outgoingMail = mailer;
    const webhookDeliveries = deliveries;
    const pooledPrinting = pooled;
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        isShuttingDown = true;
        // /readyz answers 503 from now on; a load balancer takes this server out while it still
        // serves, so no request meets a closed port. Then the listener closes and requests in
        // flight finish.
        if (config.shutdownDrainMs > 0) {
          logger.info({ drainMs: config.shutdownDrainMs }, 'shutting down: draining (readiness fails)');
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
        }
        logger.info('shutting down: finishing requests in flight');
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            logger.warn(
              { timeoutMs: config.shutdownTimeoutMs },
              'shutdown timeout reached; closing connections',
            );
            server.server.closeAllConnections();
            resolve();
          }, config.shutdownTimeoutMs);
        });
        await Promise.race([server.close(), timeout]);
        clearTimeout(timer);
        await reconciliationJob.stop();
        await backupJob?.stop();
        await lists.stop();
        await renderer.close();
        await webhookDeliveries.stop();
        await pooledPrinting.close();
        await shippingJob.stop();
        outgoingMail.close();
        await verification.stop();
        await anchoring.stop(); // a last anchor, while the modules are still open
        await modulePool.close();
        await serverModules.release();
        await store.close();
        logger.info('shutdown complete');
        logger.flush();
      })();
      return closing;
    };
    return {
      url,
      port,
      config,
      store,
      app,
      logger,
      migrations,
      keyEncryptionKey: kekFile,
      pool: modulePool,
      custody,
      authority,
      meters,
      accounts,
      pooledMode: pooledPrinting,
      mailingLists: lists,
      mailer: outgoingMail,
      enrollmentKeyFingerprint,
      jobHolder: coordinator.holder,
      reconciliation: reconciliationJob,
      logShipping: shippingJob,
      auditAnchoring: anchoring,
      auditVerification: verification,
      createdOfficerCredential: modules.createdOfficerCredential,
      demoCredentials,
      close,
    };
  } catch (error) {
    await reconciliation?.stop();
    await shipping?.stop();
    await auditVerification?.stop();
    await auditAnchoring?.stop({ isFinalAnchor: false });
    await backupJob?.stop();
    await deliveries?.stop();
    await poolService?.close();
    mailer?.close();
    await app?.close();
    await modules.pool.close();
    await serverModules.release();
    await store.close();
    throw error;
  }
}
