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

export interface ReconciliationReport {
  readonly at: string;
  readonly meters: readonly MeterReconciliation[];
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
    .select(['meter_id', 'max_descending_register_mills'])
    .orderBy('meter_id')
    .execute();
  const fundings = await db.selectFrom('meter_fundings').select(['meter_id', 'amount_mills']).execute();
  const indicia = await db.selectFrom('indicia').select(['meter_id', 'postage_mills']).execute();
  const refunds = await db.selectFrom('refunds').select(['meter_id', 'kind', 'amount_mills']).execute();
  const results: MeterReconciliation[] = [];
  for (const meter of meters) {
    const funded = sum(
      fundings.filter((row) => row.meter_id === meter.meter_id).map((row) => row.amount_mills),
    );
    const printed = sum(
      indicia.filter((row) => row.meter_id === meter.meter_id).map((row) => row.postage_mills),
    );
    const ownRefunds = refunds.filter((row) => row.meter_id === meter.meter_id);
    const withdrawn = sum(
      ownRefunds.filter((row) => row.kind === 'withdrawal').map((row) => row.amount_mills),
    );
    const spoiled = sum(ownRefunds.filter((row) => row.kind === 'spoilage').map((row) => row.amount_mills));
    const psd = await custody.readMeter(meter.meter_id);
    const differences: string[] = [];
    if (psd.ascendingRegister !== printed) {
      differences.push(`AR is ${psd.ascendingRegister} mills but its indicia add up to ${printed}`);
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
  return {
    at: new Date().toISOString(),
    meters: results,
    isBalanced: results.every((result) => result.differences.length === 0),
  };
}
