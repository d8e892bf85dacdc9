import type { Kysely } from 'kysely';
import type { CustodyService } from '../custody/index.ts';
import { type Mills, add } from '../money/index.ts';
import type { DatabaseSchema } from '../store/index.ts';

export interface MeterReconciliation {
  readonly meterId: string;
  readonly fundedMills: Mills;
  readonly printedMills: Mills;
  readonly ascendingRegisterMills: Mills;
  readonly descendingRegisterMills: Mills;
  readonly refundRegisterMills: Mills;
  readonly withdrawnMills: Mills;
  readonly spoiledMills: Mills;
  /** Each equation that does not hold, in words; empty when the meter reconciles. */
  readonly differences: readonly string[];
}

/** Seed 003's equations for one master PSD and the mini-PSDs it funds. */
export interface PoolReconciliation {
  readonly masterMeterId: string;
  /** GPSD.AR + GPSD.DR, against Σ purchases from the authority (its fundings). */
  readonly purchasedMills: Mills;
  readonly masterAscendingRegisterMills: Mills;
  /** Σ (MPSD.AR + MPSD.DR) over the pool: a withdrawn mini-PSD's DR went back to the master. */
  readonly miniPsdTotalMills: Mills;
  readonly differences: readonly string[];
}

export interface ReconciliationReport {
  readonly at: string;
  readonly meters: readonly MeterReconciliation[];
  readonly pools: readonly PoolReconciliation[];
  /** Pooled-mode customer balances checked against their ledgers. */
  readonly customerBalances: number;
  /** Customers whose prefunded balance is not the sum of its ledger entries, or is negative. */
  readonly balanceDifferences: readonly string[];
  readonly isBalanced: boolean;
}

const sum = (values: readonly number[]): Mills => add(...(values as Mills[]));

/**
 * Proves, for every meter, from the stored data alone: the sealed package's registers (opened by
 * a crypto module) against the funding records, the indicium log and the refunds —
 * AR = Σ postage of its indicia, AR + DR + withdrawn = Σ fundings, refund register = Σ refunds
 * (spoiled and withdrawn), 0 ≤ DR ≤ max DR.
 *
 * @example const report = await reconcileMeters({ db, custody }); if (!report.isBalanced) alert(report);
 */
