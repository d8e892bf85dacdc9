import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';

/**
 * The disaster drill of issue 17, one scenario for both databases: issue and fund under load, take
 * a backup with `indicia backup`, go on, ship the log, print a little more (the gap), lose the
 * database, restore + replay. Registers, packages and indicia come back up to the last shipment;
 * the gap is listed exactly; the modules sign again; `indicia reconcile` and `indicia audit verify`
 * pass.
 */
export interface DrillDatabase {
  /** Settings for the database (none for the embedded SQLite default). */
  readonly env: Record<string, string>;
  /**
   * Loses the database and puts the backup back the way docs/operations.md says. Returns the
   * settings to restore with (PostgreSQL: the restored cluster) and `indicia restore`'s own
   * backup arguments (SQLite: `--backup latest`; PostgreSQL: none, pgBackRest restored it).
   */
  lose(dataDir: string): Promise<{ env: Record<string, string>; restoreArgs: string[] }>;
  stop(): Promise<void>;
}

export type DrillOutcome = 'agrees' | 'settled' | 'beyond memory';

const piece = { postage: 500 as Mills, rateCategory: 'FC' };

function environment(
  dataDir: string,
  archiveDir: string,
  database: Record<string, string>,
  officer?: string,
): Record<string, string> {
  return {
    INDICIA_PORT: '0',
    INDICIA_DATA_DIR: dataDir,
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_CRYPTO_MODULES: '2',
    INDICIA_CHECKPOINT_RING_SIZE: '3',
    INDICIA_RECONCILE_INTERVAL_MINUTES: '0',
    INDICIA_LOG_SHIP_INTERVAL: '0',
    INDICIA_LOG_ARCHIVE_DIR: archiveDir,
    INDICIA_BACKUP_AT: 'off',
    ...database,
    ...(officer === undefined ? {} : { INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer }),
  };
}

const start = (env: Record<string, string>): Promise<RunningIndicia> =>
  startIndicia(loadConfig({ env, cwd: env['INDICIA_DATA_DIR'] ?? '.' }), {
    logDestination: new PassThrough().resume(),
  });

async function registersOf(
  indicia: RunningIndicia,
  meterId: string,
): Promise<{ ar: number; dr: number; sequence: number }> {
  const view = await indicia.custody.readMeter(meterId);
  return { ar: view.ascendingRegister, dr: view.descendingRegister, sequence: view.sequence };
}

async function indiciumIds(indicia: RunningIndicia): Promise<string[]> {
  return (await indicia.store.db.selectFrom('indicia').select('id').orderBy('id').execute()).map(
    (row) => row.id,
  );
}

async function cli(args: string[], env: Record<string, string>): Promise<{ status: number; output: string }> {
  let output = '';
  const status = await runCli(args, {
    env,
    cwd: env['INDICIA_DATA_DIR'] ?? '.',
    write: (text) => (output += text),
  });
  return { status, output };
}

/**
 * Runs the drill on a database, `gapPieces` pieces printed after the last shipment, with 2 crypto
 * modules (or `modules`) of 3 remembered records each.
 */
