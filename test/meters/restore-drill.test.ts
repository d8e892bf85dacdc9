import 'reflect-metadata';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditEventsFor } from '../../src/audit/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import { withOperatorServices } from '../../src/installation/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import { VaultError } from '../../src/vault/index.ts';
import { PassThrough } from 'node:stream';

/**
 * The operator's drill from issue 16: snapshot the database, print N pieces (released to the
 * customer), put the snapshot back, restart. The modules must refuse to sign those register
 * values again — for every N, not only for one past the ring — and say so from the start.
 */
const DATABASE_FILES = ['indicia.sqlite', 'indicia.sqlite-wal', 'indicia.sqlite-shm'];

function configFor(dataDir: string) {
  return loadConfig({
    env: {
      INDICIA_PORT: '0',
      INDICIA_DATA_DIR: dataDir,
      INDICIA_LOG_LEVEL: 'warn',
      INDICIA_CRYPTO_MODULES: '2',
      INDICIA_CHECKPOINT_RING_SIZE: '3',
      INDICIA_RECONCILE_INTERVAL_MINUTES: '0',
    },
    cwd: dataDir,
  });
}

const start = (dataDir: string): Promise<RunningIndicia> =>
  startIndicia(configFor(dataDir), { logDestination: new PassThrough().resume() });

function snapshot(dataDir: string, to: string): void {
  for (const file of DATABASE_FILES)
    if (existsSync(join(dataDir, file))) copyFileSync(join(dataDir, file), join(to, file));
}

function restore(from: string, dataDir: string): void {
  for (const file of DATABASE_FILES) {
    rmSync(join(dataDir, file), { force: true });
    if (existsSync(join(from, file))) copyFileSync(join(from, file), join(dataDir, file));
  }
}

async function readiness(indicia: RunningIndicia): Promise<number> {
  const response = await indicia.app.inject({ method: 'GET', url: '/readyz' });
  return response.statusCode;
}

const piece = { postage: 500 as Mills, rateCategory: 'FC' };

/** A fresh installation with one funded meter, stopped: its data directory and the meter. */
async function installation(): Promise<{ dataDir: string; meterId: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'indicia-drill-'));
  const indicia = await start(dataDir);
  try {
    const meter = await indicia.meters.create({
      customerNumber: 7001,
      licensingZip: '94107',
      maxDescendingRegister: mills(500_000),
    });
    await indicia.meters.fund(meter.meterId, 100_000, 'drill');
    return { dataDir, meterId: meter.meterId };
  } finally {
    await indicia.close();
  }
}

