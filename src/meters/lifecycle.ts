import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { revokeMeterCertificates } from '../authority/index.ts';
import type { CommittedCommand, CustodyService } from '../custody/index.ts';
import { type Mills, add, formatUsd, shareFloor, subtract } from '../money/index.ts';
import type { DatabaseSchema, IndiciaTable, MeterStatus, RefundKind } from '../store/index.ts';
import type { ClientAuthorization, CommandStep, PsdView } from '../vault/index.ts';
import {
  type IssuanceDependencies,
  type IssuedIndicium,
  activeMeter,
  issueIndicia,
  meterRecord,
} from './issuance.ts';
import { moveBalance } from './balances.ts';
import {
  clientPackageCommand,
  executeWithClientPackage,
  hasClientPackage,
  noClientPackage,
  receiptStepsFor,
} from './client-packages.ts';
import type { RecordsWithinCommit } from './committed-records.ts';
import { MeterError } from './meter-error.ts';
import { type SignedReceipt, newReceiptId, receiptStep, storeReceipt } from './receipts.ts';

export interface RefundResult {
  readonly id: string;
  readonly meterId: string;
  readonly kind: RefundKind;
  readonly amount: Mills;
  readonly view: PsdView;
  /** When asked for (a customer's request through the API). */
  readonly receipt?: SignedReceipt | null;
}

/** A customer's own request: device-signed, answered with a receipt. */
export interface CustomerRequest {
  readonly authorization?: ClientAuthorization;
  readonly receipt?: { readonly customerNumber: number };
  /** More writes in the same commit (the webhook outbox). */
  readonly withinCommit?: RecordsWithinCommit;
}

/** How one refund is bounded: by the spoilage share (the default), or not (a reviewed refund). */
export interface RefundOptions {
  /** Basis points of what was printed the refunds may total; null: no cap (staff approved it). */
  readonly limitBasisPoints?: number | null;
  /** The refund's id, when the caller records it beside the refund (a refund request). */
  readonly refundId?: string;
}

export interface LifecycleDependencies extends IssuanceDependencies {
  /** Spoilage refunds may total at most this share of the meter's AR, in basis points (100 = 1%). */
  readonly spoilageLimitBasisPoints: number;
}

async function indiciumOf(db: Kysely<DatabaseSchema>, indiciumId: string): Promise<IndiciaTable> {
  const indicium = await db.selectFrom('indicia').selectAll().where('id', '=', indiciumId).executeTakeFirst();
  if (indicium === undefined)
    throw new MeterError('meter.indicium_not_found', `There is no indicium ${indiciumId}.`);
  if (indicium.status !== 'valid') {
    throw new MeterError(
      'meter.indicium_not_valid',
      `Indicium ${indiciumId} was already ${indicium.status}.`,
    );
  }
  return indicium;
}

/** Marks an indicium refunded or corrected, only if nobody else did in the meantime. */
async function retire(
  trx: Kysely<DatabaseSchema>,
  indiciumId: string,
  status: 'refunded' | 'corrected',
): Promise<void> {
  const updated = await trx
    .updateTable('indicia')
    .set({ status })
    .where('id', '=', indiciumId)
    .where('status', '=', 'valid')
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n)
    throw new MeterError('meter.indicium_not_valid', `Indicium ${indiciumId} changed meanwhile.`);
}

