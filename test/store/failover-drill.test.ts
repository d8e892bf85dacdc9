import 'reflect-metadata';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import type { DialectFixture } from '../support/dialects.ts';
import { startFailoverLoad } from '../support/failover-load.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';
import { type AutoFailoverCluster, startAutoFailoverCluster } from '../support/pg-auto-failover.ts';

const KILLS = 10;
/** Every third kill takes the keeper too, so the monitor fails over for certain (0, 3, 6, 9). */
const isRealFailover = (kill: number): boolean => kill % 3 === 0;
const METERS = 4;
const ISSUERS = 6;
const FUNDING = 50_000_000;
/** The drill stops itself: kills stop after this, and it fails if it did not reach KILLS. */
const KILLING_BUDGET_MS = 270_000;

/**
 * Issue 17's failover drill: an installation on the multi-host URL of a pg_auto_failover
 * formation with a synchronous standby; several issuers keep issuing while the primary is
 * SIGKILLed again and again. No indicium a caller was given may be lost, the registers must equal
 * the indicia and fundings, reconciliation must balance, and no module may inhibit.
 */
describe(
  'failover drill: the PostgreSQL primary SIGKILLed under concurrent issuance',
  { timeout: 390_000 },
  () => {
    let cluster: AutoFailoverCluster;
    let installation: MeterInstallation;
    before(async () => {
      cluster = await startAutoFailoverCluster();
      const fixture: DialectFixture = {
        name: 'postgres',
        freshDatabase: () =>
          Promise.resolve({
            target: { dialect: 'postgres', url: cluster.urls.multiHost },
            dispose: () => Promise.resolve(),
          }),
      };
      installation = await openMeterInstallation(fixture, 2);
    });
    after(async () => {
      try {
        await installation.dispose();
      } finally {
        await cluster.stop();
      }
    });

    it(
      `loses no acknowledged indicium over ${KILLS} kills of the primary`,
      { timeout: 360_000 },
      async (t) => {
        const { meters, store, custody, pool } = installation;
        assert.match(await cluster.synchronousStandbyNames(), /^ANY 1 \(pgautofailover_standby_\d\)$/);
        const meterIds: string[] = [];
        for (let index = 0; index < METERS; index += 1) {
          const meter = await meters.create({
            customerNumber: 9100 + index,
            licensingZip: '10001',
            maxDescendingRegister: (2 * FUNDING) as Mills,
          });
          await meters.fund(meter.meterId, FUNDING, 'failover-drill');
          meterIds.push(meter.meterId);
        }

        const load = startFailoverLoad(meters, meterIds, { issuers: ISSUERS, fundEveryMs: 2_000 });
        const started = Date.now();
        const kills: { node: string; keeper: boolean; failedOver: boolean; toNextAckMs: number }[] = [];
        try {
          await cluster.waitForPrimaryAndSyncStandby();
          for (let kill = 0; kill < KILLS && Date.now() - started < KILLING_BUDGET_MS; kill += 1) {
            // Issuing is under way again before each kill, which lands at a random moment.
            await load.nextAcknowledgementAfter(Date.now(), 30_000);
            await sleep(Math.floor(Math.random() * 300));
            const keeper = isRealFailover(kill);
            const { node, killedAt } = await cluster.killPrimary({ keeper });
            const acknowledgedAt = await load.nextAcknowledgementAfter(killedAt, 60_000);
            const primary = await cluster.waitForPrimaryAndSyncStandby();
            kills.push({
              node: node.name,
              keeper,
              failedOver: primary.name !== node.name,
              toNextAckMs: acknowledgedAt - killedAt,
            });
          }
          await load.nextAcknowledgementAfter(Date.now(), 30_000);
        } catch (error) {
          t.diagnostic(
            `stopped after ${kills.length} kills: ${JSON.stringify(kills)}; refusals ${JSON.stringify(Object.fromEntries(load.refusals))}; ` +
              `last messages ${JSON.stringify(Object.fromEntries(load.lastMessages))}; unexpected ${load.unexpected.map(String).join(' | ')}; ` +
              `in flight for ${[...load.inFlight.values()].map((at) => Date.now() - at).join(', ')} ms; ` +
              `modules ${JSON.stringify(pool.status())}; cluster ${JSON.stringify(await cluster.state().catch(String))}`,
          );
          t.diagnostic(`the monitor's events:\n${(await cluster.events(60).catch(() => [])).join('\n')}`);
          const stored = new Set(
            (
              await store.db
                .selectFrom('indicia')
                .select('id')
                .execute()
                .catch(() => [])
            ).map((row) => row.id),
          );
          const lost = [...load.acknowledged.keys()].filter((id) => !stored.has(id));
          t.diagnostic(`acknowledged indicia missing from the database: ${lost.length}`);
          for (const module of pool.status().modules) {
            const logged = await store.db
              .selectFrom('module_log')
              .select(['counter', 'digest', 'recorded_at'])
              .where('module_serial', '=', module.serial)
              .orderBy('counter', 'desc')
              .limit(4)
              .execute()
              .catch(() => []);
            const discarded = await auditEventsFor(store.db, {
              moduleSerial: module.serial,
              kind: 'vault.auto_recovery_discarded',
            }).catch(() => []);
            t.diagnostic(
              `${module.serial}: module_log newest ${JSON.stringify(logged.map((row) => [row.counter, row.recorded_at]))}; ` +
                `discarded ${JSON.stringify(discarded.map((event) => [event.details['counter'], event.details['recordedAt'], event.at]))}`,
            );
          }
          throw error;
        } finally {
          await load.stop();
        }
        const failovers = kills.filter((entry) => entry.failedOver).length;
        t.diagnostic(
          `${kills.length} kills (${kills.filter((entry) => entry.keeper).length} with the keeper), ${failovers} failovers; ` +
            `kill → next acknowledged indicium: ${kills.map((entry) => `${(entry.toNextAckMs / 1000).toFixed(1)}${entry.keeper ? 'k' : ''}`).join(' ')} s; ` +
            `${load.acknowledged.size} indicia and ${load.fundings.length} fundings acknowledged; refusals: ${JSON.stringify(Object.fromEntries(load.refusals))}`,
        );
        assert.equal(kills.length, KILLS, `only ${kills.length} kills fitted in the drill's time`);
        assert.ok(
          kills.filter((entry) => entry.keeper && entry.failedOver).length >= 3,
          'at least 3 real failovers',
        );
        assert.deepEqual(
          load.unexpected.map(String),
          [],
          'every refusal was an IndiciaError with a stable code',
        );
        assert.deepEqual(
          [...load.refusals.keys()].filter((code) => code !== 'store.unavailable'),
          [],
          'callers heard only store.unavailable while the database switched',
        );

        // 0 acknowledged indicia lost: every one is in the database, byte for byte.
        const rows = await store.db
          .selectFrom('indicia')
          .select(['id', 'meter_id', 'data', 'postage_mills'])
          .execute();
        const logged = new Map(rows.map((row) => [row.id, row]));
        const missing = [...load.acknowledged.values()].filter(
          (indicium) => logged.get(indicium.id)?.data !== indicium.data,
        );
        assert.deepEqual(
          missing.map((indicium) => indicium.id),
          [],
          'no acknowledged indicium was lost',
        );
        const fundingRows = await store.db
          .selectFrom('meter_fundings')
          .select(['id', 'meter_id', 'amount_mills'])
          .execute();
        const fundingIds = new Set(fundingRows.map((row) => row.id));
        assert.deepEqual(
          load.fundings.filter((funding) => !fundingIds.has(funding.id)),
          [],
          'no acknowledged funding was lost',
        );

        // Each meter's registers, read through a module, are its indicia and its fundings.
        for (const meterId of meterIds) {
          const psd = await custody.readMeter(meterId);
          const printed = rows
            .filter((row) => row.meter_id === meterId)
            .reduce((total, row) => total + row.postage_mills, 0);
          const funded = fundingRows
            .filter((row) => row.meter_id === meterId)
            .reduce((total, row) => total + row.amount_mills, 0);
          assert.equal(psd.ascendingRegister, printed, `meter ${meterId}: ascending register = its indicia`);
          assert.equal(
            psd.ascendingRegister + psd.descendingRegister,
            funded,
            `meter ${meterId}: registers = its fundings`,
          );
        }
        const report = await reconcileMeters({ db: store.db, custody });
        assert.equal(
          report.isBalanced,
          true,
          JSON.stringify({ meters: report.meters, log: report.moduleLog }),
        );
        assert.deepEqual(
          pool
            .status()
            .modules.filter((module) => module.inhibited !== null)
            .map((module) => module.serial),
          [],
          'no module is inhibited',
        );
        assert.deepEqual(await auditEventsFor(store.db, { kind: 'vault.module_inhibited' }), []);
        const discarded = await auditEventsFor(store.db, { kind: 'vault.auto_recovery_discarded' });
        t.diagnostic(
          `${discarded.length} module step(s) whose commit was lost were rolled back by auto-recovery`,
        );
      },
    );
  },
);
