// The composition root: the one place that builds every part and wires them together, in order
// (checks → database → migrations → keys → first-start data → HTTP server), and tears them down
// in reverse on shutdown. Everything else receives its dependencies as arguments.
import { readFileSync } from 'node:fs';
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
import { type CustodyService, createCustodyService, inspectModules } from './custody/index.ts';
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
import { readFleet } from './fleet/index.ts';
import { backupBackendFor } from './backup/index.ts';
import {
  type MetersService,
  type PoolService,
  createMetersService,
  createPoolService,
} from './meters/index.ts';
import { assertDataDirWritable, assertPortFree, readTlsFiles } from './startup/index.ts';
import { type MigrationReport, type Store } from './store/index.ts';
import { type Logger, createLogger, createMetrics } from './telemetry/index.ts';
import { type KeyEncryptionKeyFile, type ModulePool } from './vault/index.ts';

import {
  SQLITE_FILE_NAME,
  type ServerModules,
  installationModuleNumbers,
  logArchiveDir,
  meterSettingsFor,
  moduleOpener,
  openMigratedStore,
  startServerModules,
} from './installation/index.ts';

// package.json sits one folder up from both src/main.ts and the packaged dist/main.js.
const packageJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};
export const VERSION: string = packageJson.version;

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