/** What a spoilage refund is measured against: the meter's own AR, or a pooled customer's printing. */
async function spoilageBase(
  db: Kysely<DatabaseSchema>,
  custody: CustodyService,
  indicium: IndiciaTable,
  isPooled: boolean,
): Promise<{ printed: Mills; alreadyRefunded: Mills; whose: string }> {
  if (isPooled && indicium.customer_number !== null) {
    const customerNumber = indicium.customer_number;
    const printed = await db
      .selectFrom('indicia')
      .select('postage_mills')
      .where('customer_number', '=', customerNumber)
      .execute();
    const refunded = await db
      .selectFrom('refunds')
      .innerJoin('indicia', 'indicia.id', 'refunds.indicium_id')
      .select('refunds.amount_mills')
      .where('indicia.customer_number', '=', customerNumber)
      .where('refunds.kind', '=', 'spoilage')
      .execute();
    return {
      printed: add(...printed.map((row) => row.postage_mills as Mills)),
      alreadyRefunded: add(...refunded.map((row) => row.amount_mills as Mills)),
      whose: `customer ${customerNumber}`,
    };
  }
  const meterId = indicium.meter_id;
  const spoiled = await db
    .selectFrom('refunds')
    .select('amount_mills')
    .where('meter_id', '=', meterId)
    .where('kind', '=', 'spoilage')
    .execute();
  return {
    printed: (await custody.readMeter(meterId)).ascendingRegister,
    alreadyRefunded: add(...spoiled.map((row) => row.amount_mills as Mills)),
    whose: `meter ${meterId}`,
  };
}

/**
 * Refunds a spoiled indicium's postage. The postage was printed, so AR and DR stay; the refund
 * register grows. A dedicated meter's spoilage refunds together stay within its share of AR; a
 * pooled customer's within that share of what they printed, and the refund goes back into their
 * prefunded balance in the same commit.
 */
export async function refundSpoiled(
  dependencies: LifecycleDependencies,
  indiciumId: string,
  request: CustomerRequest = {},
  options: RefundOptions = {},
): Promise<RefundResult> {
  const { db, custody } = dependencies;
  const indicium = await indiciumOf(db, indiciumId);
  const meterId = indicium.meter_id;
  const meter = await db
    .selectFrom('meters')
    .select(['status', 'mode', 'certificate_serial'])
    .where('meter_id', '=', meterId)
    .executeTakeFirstOrThrow();
  if (meter.status === 'withdrawn')
    throw new MeterError('meter.not_active', `Meter ${meterId} is withdrawn.`);
  const customerNumber = meter.mode === 'pooled' ? indicium.customer_number : null;
  const basisPoints =
    options.limitBasisPoints === undefined ? dependencies.spoilageLimitBasisPoints : options.limitBasisPoints;
  const postage = indicium.postage_mills as Mills;
  if (basisPoints !== null) {
    const { printed, alreadyRefunded, whose } = await spoilageBase(
      db,
      custody,
      indicium,
      customerNumber !== null,
    );
    const limit = shareFloor(printed, basisPoints);
    if (add(alreadyRefunded, postage) > limit) {
      throw new MeterError(
        'meter.refund_limit',
        `Refunding ${formatUsd(postage)} would take spoilage refunds of ${whose} to ${formatUsd(add(alreadyRefunded, postage))}, above ${basisPoints / 100}% of its ${formatUsd(printed)} printed (${formatUsd(limit)}).`,
        { details: { limitMills: limit, alreadyRefundedMills: alreadyRefunded } },
      );
    }
  }
  const id = options.refundId ?? `refund_${randomUUID()}`;
  // A pooled customer's client package takes the refund too, in the same pass; its key signs the
  // receipt and the device's request is checked on it.
  const client =
    customerNumber !== null && (await hasClientPackage(db, customerNumber))
      ? clientPackageCommand(
          customerNumber,
          postage,
          receiptStepsFor(
            { receipt: request.receipt !== undefined },
            customerNumber,
            'refund',
            postage,
            1,
            id,
          ),
          request.authorization,
        )
      : null;
  if (client === null && customerNumber !== null && request.authorization !== undefined)
    throw noClientPackage(customerNumber);
  const steps: CommandStep[] = [{ operation: { type: 'spoil', amount: postage } }];
  if (request.receipt !== undefined && client === null)
    steps.push(
      receiptStep(newReceiptId(), {
        kind: 'refund',
        customerNumber: request.receipt.customerNumber,
        amount: postage,
        pieces: 1,
        reference: id,
      }),
    );
  let receipt: SignedReceipt | null = null;
  const record = async (
    trx: Transaction<DatabaseSchema>,
    outcome: CommittedCommand,
    clientReceipt: SignedReceipt | null = null,
  ): Promise<void> => {
    await retire(trx, indiciumId, 'refunded');
    await trx
      .insertInto('refunds')
      .values({
        id,
        meter_id: meterId,
        indicium_id: indiciumId,
        kind: 'spoilage',
        amount_mills: postage,
        package_sequence: outcome.transaction.packageSequence,
        created_at: new Date().toISOString(),
      })
      .execute();
    if (customerNumber !== null) await moveBalance(trx, customerNumber, postage, 'refund', id);
    await request.withinCommit?.(trx, outcome, { receipt: receipt ?? clientReceipt, refundId: id });
  };
  let result: CommittedCommand;
  if (client === null) {
    result = await custody.execute(
      meterId,
      steps,
      async (trx, outcome) => {
        const signed = outcome.signatures[0];
        if (signed !== undefined) receipt = await storeReceipt(trx, signed, meter.certificate_serial);
        await record(trx, outcome);
      },
      request.authorization,
    );
  } else {
    ({ result, receipt } = await executeWithClientPackage(custody, { meterId, steps }, client, record));
  }
  return { id, meterId, kind: 'spoilage', amount: postage, view: result.view, receipt };
}

