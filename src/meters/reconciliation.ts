import type { Kysely } from 'kysely';
import type { CustodyService, ModuleLogReport } from '../custody/index.ts';
import type { PsdView } from '../vault/index.ts';
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

/** The crypto modules' own account (their protected log), against the packages. */
export interface ModuleLogReconciliation {
  /** Records of the protected module log checked (MAC, counter, link). */
  readonly records: number;
  /** Σ over modules of the printed value their newest records carry. */
  readonly modulesPrintedMills: Mills;
  /** Σ of every package's AR except master PSDs' (theirs moves by transfers, not printing). */
  readonly packagesPrintedMills: Mills;
  readonly modulesRefundedMills: Mills;
  readonly packagesRefundRegisterMills: Mills;
  /** The log's own problems and every disagreement with the packages' totals, in words. */
  readonly differences: readonly string[];
}

export interface ReconciliationReport {
  readonly at: string;
  readonly moduleLog: ModuleLogReconciliation;
  readonly meters: readonly MeterReconciliation[];
  readonly pools: readonly PoolReconciliation[];
  /** Pooled-mode customer balances checked against their ledgers. */
  readonly customerBalances: number;
  /** Customers whose prefunded balance is not the sum of its ledger entries, or is negative. */
  readonly balanceDifferences: readonly string[];
  readonly isBalanced: boolean;
}

const sum = (values: readonly number[]): Mills => add(...(values as Mills[]));

/** Opens every package; one that cannot be opened is reported for its meter, not for all. */
async function openPackages(
  db: Kysely<DatabaseSchema>,
  custody: CustodyService,
): Promise<Map<string, PsdView | { readonly failure: string }>> {
  const rows = await db.selectFrom('psd_packages').select('meter_id').orderBy('meter_id').execute();
  const opened = new Map<string, PsdView | { readonly failure: string }>();
  for (const { meter_id: meterId } of rows) {
    try {
      opened.set(meterId, await custody.readMeter(meterId));
    } catch (error) {
      opened.set(meterId, { failure: error instanceof Error ? error.message : 'it cannot be read' });
    }
  }
  return opened;
}

const isView = (value: PsdView | { readonly failure: string } | undefined): value is PsdView =>
  value !== undefined && !('failure' in value);

/** The module log's check, and the modules' running totals against the packages' registers. */
function moduleLogLine(
  log: ModuleLogReport | { readonly failure: string },
  opened: ReadonlyMap<string, PsdView | { readonly failure: string }>,
  masters: ReadonlySet<string>,
  meterIds: ReadonlySet<string>,
): ModuleLogReconciliation {
  const views = [...opened.entries()].flatMap(([meterId, view]) => (isView(view) ? [{ meterId, view }] : []));
  const packagesPrinted = sum(
    views.filter(({ meterId }) => !masters.has(meterId)).map(({ view }) => view.ascendingRegister),
  );
  const packagesRefunded = sum(views.map(({ view }) => view.refundRegister));
  if ('failure' in log) {
    return {
      records: 0,
      modulesPrintedMills: 0 as Mills,
      packagesPrintedMills: packagesPrinted,
      modulesRefundedMills: 0 as Mills,
      packagesRefundRegisterMills: packagesRefunded,
      differences: [`the protected module log could not be checked: ${log.failure}`],
    };
  }
  const differences = [...log.chainProblems];
  // Packages that are not meters (a pooled customer's client package, the CA's) are named here.
  for (const mismatch of log.mismatches)
    if (!meterIds.has(mismatch.meterId)) differences.push(`package ${mismatch.meterId}: ${mismatch.reason}`);
  // Totals are comparable only when every package opened and the log itself is intact.
  if (views.length === opened.size && differences.length === 0) {
    if (log.totals.printedMills !== packagesPrinted)
      differences.push(
        `the modules printed ${log.totals.printedMills} mills in all, but the packages' ascending registers add up to ${packagesPrinted}`,
      );
    if (log.totals.refundedMills !== packagesRefunded)
      differences.push(
        `the modules refunded ${log.totals.refundedMills} mills in all, but the packages' refund registers add up to ${packagesRefunded}`,
      );
  }
  return {
    records: log.records,
    modulesPrintedMills: log.totals.printedMills,
    packagesPrintedMills: packagesPrinted,
    modulesRefundedMills: log.totals.refundedMills,
    packagesRefundRegisterMills: packagesRefunded,
    differences,
  };
}

