import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IndiciaError } from '../../src/errors/index.ts';
import { type MetersService, reconcileMeters } from '../../src/meters/index.ts';
import { type Mills, shareFloor } from '../../src/money/index.ts';
import { dialectFixtures } from '../support/dialects.ts';
import { type MeterInstallation, openMeterInstallation } from '../support/meter-installation.ts';

const MAX_DR = 20_000;

/** What a meter should hold, computed with plain integers. */
interface MeterModel {
  readonly id: string;
  status: 'active' | 'suspended' | 'withdrawn';
  funded: number;
  ascending: number;
  descending: number;
  spoiled: number;
  withdrawn: number;
  indicia: { id: string; postage: number; status: 'valid' | 'refunded' | 'corrected' }[];
}

interface Model {
  readonly meters: MeterModel[];
}

interface Real {
  readonly installation: MeterInstallation;
  readonly meters: MetersService;
}

/** Runs `act`; if the model says it must be refused, checks the error code instead. */
async function expectOutcome(act: () => Promise<unknown>, refusal: string | null): Promise<boolean> {
  try {
    await act();
  } catch (error) {
    assert.ok(error instanceof IndiciaError, `unexpected ${String(error)}`);
    assert.equal(error.code, refusal, `refused with ${error.code}: ${error.message}`);
    return false;
  }
  assert.equal(refusal, null, `expected a refusal (${refusal ?? ''}) but it succeeded`);
  return true;
}

async function checkAgainstModel(model: Model, real: Real): Promise<void> {
  for (const meter of model.meters) {
    const { psd } = await real.meters.show(meter.id);
    assert.deepEqual(
      [psd.ascendingRegister, psd.descendingRegister, psd.refundRegister],
      [meter.ascending, meter.descending, meter.spoiled + meter.withdrawn],
      `registers of ${meter.id}`,
    );
    assert.equal(meter.ascending + meter.descending + meter.withdrawn, meter.funded);
  }
  const report = await reconcileMeters({
    db: real.installation.store.db,
    custody: real.installation.custody,
  });
  assert.equal(
    report.isBalanced,
    true,
    JSON.stringify(report.meters.filter((entry) => entry.differences.length > 0)),
  );
}

type MeterCommand = fc.AsyncCommand<Model, Real>;

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

const meterIndex = fc.integer({ min: 0, max: 1 });
const commands = [
  fc.tuple(meterIndex, fc.integer({ min: 1, max: 12_000 })).map(([meter, amount]) => new Fund(meter, amount)),
  fc
    .tuple(meterIndex, fc.array(fc.integer({ min: 1, max: 3_000 }), { minLength: 1, maxLength: 4 }))
    .map(([meter, postages]) => new Issue(meter, postages)),
  fc.tuple(meterIndex, fc.nat()).map(([meter, pick]) => new RefundSpoiled(meter, pick)),
  fc
    .tuple(meterIndex, fc.nat(), fc.integer({ min: 1, max: 2_000 }))
    .map(([meter, pick, extra]) => new Correct(meter, pick, extra)),
  fc.tuple(meterIndex, fc.boolean()).map(([meter, isActive]) => new SetActive(meter, isActive)),
  meterIndex.map((meter) => new Withdraw(meter)),
];

for (const fixture of dialectFixtures) {
  describe(`model-based meters on ${fixture.name}`, () => {
    it('keeps every register and invariant equal to the model after every step', async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 18 }), async (sequence) => {
          const installation = await openMeterInstallation(fixture, 2);
          try {
            const model: Model = { meters: [] };
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
              () => ({ model, real: { installation, meters: installation.meters } }),
              sequence,
            );
          } finally {
            await installation.dispose();
          }
        }),
        { numRuns: 12 },
      );
    });
  });
}
