import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_METER_SETTINGS, createPoolService } from '../../src/meters/index.ts';
import { type Mills, shareFloor } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { openMeterInstallation } from '../support/meter-installation.ts';
import {
  MAX_DR,
  INCREMENT,
  type MeterModel,
  type PoolModel,
  type Model,
  type Real,
  expectOutcome,
  checkAgainstModel,
  type MeterCommand,
} from '../support/meter-model.ts';

class Fund implements MeterCommand {
  readonly meter: number;
  readonly amount: number;
  constructor(meter: number, amount: number) {
    this.meter = meter;
    this.amount = amount;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const refusal =
      meter.status !== 'active'
        ? 'meter.not_active'
        : meter.descending + this.amount > MAX_DR
          ? 'psd.max_dr_exceeded'
          : null;
    if (await expectOutcome(() => real.meters.fund(meter.id, this.amount, 'model'), refusal)) {
      meter.funded += this.amount;
      meter.descending += this.amount;
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `fund(${this.meter}, ${this.amount})`;
}

class Issue implements MeterCommand {
  readonly meter: number;
  readonly postages: number[];
  constructor(meter: number, postages: number[]) {
    this.meter = meter;
    this.postages = postages;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const total = this.postages.reduce((sum, postage) => sum + postage, 0);
    const refusal =
      meter.status !== 'active'
        ? 'meter.not_active'
        : total > meter.descending
          ? 'psd.insufficient_funds'
          : null;
    let issued: { id: string; postage: number }[] = [];
    const ok = await expectOutcome(async () => {
      issued = await real.meters.issue(
        meter.id,
        this.postages.map((postage) => ({ postage: postage as Mills, rateCategory: 'FC' })),
      );
    }, refusal);
    if (ok) {
      meter.ascending += total;
      meter.descending -= total;
      for (const entry of issued)
        meter.indicia.push({ id: entry.id, postage: entry.postage, status: 'valid' });
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `issue(${this.meter}, [${this.postages.join(', ')}])`;
}

class RefundSpoiled implements MeterCommand {
  readonly meter: number;
  readonly pick: number;
  constructor(meter: number, pick: number) {
    this.meter = meter;
    this.pick = pick;
  }
  check = (model: Readonly<Model>): boolean =>
    model.meters[this.meter % model.meters.length]?.indicia.some((entry) => entry.status === 'valid') ??
    false;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const candidates = meter.indicia.filter((entry) => entry.status === 'valid');
    const indicium = candidates[this.pick % candidates.length] as MeterModel['indicia'][number];
    const limit = shareFloor(meter.ascending as Mills, 100);
    const refusal =
      meter.status === 'withdrawn'
        ? 'meter.not_active'
        : meter.spoiled + indicium.postage > limit
          ? 'meter.refund_limit'
          : null;
    if (await expectOutcome(() => real.meters.refundSpoiled(indicium.id), refusal)) {
      meter.spoiled += indicium.postage;
      indicium.status = 'refunded';
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `refundSpoiled(${this.meter}, #${this.pick})`;
}

class Correct implements MeterCommand {
  readonly meter: number;
  readonly pick: number;
  readonly extra: number;
  constructor(meter: number, pick: number, extra: number) {
    this.meter = meter;
    this.pick = pick;
    this.extra = extra;
  }
  check = (model: Readonly<Model>): boolean =>
    model.meters[this.meter % model.meters.length]?.indicia.some((entry) => entry.status === 'valid') ??
    false;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const candidates = meter.indicia.filter((entry) => entry.status === 'valid');
    const indicium = candidates[this.pick % candidates.length] as MeterModel['indicia'][number];
    const refusal =
      meter.status !== 'active'
        ? 'meter.not_active'
        : this.extra > meter.descending
          ? 'psd.insufficient_funds'
          : null;
    let correction = { id: '', postage: 0 };
    const ok = await expectOutcome(async () => {
      correction = await real.meters.correct(indicium.id, {
        postage: (indicium.postage + this.extra) as Mills,
      });
    }, refusal);
    if (ok) {
      meter.ascending += this.extra;
      meter.descending -= this.extra;
      indicium.status = 'corrected';
      meter.indicia.push({ id: correction.id, postage: correction.postage, status: 'valid' });
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `correct(${this.meter}, #${this.pick}, +${this.extra})`;
}

class SetActive implements MeterCommand {
  readonly meter: number;
  readonly isActive: boolean;
  constructor(meter: number, isActive: boolean) {
    this.meter = meter;
    this.isActive = isActive;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const from = this.isActive ? 'suspended' : 'active';
    const refusal = meter.status !== from ? 'meter.not_active' : null;
    if (
      await expectOutcome(
        () => (this.isActive ? real.meters.resume(meter.id) : real.meters.suspend(meter.id)),
        refusal,
      )
    ) {
      meter.status = this.isActive ? 'active' : 'suspended';
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `${this.isActive ? 'resume' : 'suspend'}(${this.meter})`;
}

class Withdraw implements MeterCommand {
  readonly meter: number;
  constructor(meter: number) {
    this.meter = meter;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const meter = model.meters[this.meter % model.meters.length] as MeterModel;
    const refusal = meter.status === 'withdrawn' ? 'meter.not_active' : null;
    if (await expectOutcome(() => real.meters.withdraw(meter.id), refusal)) {
      meter.withdrawn += meter.descending;
      meter.descending = 0;
      meter.status = 'withdrawn';
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `withdraw(${this.meter})`;
}

class Purchase implements MeterCommand {
  readonly amount: number;
  constructor(amount: number) {
    this.amount = amount;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    await real.pool.purchase(this.amount, 'model');
    model.pool.master.purchased += this.amount;
    model.pool.master.descending += this.amount;
    await checkAgainstModel(model, real);
  }
  toString = (): string => `purchase(${this.amount})`;
}

class Deposit implements MeterCommand {
  readonly customer: number;
  readonly amount: number;
  constructor(customer: number, amount: number) {
    this.customer = customer;
    this.amount = amount;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    await real.pool.deposit(this.customer, this.amount, 'model');
    const customer = model.pool.customers.get(this.customer) ?? { balance: 0, printed: 0, spoiled: 0 };
    customer.balance += this.amount;
    model.pool.customers.set(this.customer, customer);
    await checkAgainstModel(model, real);
  }
  toString = (): string => `deposit(${this.customer}, ${this.amount})`;
}

/** Pooled printing: tops the mini-PSD up from the master in whole increments when it runs short. */
class PoolIssue implements MeterCommand {
  readonly customer: number;
  readonly postages: number[];
  constructor(customer: number, postages: number[]) {
    this.customer = customer;
    this.postages = postages;
  }
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const { pool } = model;
    const total = this.postages.reduce((sum, postage) => sum + postage, 0);
    const customer = pool.customers.get(this.customer);
    const short = Math.max(0, total - (pool.mini?.descending ?? 0));
    const topUp = Math.ceil(short / INCREMENT) * INCREMENT;
    const refusal =
      (customer?.balance ?? 0) < total
        ? 'meter.insufficient_balance'
        : topUp > pool.master.descending
          ? 'meter.pool_empty'
          : null;
    let issued: { id: string; meterId: string; postage: number }[] = [];
    const ok = await expectOutcome(async () => {
      issued = await real.pool.issue(
        this.customer,
        this.postages.map((postage) => ({ postage: postage as Mills, rateCategory: 'FC' })),
      );
    }, refusal);
    if (ok && customer !== undefined) {
      const meterId = issued[0]?.meterId ?? '';
      if (pool.mini?.id !== meterId) {
        assert.equal(pool.mini, null, 'the same mini-PSD serves until it is withdrawn');
        pool.mini = { id: meterId, ascending: 0, descending: 0 };
      }
      pool.master.ascending += topUp;
      pool.master.descending -= topUp;
      pool.mini.descending += topUp - total;
      pool.mini.ascending += total;
      customer.balance -= total;
      customer.printed += total;
      for (const entry of issued)
        pool.indicia.push({
          id: entry.id,
          meterId,
          customer: this.customer,
          postage: entry.postage,
          status: 'valid',
        });
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `poolIssue(${this.customer}, [${this.postages.join(', ')}])`;
}

class PoolRefund implements MeterCommand {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (model: Readonly<Model>): boolean =>
    model.pool.indicia.some((entry) => entry.status !== 'refunded');
  async run(model: Model, real: Real): Promise<void> {
    const candidates = model.pool.indicia.filter((entry) => entry.status !== 'refunded');
    const indicium = candidates[this.pick % candidates.length] as PoolModel['indicia'][number];
    const customer = model.pool.customers.get(indicium.customer);
    assert.ok(customer !== undefined);
    const limit = shareFloor(customer.printed as Mills, 100);
    const refusal =
      indicium.status === 'closed'
        ? 'meter.not_active'
        : customer.spoiled + indicium.postage > limit
          ? 'meter.refund_limit'
          : null;
    if (await expectOutcome(() => real.meters.refundSpoiled(indicium.id), refusal)) {
      customer.spoiled += indicium.postage;
      customer.balance += indicium.postage;
      indicium.status = 'refunded';
    }
    await checkAgainstModel(model, real);
  }
  toString = (): string => `poolRefund(#${this.pick})`;
}

class WithdrawMini implements MeterCommand {
  check = (model: Readonly<Model>): boolean => model.pool.mini !== null;
  async run(model: Model, real: Real): Promise<void> {
    const { pool } = model;
    const mini = pool.mini;
    if (mini === null) return;
    const withdrawn = await real.pool.withdrawMiniPsd(mini.id);
    assert.equal(withdrawn.returnedMills, mini.descending);
    pool.master.ascending -= mini.descending;
    pool.master.descending += mini.descending;
    // Its indicia can no longer be refunded as spoiled: the mini-PSD is closed.
    for (const entry of pool.indicia)
      if (entry.meterId === mini.id && entry.status === 'valid') entry.status = 'closed';
    pool.mini = null;
    await checkAgainstModel(model, real);
  }
  toString = (): string => 'withdrawMini()';
}

const meterIndex = fc.integer({ min: 0, max: 1 });
const customerNumber = fc.constantFrom(9001, 9002);
/** Mostly stamps, some small enough to fall within a customer's 1% spoilage share. */
const pooledPostage = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 6_000 }));
/** Each command with a weight: value moves often, and closing things (withdrawals) is rarer. */
const weighted = <T>(arbitrary: fc.Arbitrary<T>, weight: number) => ({ arbitrary, weight });
const commands = [
  fc.oneof(
    weighted(
      fc
        .tuple(meterIndex, fc.integer({ min: 1, max: 12_000 }))
        .map(([meter, amount]) => new Fund(meter, amount)),
      3,
    ),
    weighted(
      fc
        .tuple(meterIndex, fc.array(fc.integer({ min: 1, max: 3_000 }), { minLength: 1, maxLength: 4 }))
        .map(([meter, postages]) => new Issue(meter, postages)),
      4,
    ),
    weighted(
      fc.tuple(meterIndex, fc.nat()).map(([meter, pick]) => new RefundSpoiled(meter, pick)),
      2,
    ),
    weighted(
      fc
        .tuple(meterIndex, fc.nat(), fc.integer({ min: 1, max: 2_000 }))
        .map(([meter, pick, extra]) => new Correct(meter, pick, extra)),
      2,
    ),
    weighted(
      fc.tuple(meterIndex, fc.boolean()).map(([meter, isActive]) => new SetActive(meter, isActive)),
      1,
    ),
    weighted(
      meterIndex.map((meter) => new Withdraw(meter)),
      1,
    ),
  ),
  fc.oneof(
    weighted(
      fc.integer({ min: 1, max: 30_000 }).map((amount) => new Purchase(amount)),
      2,
    ),
    weighted(
      fc
        .tuple(customerNumber, fc.integer({ min: 1, max: 20_000 }))
        .map(([customer, amount]) => new Deposit(customer, amount)),
      2,
    ),
    weighted(
      fc
        .tuple(customerNumber, fc.array(pooledPostage, { minLength: 1, maxLength: 3 }))
        .map(([customer, postages]) => new PoolIssue(customer, postages)),
      5,
    ),
    weighted(
      fc.nat().map((pick) => new PoolRefund(pick)),
      2,
    ),
    weighted(fc.constant(new WithdrawMini()), 1),
  ),
];

for (const fixture of dialectFixtures) {
  describe(`model-based meters on ${fixture.name}`, () => {
    it('keeps every register and invariant equal to the model after every step', async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: '+1' }), async (sequence) => {
          const installation = await openMeterInstallation(fixture, 2);
          const pool = createPoolService({
            db: installation.store.db,
            custody: installation.custody,
            authority: installation.authority,
            settings: DEFAULT_METER_SETTINGS,
            modules: 1,
            holder: 'model',
            increment: INCREMENT as Mills,
          });
          try {
            // The pool starts with postage bought and two customers paid in, so most runs print.
            const { masterMeterId } = await pool.setUp('10001');
            await pool.purchase(40_000, 'model-start');
            for (const customer of [9001, 9002]) await pool.deposit(customer, 30_000, 'model-start');
            const model: Model = {
              meters: [],
              pool: {
                master: { purchased: 40_000, ascending: 0, descending: 40_000 },
                mini: null,
                customers: new Map([
                  [9001, { balance: 30_000, printed: 0, spoiled: 0 }],
                  [9002, { balance: 30_000, printed: 0, spoiled: 0 }],
                ]),
                indicia: [],
              },
            };
            for (let index = 0; index < 2; index += 1) {
              const meter = await installation.meters.create({
                customerNumber: 8000 + index,
                licensingZip: '10001',
                maxDescendingRegister: MAX_DR as Mills,
              });
              model.meters.push({
                id: meter.meterId,
                status: 'active',
                funded: 0,
                ascending: 0,
                descending: 0,
                spoiled: 0,
                withdrawn: 0,
                indicia: [],
              });
            }
            await fc.asyncModelRun(
              () => ({ model, real: { installation, meters: installation.meters, pool, masterMeterId } }),
              sequence,
            );
          } finally {
            await pool.close();
            await installation.dispose();
          }
        }),
        { numRuns: 16 },
      );
    });
  });
}
