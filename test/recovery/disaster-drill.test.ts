import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import { reconcileMeters } from '../../src/meters/index.ts';
import { type Mills, mills } from '../../src/money/index.ts';

/**
 * The disaster drill of issue 17 on the embedded database: issue and fund, take a backup, go on,
 * ship the log, print a little more (the gap), destroy the database, restore + replay. Registers,
 * packages and indicia come back up to the last shipment; the gap is listed exactly; the modules
 * sign again; reconciliation passes.
 */
const DATABASE_FILES = ['indicia.sqlite', 'indicia.sqlite-wal', 'indicia.sqlite-shm'];
const piece = { postage: 500 as Mills, rateCategory: 'FC' };

function environment(dataDir: string, archiveDir: string, officer?: string): Record<string, string> {
  return {
    INDICIA_PORT: '0',
    INDICIA_DATA_DIR: dataDir,
    INDICIA_LOG_LEVEL: 'warn',
    INDICIA_CRYPTO_MODULES: '2',
    INDICIA_CHECKPOINT_RING_SIZE: '3',
    INDICIA_RECONCILE_INTERVAL_MINUTES: '0',
    INDICIA_LOG_SHIP_INTERVAL: '0',
    INDICIA_LOG_ARCHIVE_DIR: archiveDir,
    ...(officer === undefined ? {} : { INDICIA_CRYPTO_OFFICER_CREDENTIAL: officer }),
  };
}

const start = (dataDir: string, archiveDir: string): Promise<RunningIndicia> =>
  startIndicia(loadConfig({ env: environment(dataDir, archiveDir), cwd: dataDir }), {
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

async function restore(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ status: number; output: string }> {
  let output = '';
  const status = await runCli(['restore', ...args], { env, cwd, write: (text) => (output += text) });
  return { status, output };
}

describe('disaster drill on SQLite: backup, ship, lose the database, restore + replay', () => {
  const cases = [
    { gapPieces: 0, outcome: 'agrees' },
    { gapPieces: 2, outcome: 'settled' },
    { gapPieces: 8, outcome: 'beyond memory' },
  ] as const;
  for (const { gapPieces, outcome } of cases) {
    it(`brings registers, packages and indicia back to the last shipment, ${gapPieces} piece(s) printed after it: ${outcome}`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'indicia-disaster-'));
      const archiveDir = mkdtempSync(join(tmpdir(), 'indicia-archive-'));
      const backups = mkdtempSync(join(tmpdir(), 'indicia-backups-'));
      const backupFile = join(backups, 'indicia-full.sqlite');
      try {
        let indicia = await start(dataDir, archiveDir);
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
        await indicia.meters.issue(meter.meterId, [piece, piece]);
        // The daily backup, taken while the server runs (SQLite's online VACUUM INTO).
        const live = new DatabaseSync(join(dataDir, 'indicia.sqlite'));
        live.exec(`vacuum into '${backupFile}'`);
        live.close();
        // Work after the backup: under load, on both meters, with a funding and a new meter.
        await Promise.all([
          indicia.meters.issue(meter.meterId, [piece]),
          indicia.meters.issue(other.meterId, [piece, piece]),
          indicia.meters.issue(meter.meterId, [piece]),
          indicia.meters.fund(other.meterId, 5_000, 'drill'),
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
        // The disaster: the database is gone (the archive and the modules' own memory are not).
        for (const file of DATABASE_FILES) rmSync(join(dataDir, file), { force: true });
        assert.ok(existsSync(join(archiveDir, 'shipment-0000000001.jsonl')));

        const env = environment(dataDir, archiveDir, officer);
        const first = await restore(['--backup', backupFile, '--log-archive', archiveDir], env, dataDir);
        assert.match(first.output, /Recovery point: \d{4}-/);
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
          const accepted = await restore(['--log-archive', archiveDir, '--accept-gap'], env, dataDir);
          assert.equal(accepted.status, 0, accepted.output);
          assert.match(accepted.output, /Accepted \(--accept-gap\)/);
        }

        indicia = await start(dataDir, archiveDir);
        try {
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
          if (outcome === 'beyond memory')
            assert.ok(gaps.every((gap) => gap.status === 'open') && gaps.length > 0);
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
        } finally {
          await indicia.close();
        }
      } finally {
        for (const dir of [dataDir, archiveDir, backups]) rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
