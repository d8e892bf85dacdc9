import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { errorPresentations } from '../../src/api/index.ts';
import { type AuthorityService, createAuthorityService } from '../../src/authority/index.ts';
import { CustodyError, type CustodyService, createCustodyService } from '../../src/custody/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  type MetersService,
  type PoolService,
  createMetersService,
  createPoolService,
  reconcileMeters,
} from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { type Store, migrateToLatest, openStore } from '../../src/store/index.ts';
import { type ModulePool, openCryptoModules } from '../../src/vault/index.ts';
import { type FreshDatabase, dialectFixtures } from '../support/dialects.ts';

const mills = (value: number): Mills => value as Mills;
const piece = (postage: number) => ({ postage: mills(postage), rateCategory: 'FC' });

const ISSUES_PER_SERVER = 24;
const FUNDING = 1_000_000;

/** One "server": its own connection pool, its own modules (numbers from `firstModule`), its services. */
interface Server {
  readonly store: Store;
  readonly pool: ModulePool;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly meters: MetersService;
}

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');
if (postgres === undefined) throw new Error('the PostgreSQL fixture is missing');

describe('two servers on one PostgreSQL database', () => {
  let database: FreshDatabase;
  const vaultDir = mkdtempSync(join(tmpdir(), 'indicia-two-servers-'));
  const kek = randomBytes(32);
  const servers: Server[] = [];
  const openServer = async (firstModuleNumber: number, meterWaitTimeoutMs?: number): Promise<Server> => {
    const store = await openStore(database.target);
    const { pool } = await openCryptoModules(
      { backend: 'software', vaultDir, kek },
      { modules: 2, ringSize: 3, inhibitThreshold: 1, firstModuleNumber },
    );
    const custody = createCustodyService({
      db: store.db,
      pool,
      ...(meterWaitTimeoutMs === undefined ? {} : { meterWaitTimeoutMs }),
    });
    await custody.assessModules({ verifyLog: false });
    const authority = createAuthorityService({ db: store.db, custody });
    const meters = createMetersService({ db: store.db, custody, authority });
    const server = { store, pool, custody, authority, meters };
    servers.push(server);
    return server;
  };
  let a: Server;
  let b: Server;

  before(async () => {
    database = await postgres.freshDatabase();
    const migrating = await openStore(database.target);
    await migrateToLatest(migrating.db, migrating.location);
    await migrating.close();
    a = await openServer(1);
    b = await openServer(11);
  });
  after(async () => {
    for (const server of servers) {
      await server.pool.close();
      await server.store.close();
    }
    await database.dispose();
  });

  it('race on shared meters with group commit: no refusal, one gap-free ascending register per meter', async (t) => {
    const meterIds: string[] = [];
    for (const customerNumber of [8001, 8002]) {
      const meter = await a.meters.create({
        customerNumber,
        licensingZip: '30301',
        maxDescendingRegister: mills(FUNDING),
      });
      await a.meters.fund(meter.meterId, FUNDING, 'test');
      meterIds.push(meter.meterId);
    }
    const before = [a, b].map((server) => server.custody.groupCommits());
    const refusals: unknown[] = [];
    // Both servers' groups hold both meters: locking in meter id order keeps them from deadlocking.
    await Promise.all(
      [a, b].flatMap((server, serverIndex) =>
        Array.from({ length: ISSUES_PER_SERVER }, async (_, index) => {
          const meterId = meterIds[index % meterIds.length] ?? '';
          const pieces = Array.from({ length: 1 + (index % 3) }, (__, pieceIndex) =>
            piece(500 + serverIndex * 100 + index * 7 + pieceIndex),
          );
          await server.meters.issue(meterId, pieces).catch((error: unknown) => refusals.push(error));
        }),
      ),
    );
    assert.deepEqual(refusals.map(String), [], 'no request is refused because another server was first');

    for (const meterId of meterIds) {
      const rows = await a.store.db
        .selectFrom('indicia')
        .select(['postage_mills', 'ascending_register_mills', 'package_sequence'])
        .where('meter_id', '=', meterId)
        .orderBy('ascending_register_mills')
        .execute();
      // Gap-free: each piece's register is the one before plus its own postage, from zero.
      let register = 0;
      for (const row of rows) {
        register += row.postage_mills;
        assert.equal(row.ascending_register_mills, register, `meter ${meterId}: register without a gap`);
      }
      const psd = (await b.meters.show(meterId)).psd;
      assert.equal(psd.ascendingRegister, register, 'the register is the sum of the committed pieces');
      assert.equal(psd.ascendingRegister + psd.descendingRegister, FUNDING);
      const pieceKeys = rows.map((row) => `${row.package_sequence}/${row.ascending_register_mills}`);
      assert.equal(new Set(pieceKeys).size, rows.length, 'no piece is stored twice');

      // Straight from the protected log: every package version of the meter was made once.
      const logged = await a.store.db
        .selectFrom('module_log')
        .select(['module_serial', 'packages'])
        .execute();
      const sequences = logged.flatMap((row) =>
        (JSON.parse(row.packages ?? '[]') as { meterId: string; sequence: number }[])
          .filter((version) => version.meterId === meterId)
          .map((version) => version.sequence),
      );
      assert.equal(new Set(sequences).size, sequences.length, 'no package version signed twice');
      assert.equal(Math.max(...sequences), (await b.custody.readMeter(meterId)).sequence);
    }
    const issued = await a.store.db
      .selectFrom('indicia')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(issued.count), ISSUES_PER_SERVER * 2 * 2, 'every piece of every request stored');

    for (const [index, server] of [a, b].entries()) {
      const now = server.custody.groupCommits();
      const then = before[index];
      assert.ok(then !== undefined);
      const commands = now.commands - then.commands;
      const groups = now.groups - then.groups;
      assert.equal(commands, ISSUES_PER_SERVER, 'each server committed its own commands');
      assert.ok(groups < commands, `group commit still groups (${commands} commands in ${groups} groups)`);
      assert.equal(now.conflictRetries, 0, 'under the lock no compare-and-swap ever fails');
      t.diagnostic(
        `server ${index}: ${commands} commands in ${groups} groups, ${now.lockWaits} lock waits, ${Math.round(now.lockedMs)} ms taking locks`,
      );
    }
    assert.equal((await reconcileMeters({ db: a.store.db, custody: a.custody })).isBalanced, true);
  });

  it('pooled meters: two servers topping up mini-PSDs from one master PSD stay balanced', async () => {
    const pools: PoolService[] = [a, b].map((server, index) =>
      createPoolService({
        db: server.store.db,
        custody: server.custody,
        authority: server.authority,
        settings: DEFAULT_METER_SETTINGS,
        modules: 1,
        machineNumber: 3 + index,
        holder: `server-${index}`,
        increment: mills(2_000),
      }),
    );
    try {
      const [poolA, poolB] = pools;
      assert.ok(poolA !== undefined && poolB !== undefined);
      await poolA.setUp('10001');
      await poolA.purchase(200_000, 'PO-farm');
      const customers = [601, 602, 603, 604];
      for (const customer of customers) await poolA.deposit(customer, 20_000, `card-${customer}`);
      const refusals: unknown[] = [];
      // Small increments: the servers keep topping up from the one master PSD at once.
      await Promise.all(
        customers.map(async (customer, index) => {
          const servedBy = index % 2 === 0 ? poolA : poolB;
          for (let round = 0; round < 6; round += 1)
            await servedBy
              .issue(customer, [piece(700 + round), piece(300)])
              .catch((error: unknown) => refusals.push(error));
        }),
      );
      assert.deepEqual(refusals.map(String), []);
      const report = await reconcileMeters({ db: b.store.db, custody: b.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report, null, 2));
      assert.deepEqual(report.pools[0]?.differences, []);
    } finally {
      for (const pool of pools) await pool.close();
    }
  });

  it('a wait longer than the meter wait timeout is refused with custody.meter_busy, nothing changed', async () => {
    const impatient = await openServer(21, 300);
    const meter = await a.meters.create({
      customerNumber: 8100,
      licensingZip: '30301',
      maxDescendingRegister: mills(FUNDING),
    });
    await a.meters.fund(meter.meterId, 50_000, 'test');
    const shown = await a.meters.show(meter.meterId);
    const sequence = (await a.custody.readMeter(meter.meterId)).sequence;
    const moduleCounters = () => impatient.pool.modules.map((module) => module.newestRecordCounter());
    const countersBefore = moduleCounters();
    const indiciaCount = async (): Promise<number> =>
      Number(
        (
          await a.store.db
            .selectFrom('indicia')
            .select((eb) => eb.fn.countAll<number | string>().as('count'))
            .where('meter_id', '=', meter.meterId)
            .executeTakeFirstOrThrow()
        ).count,
      );

    // Another "server" holds the meter's package for longer than the impatient one waits.
    let release: () => void = () => undefined;
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = a.store.db.transaction().execute(async (trx) => {
      await sql`select sequence from psd_packages where meter_id = ${meter.meterId} for update`.execute(trx);
      locked();
      // Released when the refusal came, or after a bound should none come (the test then fails).
      await new Promise<void>((resolve) => {
        release = resolve;
        setTimeout(resolve, 5_000).unref();
      });
    });
    await isLocked;
    const started = Date.now();
    const refused = await impatient.meters.issue(meter.meterId, [piece(900)]).then(
      () => null,
      (error: unknown) => error,
    );
    const waited = Date.now() - started;
    release();
    await holding;

    assert.ok(refused instanceof CustodyError, String(refused));
    assert.equal(refused.code, 'custody.meter_busy');
    assert.match(refused.message, /INDICIA_METER_WAIT_TIMEOUT_MS, 300 ms/);
    assert.equal(refused.details?.['retryAfterSeconds'], 1);
    assert.deepEqual(errorPresentations['custody.meter_busy'], { status: 503, isMessagePublic: true });
    assert.ok(waited >= 250, `waited ${waited} ms, about the timeout`);
    assert.equal((await a.custody.readMeter(meter.meterId)).sequence, sequence, 'no package version');
    assert.deepEqual(moduleCounters(), countersBefore, 'no module signed anything');
    assert.equal(await indiciaCount(), 0);
    assert.deepEqual((await a.meters.show(meter.meterId)).psd, shown.psd);

    // Once the other holder is done, the same request goes through without any recovery.
    const issued = await impatient.meters.issue(meter.meterId, [piece(900)]);
    assert.equal(issued[0]?.ascendingRegister, 900);
    assert.equal(
      (
        await a.store.db
          .selectFrom('audit_events')
          .select('kind')
          .where('kind', '=', 'vault.auto_recovery_discarded')
          .execute()
      ).length,
      0,
    );
    assert.equal((await reconcileMeters({ db: a.store.db, custody: a.custody })).isBalanced, true);
  });
});