describe('restore drill: a database put back after pieces were released', () => {
  for (const released of [1, 2, 4, 6]) {
    it(`after ${released} released piece(s), the restarted server is not ready and signs none of them again`, async () => {
      const { dataDir, meterId } = await installation();
      const backup = mkdtempSync(join(tmpdir(), 'indicia-drill-backup-'));
      snapshot(dataDir, backup);

      let indicia = await start(dataDir);
      const out: string[] = [];
      for (let index = 0; index < released; index += 1) {
        const issued = await indicia.meters.issue(meterId, [piece]);
        out.push(...issued.map((entry) => entry.id));
      }
      assert.equal(out.length, released);
      await indicia.close();

      restore(backup, dataDir);
      indicia = await start(dataDir);
      try {
        assert.equal(await readiness(indicia), 503, '/readyz says not ready from the start');
        const status = indicia.pool.status();
        assert.ok(status.stopped, 'the service is stopped');
        const inhibited = status.modules.filter((module) => module.inhibited !== null);
        assert.ok(inhibited.length >= 1);
        assert.ok(inhibited.every((module) => module.inhibited?.cause === 'database'));
        const reasons = inhibited.map((module) => module.inhibited?.reason ?? '').join(' | ');
        assert.match(reasons, new RegExp(`meter ${meterId}: debit of 500 mills`));
        await assert.rejects(
          indicia.meters.issue(meterId, [piece]),
          (error: unknown) =>
            error instanceof VaultError &&
            (error.code === 'vault.service_stopped' || error.code === 'vault.module_inhibited'),
        );
        const events = await auditEventsFor(indicia.store.db, { kind: 'vault.module_inhibited' });
        assert.ok(events.length >= 1);
        assert.equal(
          (await auditEventsFor(indicia.store.db, { kind: 'vault.auto_recovery_discarded' })).length,
          0,
          'nothing was silently discarded',
        );
      } finally {
        await indicia.close();
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(backup, { recursive: true, force: true });
      }
    });
  }

  it('a crash before the commit still auto-recovers: nothing of it was released', async () => {
    const { dataDir, meterId } = await installation();
    const indicia = await start(dataDir);
    try {
      // The module step happens, the database commit fails: the caller hears an error.
      await assert.rejects(
        indicia.meters.issue(meterId, [piece], {
          withinCommit: () => Promise.reject(new Error('the disk filled up')),
        }),
        /the disk filled up/,
      );
      // Two modules take turns: the one left a record ahead meets the database again within two.
      for (let index = 0; index < 2; index += 1)
        assert.equal((await indicia.meters.issue(meterId, [piece])).length, 1);
      assert.equal(await readiness(indicia), 200);
      const discarded = await auditEventsFor(indicia.store.db, { kind: 'vault.auto_recovery_discarded' });
      assert.equal(discarded.length, 1);
    } finally {
      await indicia.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('replay drill: one package row put back by plain SQL', () => {
  /** Puts the meter's package back `versions` versions and deletes the indicia printed since. */
  async function replay(
    indicia: RunningIndicia,
    meterId: string,
    saved: { sealed: string; sequence: number },
  ) {
    const db = indicia.store.db;
    await db
      .updateTable('psd_packages')
      .set({ sealed: saved.sealed, sequence: saved.sequence })
      .where('meter_id', '=', meterId)
      .execute();
  }

  it('is refused before the next signature, after a restart, and named by reconciliation', async () => {
    const { dataDir, meterId } = await installation();
    let indicia = await start(dataDir);
    const db = () => indicia.store.db;
    const saved = await db()
      .selectFrom('psd_packages')
      .select(['sealed', 'sequence'])
      .where('meter_id', '=', meterId)
      .executeTakeFirstOrThrow();
    const before = await db().selectFrom('indicia').select('id').execute();
    for (let index = 0; index < 5; index += 1) await indicia.meters.issue(meterId, [piece]);
    const printed = (await db().selectFrom('indicia').select('id').execute()).filter(
      (row) => !before.some((old) => old.id === row.id),
    );
    assert.equal(printed.length, 5);

    // While the server runs: the insider's edit is refused at the next piece.
    await replay(indicia, meterId, saved);
    for (const row of printed) {
      await db().deleteFrom('piece_addresses').where('indicium_id', '=', row.id).execute();
      await db().deleteFrom('indicia').where('id', '=', row.id).execute();
    }
    await assert.rejects(
      indicia.meters.issue(meterId, [piece]),
      (error: unknown) => error instanceof VaultError && error.code === 'vault.package_replayed',
    );
    const replayEvents = await auditEventsFor(db(), { kind: 'vault.package_replayed' });
    assert.ok(replayEvents.length >= 1);
    assert.ok(replayEvents.every((event) => event.meterId === meterId));
    await indicia.close();

    // After a restart (no process memory, rings moved on or not): the module log refuses it.
    indicia = await start(dataDir);
    try {
      await assert.rejects(
        indicia.meters.issue(meterId, [piece]),
        (error: unknown) => error instanceof VaultError && error.code === 'vault.package_replayed',
      );
      const report = await reconcileMeters({ db: indicia.store.db, custody: indicia.custody });
      assert.equal(report.isBalanced, false);
      const line = report.meters.find((meter) => meter.meterId === meterId);
      assert.ok(line);
      assert.match(line.differences.join(' '), /an earlier version was put back/);
      // Only that meter: the others still balance.
      assert.ok(
        report.meters
          .filter((meter) => meter.meterId !== meterId)
          .every((meter) => meter.differences.length === 0),
      );
      assert.match(
        report.moduleLog.differences.join(' '),
        /the modules printed 2500 mills in all, but the packages' ascending registers add up to 0/,
      );
    } finally {
      await indicia.close();
    }

    // An operator command in a process of its own finds it too.
    const operator = await withOperatorServices(configFor(dataDir), ({ store, custody }) =>
      reconcileMeters({ db: store.db, custody }),
    );
    assert.match(
      operator.meters.find((meter) => meter.meterId === meterId)?.differences.join(' ') ?? '',
      /earlier version was put back/,
    );
    rmSync(dataDir, { recursive: true, force: true });
  });
});
