import { Gauge } from 'prom-client';
import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import { SHIPMENT_KEY_LABEL, type ShipmentReport, shipLog } from '../log-shipping/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';
import type { JobCoordinator } from './job-lease.ts';
import { startJobRunner } from './job-runner.ts';

export interface LogShippingJob {
  /** Ships what is new now (also what the timer calls); null when nothing was new. */
  runOnce(): Promise<ShipmentReport | null>;
  /** Stops the timer after a last shipment, so a clean shutdown leaves nothing unshipped. */
  stop(): Promise<void>;
}

/**
 * Ships the protected log to the archive every `intervalSeconds` (log-shipping): the records the
 * commits since the last shipment made, as one MACed file per 500 records. A run never overlaps
 * the one before and runs once per interval in a farm (job-runner.ts); a failure is logged,
 * counted, and retried at the next interval. In a farm the archive folder is shared by every server.
 */
export function startLogShippingJob(dependencies: {
  db: Kysely<DatabaseSchema>;
  dialect: string;
  custody: CustodyService;
  logger: Logger;
  metrics: ServerMetrics;
  archiveDir: string;
  intervalSeconds: number;
  coordinator?: JobCoordinator;
}): LogShippingJob {
  const { db, custody, logger, metrics, archiveDir, intervalSeconds } = dependencies;
  const registers = [metrics.registry];
  const shipped = new Gauge({
    name: 'indicia_log_shipped_records',
    help: 'Protected-log records shipped to the archive since start.',
    registers,
  });
  const lastShipment = new Gauge({
    name: 'indicia_log_last_shipment_seconds',
    help: 'When the protected log was last shipped with something new (Unix time).',
    registers,
  });
  const failures = new Gauge({
    name: 'indicia_log_shipping_failures',
    help: 'Log shipments that failed since start.',
    registers,
  });
  let key: Buffer | undefined;
  const ship = async (): Promise<ShipmentReport | null> => {
    try {
      const report = await shipLog({
        db,
        dialect: dependencies.dialect,
        archiveDir,
        shipmentKey: async () => (key ??= await custody.deriveSecret(SHIPMENT_KEY_LABEL)),
      });
      if (report !== null) {
        shipped.inc(report.records);
        lastShipment.set(Date.now() / 1000);
        logger.info(
          { records: report.records, shipments: report.shipments, recoveryPoint: report.recoveryPoint },
          'protected log shipped',
        );
      }
      return report;
    } catch (error) {
      failures.inc();
      throw error;
    }
  };
  const runner = startJobRunner({
    name: 'log-shipping',
    schedule: intervalSeconds > 0 ? { everyMs: intervalSeconds * 1000 } : 'off',
    work: ship,
    describe: (report) =>
      report === null ? { records: 0 } : { records: report.records, shipments: report.shipments },
    failureMessage: 'log shipping failed',
    logger,
    metrics,
    coordinator: dependencies.coordinator,
  });
  return {
    runOnce: () => runner.runOnce(),
    stop: () => runner.stop({ finalRun: intervalSeconds > 0 }),
  };
}
