import { Gauge } from 'prom-client';
import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import { SHIPMENT_KEY_LABEL, type ShipmentReport, shipLog } from '../log-shipping/index.ts';
import type { DatabaseSchema } from '../store/index.ts';
import type { Logger, ServerMetrics } from '../telemetry/index.ts';

export interface LogShippingJob {
  /** Ships what is new now (also what the timer calls); null when nothing was new. */
  runOnce(): Promise<ShipmentReport | null>;
  /** Stops the timer after a last shipment, so a clean shutdown leaves nothing unshipped. */
  stop(): Promise<void>;
}

/**
 * Ships the protected log to the archive every `intervalSeconds` (log-shipping): the records the
 * commits since the last shipment made, as one MACed file per 500 records. A run never overlaps
 * the one before; a failure is logged, counted, and retried at the next interval.
 */
export function startLogShippingJob(dependencies: {
  db: Kysely<DatabaseSchema>;
  dialect: string;
  custody: CustodyService;
  logger: Logger;
  metrics: ServerMetrics;
  archiveDir: string;
  intervalSeconds: number;
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
  let running: Promise<ShipmentReport | null> | undefined;
  const runOnce = (): Promise<ShipmentReport | null> => {
    running ??= (async () => {
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
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer =
    intervalSeconds > 0
      ? setInterval(() => {
          runOnce().catch((error: unknown) => logger.error({ err: error }, 'log shipping failed'));
        }, intervalSeconds * 1000)
      : undefined;
  timer?.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      if (intervalSeconds === 0) return;
      await runOnce().catch((error: unknown) => logger.error({ err: error }, 'last log shipment failed'));
    },
  };
}
