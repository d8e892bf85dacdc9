// The claim itself, on PostgreSQL: the heartbeat reports each module, a session PostgreSQL ends
// (a restart, an idle timeout) is taken again, and a claim another process took in between is lost.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SERVER_LOCK_CLASS, claimServerModules, readFleet } from '../../src/fleet/index.ts';
import { type Store, advisoryObjectId, migrateToLatest, openStore } from '../../src/store/index.ts';
import { dialectFixtures } from '../support/dialects.ts';

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');
const report = (moduleNumber: number, totalOperations: number) => ({
  groupsCommitted: 3,
  commandsCommitted: 9,
  waitingCommands: 1,
  modules: [
    {
      moduleNumber,
      serial: `SW-TEST${moduleNumber}`,
      state: 'user',
      totalOperations,
      operationsPerSecond: 2,
      load: 0.5,
    },
  ],
});
const until = async (condition: () => Promise<boolean>, what: string): Promise<void> => {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('a server claim on PostgreSQL', { timeout: 60_000 }, () => {
  assert.ok(postgres !== undefined);
  let store: Store;
  let url = '';
  let dispose = (): Promise<void> => Promise.resolve();
  let admin: pg.Client;

  before(async () => {
    const fresh = await postgres.freshDatabase();
    url = fresh.target.dialect === 'postgres' ? fresh.target.url : '';
    dispose = fresh.dispose;
    store = await openStore(fresh.target);
    await migrateToLatest(store.db, store.location);
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await store.close();
    await dispose();
  });

  const holderOf = async (serverId: string): Promise<number | null> => {
    const { rows } = await admin.query<{ pid: number }>(
      "select pid from pg_locks where locktype = 'advisory' and granted and classid = $1 and objid = $2 and objsubid = 2",
      [SERVER_LOCK_CLASS, advisoryObjectId(serverId)],
    );
    return rows[0]?.pid ?? null;
  };

  it('reports its modules, and takes its locks again on a new session when PostgreSQL ended its own', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'indicia-claim-'));
    const claim = await claimServerModules({
      db: store.db,
      target: { dialect: 'postgres', url },
      dataDir,
      moduleCount: 1,
      backend: 'software',
      heartbeatIntervalMs: 100,
    });
    const losses: string[] = [];
    let operations = 5;
    claim.startHeartbeat(
      () => report(claim.moduleNumbers[0] ?? 0, operations),
      (reason) => losses.push(reason),
    );
    try {
      await until(
        async () => (await readFleet(store.db, 'postgres')).modules[0]?.totalOperations === 5,
        'a heartbeat',
      );
      const fleet = await readFleet(store.db, 'postgres');
      assert.deepEqual(
        fleet.servers.map((server) => [server.state, server.groupsCommitted, server.waitingCommands]),
        [['live', 3, 1]],
      );
      assert.deepEqual(
        fleet.modules.map((module) => [module.serial, module.state, module.load]),
        [['SW-TEST1', 'user', 0.5]],
      );

      const before = await holderOf(claim.serverId);
      assert.ok(before !== null);
      await admin.query('select pg_terminate_backend($1)', [before]);
      operations = 6;
      await until(async () => {
        const holder = await holderOf(claim.serverId);
        return holder !== null && holder !== before;
      }, 'the lock taken again');
      await until(
        async () => (await readFleet(store.db, 'postgres')).modules[0]?.totalOperations === 6,
        'a heartbeat',
      );
      assert.equal(losses.length, 0, losses.join('; '));

      // Its session ends again, and another process takes the claim first: the claim is lost.
      const thief = new pg.Client({ connectionString: url });
      await thief.connect();
      try {
        const holder = await holderOf(claim.serverId);
        await admin.query('select pg_terminate_backend($1)', [holder]);
        await until(async () => {
          const { rows } = await thief.query<{ taken: boolean }>(
            'select pg_try_advisory_lock($1::int4, $2::int4) as taken',
            [SERVER_LOCK_CLASS, advisoryObjectId(claim.serverId)],
          );
          return rows[0]?.taken === true;
        }, 'the thief to take the lock');
        await until(() => Promise.resolve(losses.length > 0), 'the claim to be lost');
        assert.match(losses[0] ?? '', /took this server’s claim/);
      } finally {
        await thief.end();
      }
    } finally {
      await claim.release();
    }
    assert.equal((await readFleet(store.db, 'postgres')).servers[0]?.state, 'stopped');
  });

  it('refuses a serial another live server drives, and a second claim on the same data directory', async () => {
    const claim = (dataDir: string) =>
      claimServerModules({
        db: store.db,
        target: { dialect: 'postgres', url },
        dataDir,
        moduleCount: 1,
        backend: 'software',
      });
    const firstDir = mkdtempSync(join(tmpdir(), 'indicia-claim-'));
    const first = await claim(firstDir);
    const second = await claim(mkdtempSync(join(tmpdir(), 'indicia-claim-')));
    try {
      assert.notDeepEqual(first.moduleNumbers, second.moduleNumbers);
      await first.bindSerials([{ serial: 'SW-COPIED', moduleNumber: first.moduleNumbers[0] ?? null }]);
      await assert.rejects(
        second.bindSerials([{ serial: 'SW-COPIED', moduleNumber: second.moduleNumbers[0] ?? null }]),
        (error: Error & { code?: string }) =>
          error.code === 'startup.modules_claimed' && /vault\/modules/.test(error.message),
      );
      await assert.rejects(
        claim(firstDir),
        (error: Error & { code?: string }) => error.code === 'startup.modules_claimed',
      );
    } finally {
      await first.release();
      await second.release();
    }
    // Released, the data directory claims its number again.
    const again = await claim(firstDir);
    assert.deepEqual(again.moduleNumbers, first.moduleNumbers);
    await again.release();
  });
});
