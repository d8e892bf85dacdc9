// Several servers on one installation (issue 18): each claims module numbers of its own in the
// database, a server without the installation's keys refuses to start, a killed server shows as
// gone and gets its modules back on restart, and SQLite refuses a second server.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { IndiciaClient } from '../../src/client/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { readFleet } from '../../src/fleet/index.ts';
import { type RunningIndicia, startIndicia } from '../../src/main.ts';
import type { Mills } from '../../src/money/index.ts';
import { StartupError } from '../../src/startup/index.ts';
import { dialectFixtures } from '../support/dialects.ts';

const CHILD = join(import.meta.dirname, '..', 'support', 'fleet-server-child.ts');
const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');
const sqlite = dialectFixtures.find((fixture) => fixture.name === 'sqlite');
const piece = [{ postage: 700 as Mills, rateCategory: 'FC' }];

const newDataDir = (): string => mkdtempSync(join(tmpdir(), 'indicia-fleet-'));

function start(dataDir: string, env: Record<string, string> = {}): Promise<RunningIndicia> {
  const config = loadConfig({
    env: {
      INDICIA_PORT: '0',
      INDICIA_DATA_DIR: dataDir,
      INDICIA_CRYPTO_MODULES: '2',
      INDICIA_LOG_LEVEL: 'warn',
      INDICIA_BACKUP_AT: 'off',
      ...env,
    },
    cwd: dataDir,
  });
  return startIndicia(config, { logDestination: new PassThrough().resume() });
}

/** A data directory holding a copy of the installation's keyset (not its modules), as the runbook says. */
function dataDirWithKeys(from: string): string {
  const dataDir = newDataDir();
  mkdirSync(join(dataDir, 'vault'), { recursive: true, mode: 0o700 });
  copyFileSync(join(from, 'vault', 'keyset.json'), join(dataDir, 'vault', 'keyset.json'));
  return dataDir;
}

async function refusalOf(starting: Promise<RunningIndicia>): Promise<StartupError> {
  try {
    const running = await starting;
    await running.close();
  } catch (error) {
    assert.ok(error instanceof StartupError, `expected a StartupError, got ${String(error)}`);
    return error;
  }
  assert.fail('the server started');
}

async function newMeter(indicia: RunningIndicia, customerNumber: number): Promise<string> {
  const meter = await indicia.meters.create({
    customerNumber,
    licensingZip: '10001',
    maxDescendingRegister: 100_000_000 as Mills,
  });
  await indicia.meters.fund(meter.meterId, 10_000_000, 'fleet-test');
  return meter.meterId;
}

function assertServing(indicia: RunningIndicia): void {
  const status = indicia.pool.status();
  assert.equal(status.stopped, null, `${indicia.url} stopped: ${status.stopped?.reason ?? ''}`);
  assert.equal(status.inhibitedModules, 0);
}

interface ChildServer {
  readonly child: ChildProcess;
  readonly ready: Promise<string>;
  readonly issued: () => number;
  readonly exited: Promise<void>;
}

function startChild(dataDir: string, databaseUrl: string, kekFile: string, meterId = ''): ChildServer {
  const child = spawn(process.execPath, [CHILD, dataDir, databaseUrl, kekFile, meterId], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let errors = '';
  let issued = 0;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('READY ')) resolve(line);
        if (line.startsWith('ISSUED ')) issued += 1;
      }
    });
    void exited.then(() => reject(new Error(`the child server exited before it was ready:\n${errors}`)));
  });
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return { child, ready, issued: () => issued, exited };
}