/**
 * A withdrawal's rows, inside its commit: the refund of the DR, the meter closed for good, its
 * certificates revoked.
 */
export async function recordWithdrawal(
  trx: Kysely<DatabaseSchema>,
  withdrawal: { id: string; meterId: string; amount: Mills; packageSequence: number },
): Promise<void> {
  const now = new Date().toISOString();
  await trx
    .insertInto('refunds')
    .values({
      id: withdrawal.id,
      meter_id: withdrawal.meterId,
      indicium_id: null,
      kind: 'withdrawal',
      amount_mills: withdrawal.amount,
      package_sequence: withdrawal.packageSequence,
      created_at: now,
    })
    .execute();
  await trx
    .updateTable('meters')
    .set({ status: 'withdrawn', updated_at: now })
    .where('meter_id', '=', withdrawal.meterId)
    .execute();
  // A withdrawn meter's certificates are revoked; what it printed before stays good.
  await revokeMeterCertificates(trx, withdrawal.meterId, 'cessation-of-operation', 'meter withdrawn');
}

/** Full refund: the meter's DR goes back to the customer and the meter closes for good. */
export async function withdrawMeter(
  { db, custody }: IssuanceDependencies,
  meterId: string,
): Promise<RefundResult> {
  const meter = await meterRecord(db, meterId);
  if (meter.status === 'withdrawn')
    throw new MeterError('meter.not_active', `Meter ${meterId} is already withdrawn.`);
  if (meter.mode !== 'dedicated') {
    throw new MeterError(
      'meter.request_invalid',
      `Meter ${meterId} belongs to the pool; its DR goes back to the master PSD (indicia pool withdraw).`,
    );
  }
  const id = `refund_${randomUUID()}`;
  const result = await custody.execute(meterId, [{ operation: { type: 'withdraw' } }], (trx, outcome) =>
    recordWithdrawal(trx, {
      id,
      meterId,
      amount: outcome.transaction.amountMills,
      packageSequence: outcome.transaction.packageSequence,
    }),
  );
  return { id, meterId, kind: 'withdrawal', amount: result.transaction.amountMills, view: result.view };
}

/** Suspends or resumes a meter, in its PSD and in its record together. */
export async function setMeterActive(
  { db, custody }: IssuanceDependencies,
  meterId: string,
  isActive: boolean,
): Promise<PsdView> {
  const meter = await meterRecord(db, meterId);
  const from: MeterStatus = isActive ? 'suspended' : 'active';
  if (meter.status !== from)
    throw new MeterError('meter.not_active', `Meter ${meterId} is ${meter.status}, not ${from}.`);
  const result = await custody.execute(
    meterId,
    [{ operation: { type: isActive ? 'resume' : 'suspend' } }],
    async (trx) => {
      await trx
        .updateTable('meters')
        .set({ status: isActive ? 'active' : 'suspended', updated_at: new Date().toISOString() })
        .where('meter_id', '=', meterId)
        .execute();
    },
  );
  return result.view;
}

