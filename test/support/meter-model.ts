// The model of meters and a pool that test/meters/model.test.ts drives with fc.commands, and its
// check of every register, balance and reconciliation against the real services after each step.
import assert from 'node:assert/strict';
import type fc from 'fast-check';
import { IndiciaError } from '../../src/errors/index.ts';
import { type MetersService, type PoolService, reconcileMeters } from '../../src/meters/index.ts';
import type { MeterInstallation } from './meter-installation.ts';

export const MAX_DR = 20_000;
/** The pool's master → mini-PSD increment in this test ($10), so top-ups happen often. */
export const INCREMENT = 10_000;

/** What a meter should hold, computed with plain integers. */
export interface MeterModel {
  readonly id: string;
  status: 'active' | 'suspended' | 'withdrawn';
  funded: number;
  ascending: number;
  descending: number;
  spoiled: number;
  withdrawn: number;
  indicia: { id: string; postage: number; status: 'valid' | 'refunded' | 'corrected' }[];
}

/** Pooled mode: the master PSD, the one mini-PSD a sequential server keeps using, customers. */
export interface PoolModel {
  master: { purchased: number; ascending: number; descending: number };
  mini: { id: string; ascending: number; descending: number } | null;
  readonly customers: Map<number, { balance: number; printed: number; spoiled: number }>;
  readonly indicia: {
    id: string;
    meterId: string;
    customer: number;
    postage: number;
    /** 'closed': its mini-PSD was withdrawn, so it can no longer be refunded. */
    status: 'valid' | 'refunded' | 'closed';
  }[];
}

export interface Model {
  readonly meters: MeterModel[];
  readonly pool: PoolModel;
}

export interface Real {
  readonly installation: MeterInstallation;
  readonly meters: MetersService;
  readonly pool: PoolService;
  readonly masterMeterId: string;
}

/** Runs `act`; if the model says it must be refused, checks the error code instead. */
export async function expectOutcome(act: () => Promise<unknown>, refusal: string | null): Promise<boolean> {
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

export async function checkAgainstModel(model: Model, real: Real): Promise<void> {
  for (const meter of model.meters) {
    const { psd } = await real.meters.show(meter.id);
    assert.deepEqual(
      [psd.ascendingRegister, psd.descendingRegister, psd.refundRegister],
      [meter.ascending, meter.descending, meter.spoiled + meter.withdrawn],
      `registers of ${meter.id}`,
    );
    assert.equal(meter.ascending + meter.descending + meter.withdrawn, meter.funded);
  }
  const { pool } = model;
  const master = await real.installation.custody.readMeter(real.masterMeterId);
  assert.deepEqual(
    [master.ascendingRegister, master.descendingRegister],
    [pool.master.ascending, pool.master.descending],
    'master PSD registers',
  );
  assert.equal(pool.master.ascending + pool.master.descending, pool.master.purchased);
  if (pool.mini !== null) {
    const mini = await real.installation.custody.readMeter(pool.mini.id);
    assert.deepEqual(
      [mini.ascendingRegister, mini.descendingRegister],
      [pool.mini.ascending, pool.mini.descending],
      'mini-PSD registers',
    );
  }
  for (const [customer, expected] of pool.customers)
    assert.equal(await real.pool.balance(customer), expected.balance, `balance of customer ${customer}`);
  const report = await reconcileMeters({
    db: real.installation.store.db,
    custody: real.installation.custody,
  });
  assert.equal(
    report.isBalanced,
    true,
    JSON.stringify([
      report.meters.filter((entry) => entry.differences.length > 0),
      report.pools,
      report.balanceDifferences,
    ]),
  );
}

export type MeterCommand = fc.AsyncCommand<Model, Real>;