/**
 * Proves, for every meter, from the stored data alone: the sealed package's registers (opened by
 * a crypto module) against the funding records, the indicium log and the refunds —
 * AR = Σ postage of its indicia, AR + DR + withdrawn = Σ fundings, refund register = Σ refunds
 * (spoiled and withdrawn), 0 ≤ DR ≤ max DR — and against the protected module log, which the
 * database cannot rewrite: each package must be the newest version a module logged, and the
 * modules' running totals must equal the packages' registers summed.
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
  // What a restore settled from the modules' memory: committed after the last shipped log record,
  // so the rows (the indicia, the fundings) are gone, but the registers hold it (docs/operations.md).
  const settled = await db
    .selectFrom('recovery_gaps')
    .select(['meter_id', 'type', 'amount_mills'])
    .where('status', '=', 'settled')
    .where('meter_id', 'is not', null)
    .execute();
  const settledOf = (meterId: string, ...types: string[]): Mills =>
    sum(
      settled
        .filter((row) => row.meter_id === meterId && types.includes(row.type ?? ''))
        .map((row) => row.amount_mills ?? 0),
    );
  let log: ModuleLogReport | { readonly failure: string };
  try {
    log = await custody.verifyModuleLog();
  } catch (error) {
    log = { failure: error instanceof Error ? error.message : 'it cannot be read' };
  }
  const opened = await openPackages(db, custody);
  const mismatchOf = new Map(
    ('failure' in log ? [] : log.mismatches).map((mismatch) => [mismatch.meterId, mismatch]),
  );
  const results: MeterReconciliation[] = [];
  for (const meter of meters) {
    const funded = add(
      sum(fundings.filter((row) => row.meter_id === meter.meter_id).map((row) => row.amount_mills)),
      settledOf(meter.meter_id, 'fund'),
    );
    // A master PSD prints nothing: its AR is what it transferred to mini-PSDs.
    const printed = add(
      meter.mode === 'master'
        ? sum(
            transfers.filter((row) => row.master_meter_id === meter.meter_id).map((row) => row.amount_mills),
          )
        : sum(indicia.filter((row) => row.meter_id === meter.meter_id).map((row) => row.postage_mills)),
      settledOf(meter.meter_id, meter.mode === 'master' ? 'transfer' : 'debit'),
    );
    const ownRefunds = refunds.filter((row) => row.meter_id === meter.meter_id);
    const withdrawn = add(
      sum(ownRefunds.filter((row) => row.kind === 'withdrawal').map((row) => row.amount_mills)),
      settledOf(meter.meter_id, 'withdraw', 'refund'),
    );
    const spoiled = add(
      sum(ownRefunds.filter((row) => row.kind === 'spoilage').map((row) => row.amount_mills)),
      settledOf(meter.meter_id, 'spoil'),
    );
    const differences: string[] = [];
    const mismatch = mismatchOf.get(meter.meter_id);
    if (mismatch !== undefined) differences.push(mismatch.reason);
    const opening = opened.get(meter.meter_id);
    if (!isView(opening)) {
      differences.push(`its package cannot be opened: ${opening?.failure ?? 'it is missing'}`);
      results.push({
        meterId: meter.meter_id,
        fundedMills: funded,
        printedMills: printed,
        ascendingRegisterMills: 0 as Mills,
        descendingRegisterMills: 0 as Mills,
        refundRegisterMills: 0 as Mills,
        withdrawnMills: withdrawn,
        spoiledMills: spoiled,
        differences,
      });
      continue;
    }
    const psd = opening;
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
    const view = opened.get(packageId);
    if (!isView(view)) {
      balanceDifferences.push(
        `customer ${customer}: the client package ${packageId} cannot be opened: ${view?.failure ?? 'it is missing'}`,
      );
      continue;
    }
    const mirrored = view.descendingRegister;
    if (mirrored !== balance)
      balanceDifferences.push(
        `customer ${customer}: balance ${balance} mills, but the client package ${packageId} holds ${mirrored}`,
      );
  }
  const masters = new Set(meters.filter((meter) => meter.mode === 'master').map((meter) => meter.meter_id));
  const moduleLog = moduleLogLine(log, opened, masters, new Set(meters.map((meter) => meter.meter_id)));
  return {
    at: new Date().toISOString(),
    moduleLog,
    meters: results,
    pools,
    customerBalances: balances.length,
    balanceDifferences,
    isBalanced:
      moduleLog.differences.length === 0 &&
      results.every((result) => result.differences.length === 0) &&
      pools.every((pool) => pool.differences.length === 0) &&
      balanceDifferences.length === 0,
  };
}