/**
 * A correction indicium: for underpaid postage it pays the difference; for a wrong date it carries
 * the right date at zero value (moving no register). The original is marked corrected.
 */
export async function correctIndicium(
  dependencies: IssuanceDependencies & { custody: CustodyService },
  indiciumId: string,
  correction: { postage?: Mills; mailingDate?: string },
  request: CustomerRequest = {},
): Promise<IssuedIndicium & { readonly receipt: SignedReceipt | null }> {
  const original = await indiciumOf(dependencies.db, indiciumId);
  const pendingRefund = await dependencies.db
    .selectFrom('refund_requests')
    .select('id')
    .where('indicium_id', '=', indiciumId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  // A correction retires the piece, which would leave a pending refund nothing to credit.
  if (pendingRefund !== undefined)
    throw new MeterError(
      'meter.refund_already_requested',
      `A refund of indicium ${indiciumId} is pending (${pendingRefund.id}); it is corrected only after staff deny the refund.`,
      { details: { refundRequestId: pendingRefund.id, status: 'pending' } },
    );
  const meter = await activeMeter(dependencies.db, original.meter_id);
  // A pooled customer pays a correction from their balance, like any pooled postage.
  const customerNumber = meter.mode === 'pooled' ? original.customer_number : null;
  const originalPostage = original.postage_mills as Mills;
  const mailingDate = correction.mailingDate ?? original.mailing_date;
  let difference = 0 as Mills;
  if (correction.postage !== undefined) {
    if (correction.postage <= originalPostage) {
      throw new MeterError(
        'meter.request_invalid',
        `A correction pays more postage than the original ${formatUsd(originalPostage)}; for overpaid postage, refund the indicium as spoiled.`,
      );
    }
    difference = subtract(correction.postage, originalPostage);
  } else if (mailingDate === original.mailing_date) {
    throw new MeterError(
      'meter.request_invalid',
      'Say what to correct: a higher postage, or another mailing date.',
    );
  }
  // A pooled customer's client package pays the difference (or just checks the device's request).
  const correctionClient =
    customerNumber !== null && (await hasClientPackage(dependencies.db, customerNumber))
      ? clientPackageCommand(
          customerNumber,
          0 - difference,
          receiptStepsFor(
            { receipt: request.receipt !== undefined },
            customerNumber,
            'correction',
            difference,
            1,
            indiciumId,
          ),
          request.authorization,
        )
      : null;
  if (correctionClient === null && customerNumber !== null && request.authorization !== undefined)
    throw noClientPackage(customerNumber);
  const issued = await issueIndicia(
    dependencies,
    original.meter_id,
    [
      {
        postage: difference,
        rateCategory: original.rate_category,
        mailingDate,
        originZip: original.origin_zip,
        labelSerial: original.label_serial,
      },
    ],
    {
      correctsIndiciumId: indiciumId,
      ...(correction.mailingDate === undefined
        ? {
            mailingDateRemedy: `A correction keeps the original indicium's date (${original.mailing_date}) unless it is given another: give the date the piece will be mailed.`,
          }
        : {}),
      allowsZeroPostage: difference === 0,
      ...(difference === 0 ? { operationFor: () => ({ type: 'update' as const }) } : {}),
      mode: meter.mode,
      ...(customerNumber === null ? {} : { customerNumber }),
      ...request,
      ...(correctionClient === null ? {} : { companion: correctionClient, receipt: undefined }),
      withinCommit: async (trx, result, records) => {
        await retire(trx, indiciumId, 'corrected');
        if (customerNumber !== null && difference > 0)
          await moveBalance(trx, customerNumber, 0 - difference, 'postage', indiciumId);
        await request.withinCommit?.(trx, result, records);
      },
    },
  );
  const [corrected] = issued;
  if (corrected === undefined)
    throw new MeterError('meter.request_invalid', 'The correction produced no indicium.');
  return { ...corrected, receipt: issued.receipt };
}