export async function runDisasterDrill(
  database: DrillDatabase,
  gapPieces: number,
  outcome: DrillOutcome,
  modules = 2,
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'indicia-disaster-'));
  const archiveDir = mkdtempSync(join(tmpdir(), 'indicia-archive-'));
  const moduleEnv = { ...database.env, INDICIA_CRYPTO_MODULES: String(modules) };
  const before = environment(dataDir, archiveDir, moduleEnv);
  let indicia: RunningIndicia | undefined;
  try {
    indicia = await start(before);
    const officer = indicia.createdOfficerCredential;
    assert.ok(officer !== undefined);
    const meter = await indicia.meters.create({
      customerNumber: 7101,
      licensingZip: '94107',
      maxDescendingRegister: mills(500_000),
    });
    const other = await indicia.meters.create({
      customerNumber: 7102,
      licensingZip: '10001',
      maxDescendingRegister: mills(500_000),
    });
    await indicia.meters.fund(meter.meterId, 100_000, 'drill');
    await indicia.meters.fund(other.meterId, 50_000, 'drill');
    await Promise.all([
      indicia.meters.issue(meter.meterId, [piece, piece]),
      indicia.meters.issue(other.meterId, [piece]),
      indicia.meters.issue(meter.meterId, [piece]),
    ]);
    // The daily backup, taken while the server runs.
    const backup = await cli(['backup', '--kind', 'full'], before);
    assert.equal(backup.status, 0, backup.output);
    // Work after the backup: under load, on both meters, with a funding and a new meter.
    await Promise.all([
      indicia.meters.issue(meter.meterId, [piece]),
      indicia.meters.issue(other.meterId, [piece, piece]),
      indicia.meters.issue(meter.meterId, [piece]),
      indicia.meters.fund(other.meterId, 5_000, 'drill'),
      indicia.meters.issue(other.meterId, [piece]),
    ]);
    const late = await indicia.meters.create({
      customerNumber: 7103,
      licensingZip: '60601',
      maxDescendingRegister: mills(500_000),
    });
    await indicia.meters.fund(late.meterId, 20_000, 'drill');
    await indicia.meters.issue(late.meterId, [piece]);
    const shipped = await indicia.logShipping.runOnce();
    assert.ok(shipped !== null && shipped.records > 0);
    assert.ok(existsSync(join(archiveDir, 'shipment-0000000001.jsonl')));
    const atShipment = {
      meter: await registersOf(indicia, meter.meterId),
      other: await registersOf(indicia, other.meterId),
      late: await registersOf(indicia, late.meterId),
      indicia: await indiciumIds(indicia),
    };
    const gapIndicia: Buffer[] = [];
    for (let index = 0; index < gapPieces; index += 1)
      gapIndicia.push(...(await indicia.meters.issue(meter.meterId, [piece])).map((entry) => entry.data));
    const beforeDisaster = await registersOf(indicia, meter.meterId);
    await indicia.close();
    indicia = undefined;

    // The disaster: the database is gone (the log archive and the modules' own memory are not).
    const lost = await database.lose(dataDir);
    const after = environment(
      dataDir,
      archiveDir,
      { ...lost.env, INDICIA_CRYPTO_MODULES: String(modules) },
      officer,
    );
    const first = await cli(['restore', ...lost.restoreArgs, '--log-archive', archiveDir], after);
    assert.match(first.output, /Recovery point: \d{4}-/);
    assert.match(first.output, /\d+ re-applied \(\d+ movements\)/);
    const listed = [...first.output.matchAll(new RegExp(`meter ${meter.meterId} debit 500 mills`, 'g'))];
    if (outcome === 'agrees') {
      assert.equal(first.status, 0, first.output);
      assert.match(first.output, /Every module agrees with the restored database/);
    } else if (outcome === 'settled') {
      assert.equal(first.status, 0, first.output);
      assert.equal(listed.length, gapPieces, first.output);
      assert.match(
        first.output,
        /Settled from the modules' own memory: \d+ record\(s\) added to the log, 1 meter\(s\)/,
      );
    } else {
      assert.equal(first.status, 1, first.output);
      assert.match(first.output, /more record\(s\) the module no longer remembers/);
      assert.match(first.output, /The gap cannot be settled/);
      const accepted = await cli(['restore', '--log-archive', archiveDir, '--accept-gap'], after);
      assert.equal(accepted.status, 0, accepted.output);
      assert.match(accepted.output, /Accepted \(--accept-gap\)/);
    }

    indicia = await start(after);
    assert.equal((await indicia.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    // Settled: level with what it printed before the disaster; otherwise as at the shipment.
    assert.deepEqual(
      await registersOf(indicia, meter.meterId),
      outcome === 'settled' ? beforeDisaster : atShipment.meter,
    );
    assert.deepEqual(await registersOf(indicia, other.meterId), atShipment.other);
    assert.deepEqual(await registersOf(indicia, late.meterId), atShipment.late);
    assert.deepEqual(await indiciumIds(indicia), atShipment.indicia);
    const gaps = await indicia.store.db.selectFrom('recovery_gaps').selectAll().execute();
    const ownGaps = gaps.filter((gap) => gap.meter_id === meter.meterId);
    if (outcome === 'settled') {
      assert.equal(ownGaps.length, gapPieces);
      assert.ok(ownGaps.every((gap) => gap.status === 'settled'));
    }
    if (outcome === 'beyond memory') assert.ok(gaps.every((gap) => gap.status === 'open') && gaps.length > 0);
    if (outcome === 'agrees') assert.equal(gaps.length, 0);
    // A piece of the gap is genuine at verification, named as printed in the gap (when it is known).
    for (const data of gapIndicia) {
      const check = await indicia.meters.check(data);
      if (outcome === 'settled') {
        assert.equal(check.outcome, 'recovery_gap', check.reason ?? '');
        assert.equal(check.isGenuine, true);
        assert.match(check.reason ?? '', /settled in the registers/);
      }
    }
    // The modules sign again, and the books balance.
    assert.equal((await indicia.meters.issue(meter.meterId, [piece])).length, 1);
    const report = await reconcileMeters({ db: indicia.store.db, custody: indicia.custody });
    assert.equal(
      report.isBalanced,
      true,
      JSON.stringify(report.meters.filter((entry) => entry.differences.length > 0)),
    );
    await indicia.close();
    indicia = undefined;
    const reconcile = await cli(['reconcile'], after);
    assert.equal(reconcile.status, 0, reconcile.output);
    const audit = await cli(['audit', 'verify'], after);
    assert.equal(audit.status, 0, audit.output);
    assert.match(audit.output, /^intact$/m);
  } finally {
    await indicia?.close();
    for (const dir of [dataDir, archiveDir]) rmSync(dir, { recursive: true, force: true });
  }
}
