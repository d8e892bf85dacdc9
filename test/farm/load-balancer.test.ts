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
import { dialectFixtures } from '../support/dialects.ts';
import { findFreePort } from '../support/free-port.ts';
import { type RunningHaproxy, startHaproxy } from '../support/haproxy.ts';
import { type ServedIndicia, mailedToken, servedIndicia } from '../support/served-indicia.ts';

const CUSTOMERS = 4;
const POSTAGE = 730;
const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' };

/** Attempts that failed on the way (the SDK sent them again): cut connections and 5xx answers. */
const failedAttempts = { cut: 0, serverError: 0 };

/** fetch, counting the attempts that failed. */
const countingFetch: typeof fetch = async (input, init) => {
  try {
    const response = await fetch(input, init);
    if (response.status >= 500) failedAttempts.serverError += 1;
    return response;
  } catch (error) {
    failedAttempts.cut += 1;
    throw error;
  }
};

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

/** haproxy's log lines (httplog) of answers `server` (or <NOSRV>: none up) gave with `status`. */
function answers(haproxy: RunningHaproxy, server: string, status: (code: number) => boolean): string[] {
  return haproxy
    .output()
    .split('\n')
    .filter((line) => {
      const match = / indicia_servers\/(\S+) \S+ (-?\d+) /.exec(line);
      return match?.[1] === server && status(Number(match[2]));
    });
}

/** How many answers of each status each server (and haproxy itself: <NOSRV>) gave, from the log. */
function answerCounts(haproxy: RunningHaproxy): string {
  const counts = new Map<string, number>();
  for (const line of haproxy.output().split('\n')) {
    const match = / indicia_servers\/(\S+) \S+ (-?\d+) \S+ \S+ \S+ (\S+)/.exec(line);
    if (match === null) continue;
    const key = `${match[1]} ${match[2]} ${match[3]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => `${key} ×${count}`).join(', ');
}

/** Answers with status ≥ 500 (or none: -1) that came from a server, not from haproxy itself. */
const serverFailures = (haproxy: RunningHaproxy, server: string): string[] =>
  answers(haproxy, server, (code) => code >= 500 || code < 0);

const postgres = dialectFixtures.find((fixture) => fixture.name === 'postgres');

describe('a farm behind haproxy on one PostgreSQL database', { timeout: 300_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  let databaseUrl: string;
  let dataDir: string;
  let haproxy: RunningHaproxy;
  let slotA: ServedIndicia;
  let slotB: ServedIndicia;
  const customers: Customer[] = [];

  before(async () => {
    assert.ok(postgres !== undefined, 'the PostgreSQL fixture is missing');
    const fresh = await postgres.freshDatabase();
    cleanups.push(() => fresh.dispose());
    if (fresh.target.dialect !== 'postgres') throw new Error('the PostgreSQL fixture gave another database');
    databaseUrl = fresh.target.url;
    const folder = mkdtempSync(join(tmpdir(), 'indicia-farm-'));
    dataDir = folder;
    cleanups.push(async () => {
      rmSync(folder, { recursive: true, force: true });
      return Promise.resolve();
    });
    const [portA, portB] = [await findFreePort(), await findFreePort()];
    slotA = servedIndicia('a', { port: portA, dataDir, databaseUrl });
    slotB = servedIndicia('b', { port: portB, dataDir, databaseUrl });
    const balancer = await startHaproxy([
      { name: 'a', port: portA },
      { name: 'b', port: portB },
    ]);
    haproxy = balancer;
    cleanups.push(() => balancer.stop());
    const [a, b] = [slotA, slotB];
    cleanups.push(
      () => a.kill(),
      () => b.kill(),
    );
    await slotA.start();
    await haproxy.waitFor('a', 'UP');

    const fingerprint = (await new IndiciaClient({ baseUrl: haproxy.url }).enrollmentKey()).fingerprint;
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const email = `farm-${index}@example.com`;
      // Retries cover a restart's gap: 0.1 s doubling to 2 s, 12 times (about 17 s).
      const client = new IndiciaClient({ baseUrl: haproxy.url, retries: 12, fetch: countingFetch });
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
    // Servers first, then haproxy, then the data: the reverse of how they came.
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('drains a server stopped with SIGTERM: readiness fails first, no request fails at a server', async (t) => {
    let isLoading = true;
    const load = issueWhile(customers, () => isLoading);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(
      customers.every((customer) => customer.acknowledged.length > 0),
      'every customer issued',
    );

    const stopped = slotA.stop();
    // While it drains: readiness 503, yet it still answers, and haproxy takes it out before it closes.
    const deadline = Date.now() + 2_000;
    let readiness = 0;
    while (readiness !== 503 && Date.now() < deadline)
      readiness = (await fetch(`${slotA.url}/readyz`)).status;
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
    assert.ok(answers(haproxy, 'a', (code) => code === 201).length > 0, 'haproxy logged the issues');
    assert.ok(answers(haproxy, 'b', (code) => code === 201).length > 0, 'the second slot took over');
    assert.deepEqual(serverFailures(haproxy, 'a'), [], 'no request failed at the stopped server');
    assert.deepEqual(serverFailures(haproxy, 'b'), []);
    const gap = answers(haproxy, '<NOSRV>', () => true).length;
    t.diagnostic(
      `haproxy answered ${gap} request(s) with no slot ready (one at a time); the SDK retried them`,
    );
    t.diagnostic(`haproxy log (server status termination-state ×count): ${answerCounts(haproxy)}`);
  });

  it('costs only the requests in flight when a server is killed: the SDK retries them with their keys', async (t) => {
    let isLoading = true;
    const load = issueWhile(customers, () => isLoading);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const failedBefore = { ...failedAttempts };
    await slotB.kill();
    await slotA.start();
    await haproxy.waitFor('a', 'UP');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    isLoading = false;
    assert.deepEqual(await load, [], 'every request in flight at the kill was answered on retry');
    // At most one request a customer was in flight at the killed server.
    const lost = serverFailures(haproxy, 'b');
    assert.ok(lost.length <= CUSTOMERS, lost.join('\n'));
    const cut = failedAttempts.cut - failedBefore.cut;
    const refused = failedAttempts.serverError - failedBefore.serverError;
    assert.ok(cut + refused > 0, 'the kill made some attempts fail (the retries were exercised)');
    t.diagnostic(
      `after the SIGKILL: ${cut} attempt(s) cut, ${refused} answered 5xx (haproxy: no server), all sent again with their keys`,
    );
    t.diagnostic(`haproxy log (server status termination-state ×count): ${answerCounts(haproxy)}`);
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
    const reconciled = await runIndicia(
      ['reconcile', '--data-dir', dataDir],
      {
        INDICIA_DATABASE_URL: databaseUrl,
      },
      120_000,
    );
    assert.equal(reconciled.status, 0, reconciled.stdout + reconciled.stderr);
  });
});