export async function reconcileMeters({
  db,
  custody,
}: {
  db: Kysely<DatabaseSchema>;
  custody: CustodyService;
}): Promise<ReconciliationReport> {
  const meters = await db
    .selectFrom('meters')
    .select(['meter_id', 'mode', 'max_descending_register_mills'])
    .orderBy('meter_id')
    .execute();
  const fundings = await db.selectFrom('meter_fundings').select(['meter_id', 'amount_mills']).execute();
  const indicia = await db.selectFrom('indicia').select(['meter_id', 'postage_mills']).execute();
  const refunds = await db.selectFrom('refunds').select(['meter_id', 'kind', 'amount_mills']).execute();
  const transfers = await db
    .selectFrom('pool_transfers')
    .select(['master_meter_id', 'meter_id', 'amount_mills'])
    .execute();
  const results: MeterReconciliation[] = [];
  for (const meter of meters) {
    const funded = sum(
      fundings.filter((row) => row.meter_id === meter.meter_id).map((row) => row.amount_mills),
    );
    // A master PSD prints nothing: its AR is what it transferred to mini-PSDs.
    const printed =
      meter.mode === 'master'
        ? sum(
            transfers.filter((row) => row.master_meter_id === meter.meter_id).map((row) => row.amount_mills),
          )
        : sum(indicia.filter((row) => row.meter_id === meter.meter_id).map((row) => row.postage_mills));
    const ownRefunds = refunds.filter((row) => row.meter_id === meter.meter_id);
    const withdrawn = sum(
      ownRefunds.filter((row) => row.kind === 'withdrawal').map((row) => row.amount_mills),
    );
    const spoiled = sum(ownRefunds.filter((row) => row.kind === 'spoilage').map((row) => row.amount_mills));
    const psd = await custody.readMeter(meter.meter_id);
    const differences: string[] = [];
    if (psd.ascendingRegister !== printed) {
      differences.push(
        `AR is ${psd.ascendingRegister} mills but its ${meter.mode === 'master' ? 'transfers' : 'indicia'} add up to ${printed}`,
      );
    }
    const accounted = add(psd.ascendingRegister, psd.descendingRegister, withdrawn);
    if (accounted !== funded) {
      differences.push(`AR + DR + withdrawn is ${accounted} mills but its fundings add up to ${funded}`);
    }
    if (psd.refundRegister !== add(withdrawn, spoiled)) {
      differences.push(
        `the refund register is ${psd.refundRegister} mills but its refunds add up to ${add(withdrawn, spoiled)}`,
      );
    }
    if (psd.descendingRegister < 0 || psd.descendingRegister > meter.max_descending_register_mills) {
      differences.push(`DR ${psd.descendingRegister} is outside 0..${meter.max_descending_register_mills}`);
    }
    results.push({
      meterId: meter.meter_id,
      fundedMills: funded,
      printedMills: printed,
      ascendingRegisterMills: psd.ascendingRegister,
      descendingRegisterMills: psd.descendingRegister,
      refundRegisterMills: psd.refundRegister,
      withdrawnMills: withdrawn,
      spoiledMills: spoiled,
      differences,
    });
  }
  const pools: PoolReconciliation[] = [];
  for (const master of meters.filter((meter) => meter.mode === 'master')) {
    const own = results.find((result) => result.meterId === master.meter_id);
    if (own === undefined) continue;
    const funded = new Set(
      transfers.filter((row) => row.master_meter_id === master.meter_id).map((row) => row.meter_id),
    );
    const miniPsdTotal = sum(
      results
        .filter((result) => funded.has(result.meterId))
        .map((result) => add(result.ascendingRegisterMills, result.descendingRegisterMills)),
    );
    const differences: string[] = [];
    const purchased = add(own.ascendingRegisterMills, own.descendingRegisterMills);
    if (purchased !== own.fundedMills) {
      differences.push(`GPSD.AR + GPSD.DR is ${purchased} mills but purchases add up to ${own.fundedMills}`);
    }
    if (own.ascendingRegisterMills !== miniPsdTotal) {
      differences.push(
        `GPSD.AR is ${own.ascendingRegisterMills} mills but Σ(MPSD.AR + MPSD.DR) is ${miniPsdTotal}`,
      );
    }
    pools.push({
      masterMeterId: master.meter_id,
      purchasedMills: own.fundedMills,
      masterAscendingRegisterMills: own.ascendingRegisterMills,
      miniPsdTotalMills: miniPsdTotal,
      differences,
    });
  }
  const balances = await db.selectFrom('customer_balances').selectAll().execute();
  const entries = await db
    .selectFrom('balance_entries')
    .select(['customer_number', 'amount_mills'])
    .execute();
  const balanceDifferences: string[] = [];
  for (const balance of balances) {
    const ledger = entries
      .filter((entry) => entry.customer_number === balance.customer_number)
      .reduce((total, entry) => total + entry.amount_mills, 0);
    if (ledger !== balance.balance_mills || balance.balance_mills < 0) {
      balanceDifferences.push(
        `customer ${balance.customer_number}: balance ${balance.balance_mills} mills, ledger ${ledger}`,
      );
    }
  }
  // A pooled customer's client package mirrors the balance in its DR (client-packages.ts).
  const clientPackages = await db
    .selectFrom('psd_packages')
    .select('meter_id')
    .where('meter_id', 'like', 'CLIENT-%')
    .execute();
  for (const { meter_id: packageId } of clientPackages) {
    const customer = Number(packageId.slice('CLIENT-'.length));
    const balance = balances.find((entry) => entry.customer_number === customer)?.balance_mills ?? 0;
    const mirrored = (await custody.readMeter(packageId)).descendingRegister;
    if (mirrored !== balance)
      balanceDifferences.push(
        `customer ${customer}: balance ${balance} mills, but the client package ${packageId} holds ${mirrored}`,
      );
  }
  return {
    at: new Date().toISOString(),
    meters: results,
    pools,
    customerBalances: balances.length,
    balanceDifferences,
    isBalanced:
      results.every((result) => result.differences.length === 0) &&
      pools.every((pool) => pool.differences.length === 0) &&
      balanceDifferences.length === 0,
  };
}
