import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeIndicium } from '../../src/indicium/index.ts';
import {
  DEFAULT_METER_SETTINGS,
  MeterError,
  type PoolService,
  createPoolService,
  reconcileMeters,
} from '../../src/meters/index.ts';
import type { Mills } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';

const mills = (value: number): Mills => value as Mills;
const piece = (postage: number) => ({ postage: mills(postage), rateCategory: 'FC' });
const refusedWithCode = (code: string) => (error: unknown) =>
  error instanceof MeterError && error.code === code;

for (const fixture of dialectFixtures) {
  describe(`pooled mode on ${fixture.name}`, () => {
    let installation: MeterInstallation;
    let pool: PoolService;
    const poolFor = (holder: string, modules = 1): PoolService =>
      createPoolService({
        db: installation.store.db,
        custody: installation.custody,
        authority: installation.authority,
        settings: DEFAULT_METER_SETTINGS,
        modules,
        machineNumber: 3,
        holder,
        increment: mills(10_000),
      });
    before(async () => {
      installation = await openMeterInstallation(fixture, 2);
      pool = poolFor('server-a');
    });
    after(async () => {
      await pool.close();
      await installation.dispose();
    });

    it('refuses to print before set-up, then funds the master PSD from the authority', async () => {
      await assert.rejects(pool.purchase(1_000, 'PO-0'), refusedWithCode('meter.pool_not_set_up'));
      const { masterMeterId } = await pool.setUp('10001');
      assert.match(masterMeterId, /^421G\d{8}$/);
      assert.deepEqual(await pool.setUp('10001'), { masterMeterId }, 'set-up happens once');
      const bought = await pool.purchase(25_000, 'PO-1');
      assert.equal(bought.descendingRegister, 25_000);
    });

    it('prints for customers from a mini-PSD topped up in whole increments, charging their balances', async () => {
      await pool.deposit(501, 5_000, 'card-sandbox-1');
      await pool.deposit(502, 5_000, 'card-sandbox-2');
      const first = await pool.issue(501, [piece(730), piece(730)]);
      const second = await pool.issue(502, [piece(1_000)]);
      assert.equal(first.length, 2);
      // One mini-PSD serves both customers: serial = master (4) + machine 3 + PSD 001.
      assert.equal(first[0]?.meterId, second[0]?.meterId);
      assert.match(first[0]?.meterId ?? '', /^421P\d{4}3001$/);
      const decoded = decodeIndicium(second[0]?.data ?? Buffer.alloc(0));
      assert.equal(decoded.userId, 502, 'the indicium names the customer, not the vendor');
      assert.equal(second[0]?.ascendingRegister, 2_460);
      assert.equal(second.at(0)?.descendingRegister, 10_000 - 2_460, 'one $10 increment moved in');
      assert.equal(await pool.balance(501), 5_000 - 1_460);
      assert.equal(await pool.balance(502), 4_000);
      const status = await pool.status();
      assert.deepEqual(status.master, { ascendingRegister: 10_000, descendingRegister: 15_000 });
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report, null, 2));
      assert.deepEqual(report.pools[0]?.differences, []);
      assert.equal(report.pools.at(0)?.miniPsdTotalMills, 10_000);
    });

    it('refuses without moving anything: short balance, bad amounts, an empty master PSD', async () => {
      const before = await pool.status();
      await assert.rejects(pool.issue(501, [piece(4_000)]), refusedWithCode('meter.insufficient_balance'));
      for (const postage of [0, -5, 1.5, Number.MAX_SAFE_INTEGER + 2])
        await assert.rejects(pool.issue(501, [piece(postage)]), (error: unknown) => error instanceof Error);
      await assert.rejects(pool.issue(999, [piece(10)]), refusedWithCode('meter.insufficient_balance'));
      await assert.rejects(pool.deposit(501, 0, 'zero'), refusedWithCode('meter.request_invalid'));
      // The master holds $15; a request needing two more increments ($20) cannot be funded.
      await pool.deposit(503, 30_000, 'card-sandbox-3');
      await assert.rejects(
        pool.issue(503, [piece(9_000), piece(9_000)]),
        refusedWithCode('meter.pool_empty'),
      );
      assert.equal(await pool.balance(503), 30_000);
      assert.deepEqual(await pool.status(), before);
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report.pools));
    });

    it('checks out more mini-PSDs under concurrent demand, each exclusive to one server', async () => {
      await pool.purchase(200_000, 'PO-2');
      const customers = [601, 602, 603, 604, 605, 606];
      for (const customer of customers) await pool.deposit(customer, 20_000, `card-${customer}`);
      const wide = poolFor('server-b', 1);
      const issued = await Promise.all(
        customers.flatMap((customer, index) =>
          Array.from({ length: 4 }, () => (index % 2 === 0 ? pool : wide).issue(customer, [piece(490)])),
        ),
      );
      assert.equal(issued.length, 24);
      for (const customer of customers) assert.equal(await pool.balance(customer), 20_000 - 4 * 490);
      const status = await pool.status();
      const holders = new Map(status.miniPsds.map((entry) => [entry.meterId, entry.checkedOutBy]));
      const usedBy = (service: string) =>
        new Set(
          issued
            .filter((_, index) => (Math.floor(index / 4) % 2 === 0 ? 'server-a' : 'server-b') === service)
            .map((pieces) => pieces[0]?.meterId),
        );
      for (const meterId of usedBy('server-a')) assert.equal(holders.get(meterId ?? ''), 'server-a');
      for (const meterId of usedBy('server-b')) assert.equal(holders.get(meterId ?? ''), 'server-b');
      assert.ok(status.miniPsds.length >= 2);
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report.pools));
      await wide.close();
      assert.ok((await pool.status()).miniPsds.every((entry) => entry.checkedOutBy !== 'server-b'));
    });

    it("refunds a pooled customer's spoiled indicium into their balance, within 1% of their printing", async () => {
      await pool.deposit(701, 60_000, 'card-sandbox-701');
      const [large, small] = await pool.issue(701, [piece(50_000), piece(500)]);
      assert.equal(await pool.balance(701), 60_000 - 50_500);
      const refund = await installation.meters.refundSpoiled(small?.id ?? '');
      assert.equal(refund.amount, 500);
      assert.equal(await pool.balance(701), 60_000 - 50_000, 'the refund went back into the balance');
      // 1% of $50.50 printed is 505 mills: the large piece is over the customer's share.
      await assert.rejects(
        installation.meters.refundSpoiled(large?.id ?? ''),
        refusedWithCode('meter.refund_limit'),
      );
      assert.equal(await pool.balance(701), 10_000);
      // An underpaid pooled piece is corrected from the customer's balance.
      const correction = await installation.meters.correct(large?.id ?? '', { postage: mills(50_250) });
      assert.equal(correction.postage, 250);
      assert.equal(await pool.balance(701), 10_000 - 250);
      assert.equal(decodeIndicium(correction.data).userId, 701);
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report.balanceDifferences));
    });

    it('withdraws a mini-PSD, its DR going back to the master in the same commit', async () => {
      const other = poolFor('server-c');
      await pool.deposit(702, 5_000, 'card-sandbox-702');
      const [theirs] = await other.issue(702, [piece(100)]);
      await assert.rejects(
        pool.withdrawMiniPsd(theirs?.meterId ?? ''),
        refusedWithCode('meter.not_active'),
        'a mini-PSD another server holds is not withdrawn from here',
      );
      await other.close();
      const before = await pool.status();
      const mini = await installation.custody.readMeter(theirs?.meterId ?? '');
      const withdrawn = await pool.withdrawMiniPsd(theirs?.meterId ?? '');
      assert.equal(withdrawn.returnedMills, mini.descendingRegister);
      const after = await pool.status();
      assert.deepEqual(after.master, {
        ascendingRegister: (before.master?.ascendingRegister ?? 0) - mini.descendingRegister,
        descendingRegister: (before.master?.descendingRegister ?? 0) + mini.descendingRegister,
      });
      assert.equal((await installation.custody.readMeter(mini.meterId)).state, 'withdrawn');
      assert.deepEqual(
        after.miniPsds.find((entry) => entry.meterId === mini.meterId),
        { meterId: mini.meterId, status: 'withdrawn', checkedOutBy: null },
        'a withdrawn mini-PSD is reported as withdrawn, not as idle',
      );
      await assert.rejects(pool.withdrawMiniPsd(mini.meterId), refusedWithCode('meter.not_active'));
      const report = await reconcileMeters({ db: installation.store.db, custody: installation.custody });
      assert.equal(report.isBalanced, true, JSON.stringify(report, null, 2));
      // Printing goes on from another mini-PSD.
      const [next] = await pool.issue(702, [piece(100)]);
      assert.notEqual(next?.meterId, mini.meterId);
    });

    it('takes value back into a master PSD only beside a withdrawal that released it', async () => {
      const { masterMeterId } = await pool.setUp('10001');
      const master = await installation.custody.readMeter(masterMeterId);
      await assert.rejects(
        installation.custody.executeTogether([
          { meterId: masterMeterId, steps: [{ operation: { type: 'return', amount: mills(10) } }] },
        ]),
        (error: unknown) =>
          error instanceof Error && 'code' in error && error.code === 'psd.unbalanced_return',
      );
      assert.deepEqual(await installation.custody.readMeter(masterMeterId), master);
    });
  });
}
