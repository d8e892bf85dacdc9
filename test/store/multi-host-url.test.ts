import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type Store, StoreError, openStore } from '../../src/store/index.ts';
import { type AutoFailoverCluster, startAutoFailoverCluster } from '../support/pg-auto-failover.ts';

/**
 * The PostgreSQL dialect on a libpq host list, against a real pg_auto_failover formation: it finds
 * the primary whichever node it is, and after the primary dies the connection that was using it
 * fails with store.unavailable while the next ones reach the new primary.
 */
describe('a multi-host database URL on a pg_auto_failover formation', { timeout: 240_000 }, () => {
  let cluster: AutoFailoverCluster;
  let store: Store;
  before(async () => {
    cluster = await startAutoFailoverCluster();
  });
  after(async () => {
    try {
      await store.close();
    } finally {
      await cluster.stop();
    }
  });

  it('replicates synchronously: a commit waits for the standby', async () => {
    assert.match(await cluster.synchronousStandbyNames(), /^ANY 1 \(pgautofailover_standby_\d\)$/);
  });

  it('writes through the primary, whichever host of the list it is', async () => {
    const primary = await cluster.currentPrimary();
    // The standby first in the list: the pool must skip it.
    const standby = cluster.nodes.find((node) => node.name !== primary.name);
    assert.ok(standby);
    const url = `postgres://indicia@127.0.0.1:${standby.port},127.0.0.1:${primary.port}/indicia?target_session_attrs=read-write`;
    store = await openStore({ dialect: 'postgres', url });
    assert.equal(store.location, url);
    await sql`create table drill (n integer primary key)`.execute(store.db);
    await sql`insert into drill values (1)`.execute(store.db);
    const { rows } = await sql<{ port: number }>`select inet_server_port() as port`.execute(store.db);
    assert.equal(rows[0]?.port, primary.port);
  });

  it('after the primary is killed (keeper too): one clear error at most, then the new primary', async (t) => {
    const old = await cluster.currentPrimary();
    // Hold a connection inside a transaction across the kill.
    const held = store.db.transaction().execute(async (trx) => {
      await sql`insert into drill values (2)`.execute(trx);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await sql`insert into drill values (3)`.execute(trx);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { killedAt } = await cluster.killPrimary({ keeper: true });
    await assert.rejects(held, (error: unknown) => {
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.code, 'store.unavailable');
      assert.match(error.message, /was lost during the request|is a read-write \(primary\) server just now/);
      assert.doesNotMatch(error.message, /\n\s+at /);
      return true;
    });
    let written = false;
    let refusals = 0;
    while (!written && Date.now() - killedAt < 60_000) {
      try {
        await sql`insert into drill values (4)`.execute(store.db);
        written = true;
      } catch (error) {
        assert.ok(error instanceof StoreError && error.code === 'store.unavailable', String(error));
        refusals += 1;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.ok(written, 'a write succeeded after the failover');
    const seconds = (Date.now() - killedAt) / 1000;
    const now = await cluster.waitForPrimaryAndSyncStandby();
    assert.notEqual(now.name, old.name, 'the standby took over');
    const { rows } = await sql<{ n: number }>`select n from drill order by n`.execute(store.db);
    assert.deepEqual(
      rows.map((row) => row.n),
      [1, 4],
      'the committed row survived, the interrupted transaction left nothing',
    );
    assert.match(await cluster.synchronousStandbyNames(), /^ANY 1/);
    t.diagnostic(
      `failover: first write ${seconds.toFixed(1)} s after the kill, ${refusals} refusals meanwhile`,
    );
  });
});