describe('a farm of servers on one PostgreSQL database', { timeout: 240_000 }, () => {
  assert.ok(postgres !== undefined);
  let databaseUrl = '';
  let dispose = (): Promise<void> => Promise.resolve();
  const firstDir = newDataDir();
  let kekFile = '';
  let first: RunningIndicia;
  let second: RunningIndicia;
  let secondDir = '';
  const running: RunningIndicia[] = [];

  before(async () => {
    const fresh = await postgres.freshDatabase();
    if (fresh.target.dialect !== 'postgres') assert.fail('expected a PostgreSQL database');
    databaseUrl = fresh.target.url;
    dispose = fresh.dispose;
    first = await start(firstDir, { INDICIA_DATABASE_URL: databaseUrl });
    running.push(first);
    kekFile = join(firstDir, 'keys', 'kek-v1.key');
    secondDir = dataDirWithKeys(firstDir);
    second = await start(secondDir, { INDICIA_DATABASE_URL: databaseUrl, INDICIA_KEK_FILE: kekFile });
    running.push(second);
  });

  after(async () => {
    for (const indicia of running) await indicia.close();
    await dispose();
  });

  it('gives each server module numbers and serials of its own, and lists them all as live', async () => {
    const numbers = (indicia: RunningIndicia) => indicia.pool.modules.map((module) => module.moduleNumber);
    assert.deepEqual(numbers(first), [1, 2]);
    assert.deepEqual(numbers(second), [3, 4]);
    const serials = [...first.pool.modules, ...second.pool.modules].map((module) => module.serial);
    assert.equal(new Set(serials).size, 4);
    const fleet = await readFleet(first.store.db, 'postgres');
    assert.deepEqual(
      fleet.servers.map((server) => [server.state, server.port]),
      [
        ['live', first.port],
        ['live', second.port],
      ],
    );
    assert.deepEqual(
      fleet.modules.map((module) => [module.moduleNumber, module.serial, module.state]),
      serials.map((serial, index) => [index + 1, serial, 'user']),
    );
    // The operator's list, through either server, shows the whole fleet.
    const operator = first.demoCredentials.find((credential) => credential.role === 'admin');
    assert.ok(operator !== undefined);
    const admin = new IndiciaClient({ baseUrl: second.url });
    await admin.signIn(operator.email, operator.password);
    const listed = await admin.adminModules();
    assert.deepEqual(
      listed.fleet.modules.map((module) => [module.serial, module.serverState, module.port]),
      serials.map((serial, index) => [serial, 'live', index < 2 ? first.port : second.port]),
    );
    assert.deepEqual(
      listed.modules.map((module) => module.serial),
      serials.slice(2),
    );
  });

  it('issues on both servers, for separate meters at once and for one meter in turn, without an inhibition', async () => {
    const [meterA, meterB] = [await newMeter(first, 9101), await newMeter(second, 9102)];
    const burst = async (indicia: RunningIndicia, meterId: string) => {
      for (let round = 0; round < 15; round += 1) await indicia.meters.issue(meterId, piece);
    };
    await Promise.all([
      burst(first, meterA),
      burst(second, meterB),
      burst(first, meterA),
      burst(second, meterB),
    ]);
    // The meters change servers: their packages are sealed under the keys both servers share.
    for (let round = 0; round < 5; round += 1) {
      await second.meters.issue(meterA, piece);
      await first.meters.issue(meterB, piece);
    }
    assertServing(first);
    assertServing(second);
    const report = await first.reconciliation.runOnce();
    assert.equal(
      report.isBalanced,
      true,
      JSON.stringify(report.meters.flatMap((meter) => meter.differences)),
    );
    const count = await first.store.db
      .selectFrom('indicia')
      .select((eb) => eb.fn.countAll<string | number>().as('count'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(count.count), 4 * 15 + 10);
  });

  it('refuses a server whose data directory lacks the installation keys, and one on a copied data directory', async () => {
    const withoutKeys = await refusalOf(start(newDataDir(), { INDICIA_DATABASE_URL: databaseUrl }));
    assert.equal(withoutKeys.code, 'startup.installation_keys_missing');
    assert.match(withoutKeys.message, /INDICIA_KEK_FILE/);
    assert.match(withoutKeys.message, /keyset\.json/);
    const withKekOnly = await refusalOf(
      start(newDataDir(), { INDICIA_DATABASE_URL: databaseUrl, INDICIA_KEK_FILE: kekFile }),
    );
    assert.equal(withKekOnly.code, 'startup.installation_keys_missing');
    // Its own KEK and keyset (a second installation's keys) on this database: refused too.
    const otherKeys = newDataDir();
    const otherInstallation = await start(otherKeys);
    await otherInstallation.close();
    const withOtherKeys = await refusalOf(start(otherKeys, { INDICIA_DATABASE_URL: databaseUrl }));
    assert.equal(withOtherKeys.code, 'startup.installation_keys_missing');
    assert.match(withOtherKeys.message, /other keys/);
    // The same data directory twice: its modules are claimed.
    const twice = await refusalOf(
      start(secondDir, { INDICIA_DATABASE_URL: databaseUrl, INDICIA_KEK_FILE: kekFile }),
    );
    assert.equal(twice.code, 'startup.modules_claimed');
    assert.match(twice.message, /data directory of its own/);
    // Refused starts claimed nothing for good.
    const fleet = await readFleet(first.store.db, 'postgres');
    assert.equal(fleet.servers.length, 2);
    assert.deepEqual(
      fleet.modules.map((module) => module.moduleNumber),
      [1, 2, 3, 4],
    );
  });

  it('shows a killed server as gone, serves its meter elsewhere, and gives it its modules back on restart', async () => {
    const meter = await newMeter(first, 9103);
    const thirdDir = dataDirWithKeys(firstDir);
    const killed = startChild(thirdDir, databaseUrl, kekFile, meter);
    const ready = await killed.ready;
    assert.match(ready, / 5,6$/);
    for (let waited = 0; killed.issued() < 20 && waited < 200; waited += 1)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(killed.issued() >= 20, 'the child server issued');
    killed.child.kill('SIGKILL'); // possibly between its module's step and its commit
    await killed.exited;

    const fleet = await readFleet(first.store.db, 'postgres');
    const third = fleet.servers.find((server) => server.dataDir === thirdDir);
    assert.equal(third?.state, 'gone');
    assert.deepEqual(
      fleet.modules.filter((module) => module.serverId === third.serverId).map((module) => module.state),
      ['gone', 'gone'],
    );

    // The meter moves to the live servers' modules: its package is in the database.
    for (let round = 0; round < 5; round += 1) {
      await first.meters.issue(meter, piece);
      await second.meters.issue(meter, piece);
    }
    // Its data directory starts again: the same module numbers and serials, its rings agree.
    const restarted = await start(thirdDir, { INDICIA_DATABASE_URL: databaseUrl, INDICIA_KEK_FILE: kekFile });
    running.push(restarted);
    assert.deepEqual(
      restarted.pool.modules.map((module) => module.serial),
      fleet.modules.filter((module) => module.serverId === third.serverId).map((module) => module.serial),
    );
    for (let round = 0; round < 5; round += 1) await restarted.meters.issue(meter, piece);
    await first.meters.issue(meter, piece);
    for (const indicia of [first, second, restarted]) assertServing(indicia);
    const after = await readFleet(first.store.db, 'postgres');
    assert.equal(after.servers.find((server) => server.serverId === third.serverId)?.state, 'live');
    const report = await restarted.reconciliation.runOnce();
    assert.equal(report.isBalanced, true, JSON.stringify(report.meters.flatMap((line) => line.differences)));
  });
});

describe('SQLite: one server', { timeout: 120_000 }, () => {
  assert.ok(sqlite !== undefined);
  it('refuses a second server on the same data directory, and on the same file through another one', async () => {
    const dataDir = newDataDir();
    const only = await start(dataDir);
    try {
      const again = await refusalOf(start(dataDir));
      assert.equal(again.code, 'startup.modules_claimed');
      assert.match(again.message, /SQLite is for one server/);
      assert.match(again.message, /PostgreSQL/);
      const elsewhere = newDataDir();
      symlinkSync(join(dataDir, 'indicia.sqlite'), join(elsewhere, 'indicia.sqlite'));
      const throughLink = await refusalOf(start(elsewhere));
      assert.equal(throughLink.code, 'startup.modules_claimed');
      assert.match(throughLink.message, /PostgreSQL/);
      rmSync(elsewhere, { recursive: true, force: true });
    } finally {
      await only.close();
    }
    // Stopped, its data directory starts again.
    const restarted = await start(dataDir);
    assert.deepEqual(
      restarted.pool.modules.map((module) => module.moduleNumber),
      [1, 2],
    );
    await restarted.close();
  });
});
