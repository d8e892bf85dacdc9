// Indicia behind a real load balancer: Debian's haproxy on loopback, health-checking /readyz of two
// server slots on one PostgreSQL database, signed SDK clients issuing through it. A server stopped
// with SIGTERM is drained (readiness fails first, haproxy takes it out, requests in flight finish:
// no request fails at a server); one killed with SIGKILL costs only the requests in flight, which
// the SDK sends again with the same Idempotency-Key — every indicium a client saw is stored once.
//
// Until servers claim distinct module serials (issue 18, another part), two servers on one
// installation would drive the same modules' checkpoint rings; so the two slots run one at a
// time, on one data directory (its keys and rings) and one database: a rolling restart. Between
// one slot's exit and the other's readiness haproxy has no server and answers 503, which the SDK
// retries; with servers side by side that gap is the other servers' to fill.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { IndiciaClient } from '../../src/client/index.ts';
import { PASSWORD, registration } from '../support/api-helpers.ts';
import { runIndicia } from '../support/cli-process.ts';
import { type FreshDatabase, dialectFixtures } from '../support/dialects.ts';
import { findFreePort } from '../support/free-port.ts';
import { type RunningHaproxy, startHaproxy } from '../support/haproxy.ts';
import { type ServedIndicia, mailedToken, servedIndicia } from '../support/served-indicia.ts';

const CUSTOMERS = 4;
const POSTAGE = 730;
const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };

interface Customer {
  readonly client: IndiciaClient;
  readonly acknowledged: string[];
  lastAscendingRegister: number;
}

/** Each customer issues one piece after another until `running()` turns false. */
function issueWhile(customers: readonly Customer[], running: () => boolean): Promise<unknown[]> {
  return Promise.all(
    customers.map(async (customer) => {
      const failures: unknown[] = [];
      while (running()) {
        try {
          const answer = await customer.client.issueIndicia([{ postageMills: POSTAGE, rateCategory: 'FC' }]);
          for (const indicium of answer.indicia) customer.acknowledged.push(indicium.id);
          customer.lastAscendingRegister = answer.registers.ascendingRegisterMills;
        } catch (error) {
          failures.push(error);
        }
      }
      return failures;
    }),
  ).then((lists) => lists.flat());
}

/** haproxy's log lines of answers with status ≥ 500 that came from a server (not <NOSRV>). */
function serverFailures(haproxy: RunningHaproxy, server: string): string[] {
  return haproxy
    .output()
    .split('\n')
    .filter((line) => {
      const match = / indicia_servers\/(\S+) \S+ (-?\d+) /.exec(line);
      return match?.[1] === server && Number(match[2]) >= 500;
    });
}

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');

describe('a farm behind haproxy on one PostgreSQL database', { timeout: 300_000 }, () => {
  let database: FreshDatabase;
  let databaseUrl: string;
  let dataDir: string;
  let haproxy: RunningHaproxy;
  let slotA: ServedIndicia;
  let slotB: ServedIndicia;
  const customers: Customer[] = [];

  before(async () => {
    assert.ok(postgres !== undefined, 'the PostgreSQL fixture is missing');
    database = await postgres.freshDatabase();
    assert.equal(database.target.dialect, 'postgres');
    databaseUrl = database.target.dialect === 'postgres' ? database.target.url : '';
    dataDir = mkdtempSync(join(tmpdir(), 'indicia-farm-'));
    const [portA, portB] = [await findFreePort(), await findFreePort()];
    slotA = servedIndicia('a', { port: portA, dataDir, databaseUrl });
    slotB = servedIndicia('b', { port: portB, dataDir, databaseUrl });
    haproxy = await startHaproxy([
      { name: 'a', port: portA },
      { name: 'b', port: portB },
    ]);
    await slotA.start();
    await haproxy.waitFor('a', 'UP');

    const fingerprint = (await new IndiciaClient({ baseUrl: haproxy.url }).enrollmentKey()).fingerprint;
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const email = `farm-${index}@example.com`;
      // Retries cover a restart's gap: 0.1 s doubling to 2 s, 12 times (about 17 s).
      const client = new IndiciaClient({ baseUrl: haproxy.url, retries: 12 });
      await client.register(registration(email));
      let token: string | undefined;
      for (let tries = 0; token === undefined && tries < 100; tries += 1) {
        token = mailedToken(dataDir, email);
        if (token === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(token !== undefined, `no verification mail for ${email}`);
      await client.verifyEmail(token);
      await client.signIn(email, PASSWORD);
      await client.enrollDevice(`farm device ${index}`, fingerprint);
      await client.addFunds(5_000_000, CARD);
      customers.push({ client, acknowledged: [], lastAscendingRegister: 0 });
    }
  });

  after(async () => {
    await slotA?.kill();
    await slotB?.kill();
    await haproxy?.stop();
    await database?.dispose();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('drains a server stopped with SIGTERM: readiness fails first, no request fails at a server', async () => {
    let isLoading = true;
    const load = issueWhile(customers, () => isLoading);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(customers.every((customer) => customer.acknowledged.length > 0), 'every customer issued');

    const stopped = slotA.stop();
    // While it drains: readiness 503, yet it still answers, and haproxy takes it out before it closes.
    const deadline = Date.now() + 2_000;
    let readiness = 0;
    while (readiness !== 503 && Date.now() < deadline) readiness = (await fetch(`${slotA.url}/readyz`)).status;
    assert.equal(readiness, 503, 'readiness fails as soon as shutdown begins');
    assert.equal((await fetch(`${slotA.url}/healthz`)).status, 200, 'and the server still answers meanwhile');
    await haproxy.waitFor('a', 'DOWN', 5_000);
    assert.equal(await stopped, 0, slotA.output());
    assert.doesNotMatch(slotA.output(), /shutdown timeout reached/);

    await slotB.start();
    await haproxy.waitFor('b', 'UP');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    isLoading = false;
    assert.deepEqual(await load, [], 'no client call failed');
    assert.deepEqual(serverFailures(haproxy, 'a'), [], 'no request failed at the stopped server');
    assert.deepEqual(serverFailures(haproxy, 'b'), []);
  });

  it('costs only the requests in flight when a server is killed: the SDK retries them with their keys', async () => {
    let isLoading = true;
    const load = issueWhile(customers, () => isLoading);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await slotB.kill();
    await slotA.start();
    await haproxy.waitFor('a', 'UP');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    isLoading = false;
    assert.deepEqual(await load, [], 'every request in flight at the kill was answered on retry');
    // At most one request a customer was in flight at the killed server.
    assert.ok(serverFailures(haproxy, 'b').length <= CUSTOMERS, serverFailures(haproxy, 'b').join('\n'));
    assert.deepEqual(serverFailures(haproxy, 'a'), []);
    await slotA.stop();

    // Every indicium a client saw is stored, once; nothing else was printed for these meters.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const acknowledged = customers.flatMap((customer) => customer.acknowledged);
      assert.equal(new Set(acknowledged).size, acknowledged.length, 'no indicium acknowledged twice');
      const stored = await db.query<{ id: string }>('select id from indicia');
      assert.deepEqual(
        stored.rows.map((row) => row.id).sort(),
        [...acknowledged].sort(),
        'the stored indicia are exactly the acknowledged ones',
      );
      for (const customer of customers)
        assert.equal(customer.lastAscendingRegister, customer.acknowledged.length * POSTAGE);
    } finally {
      await db.end();
    }
    const reconciled = await runIndicia(['reconcile', '--data-dir', dataDir], {
      INDICIA_DATABASE_URL: databaseUrl,
    }, 120_000);
    assert.equal(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
  });
});
