import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { PricingPlans, RefundPolicy } from '../config/index.ts';
import { canonicalJson } from '../encoding/index.ts';
import { type Mills, formatUsd } from '../money/index.ts';
import type { DatabaseSchema, RefundRequestStatus, RefundRequestsTable } from '../store/index.ts';
import {
  type CustomerRequest,
  type LifecycleDependencies,
  type RefundResult,
  refundSpoiled,
} from './lifecycle.ts';
import type { CommittedRecords, RecordsWithinCommit } from './committed-records.ts';
import { MeterError } from './meter-error.ts';

/** The plan a customer is on and the refund policy it gives them. */
export interface RefundPolicyInForce {
  readonly plan: string;
  readonly policy: RefundPolicy;
  /** True when the customer is on the installation's default plan. */
  readonly isDefaultPlan: boolean;
}

export interface RefundRequestView {
  readonly id: string;
  readonly indiciumId: string;
  readonly meterId: string;
  readonly customerNumber: number;
  /** The customer's account that asked (its webhooks hear the decision). */
  readonly accountId: string | null;
  readonly amount: Mills;
  readonly status: RefundRequestStatus;
  readonly plan: string;
  readonly policy: RefundPolicy;
  readonly requestedAt: string;
  readonly decidedAt: string | null;
  readonly decidedBy: string | null;
  readonly decisionNote: string | null;
  readonly refundId: string | null;
}

export interface RefundRequestDependencies extends LifecycleDependencies {
  readonly pricingPlans: PricingPlans;
  readonly defaultPricingPlan: string;
}

/** Who asks for a refund: the customer, and the account that signed in. */
export interface RefundRequester {
  readonly customerNumber: number;
  readonly accountId: string | null;
}

/** What a request gives back: the request, and the refund when it was credited at once. */
export interface RefundRequestOutcome {
  readonly request: RefundRequestView;
  readonly refund: RefundResult | null;
}

/** Writes beside a decision, in its commit (the webhook outbox): the request as decided. */
/** Writes in the decision's commit (the webhook outbox); records are the refund's, null when denied. */
export type WithinDecision = (
  trx: Transaction<DatabaseSchema>,
  decided: RefundRequestView,
  records: CommittedRecords | null,
) => Promise<void>;

const DAY_MS = 86_400_000;

export function refundRequestView(row: RefundRequestsTable): RefundRequestView {
  return {
    id: row.id,
    indiciumId: row.indicium_id,
    meterId: row.meter_id,
    customerNumber: row.customer_number,
    accountId: row.account_id,
    amount: row.amount_mills as Mills,
    status: row.status,
    plan: row.plan,
    policy: JSON.parse(row.policy) as RefundPolicy,
    requestedAt: row.requested_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    decisionNote: row.decision_note,
    refundId: row.refund_id,
  };
}

/** The plan (the account's, else the default) and its refund policy for one customer. */
export async function refundPolicyFor(
  dependencies: Pick<RefundRequestDependencies, 'db' | 'pricingPlans' | 'defaultPricingPlan'>,
  customerNumber: number,
): Promise<RefundPolicyInForce> {
  const { db, pricingPlans, defaultPricingPlan } = dependencies;
  const account = await db
    .selectFrom('accounts')
    .select('pricing_plan')
    .where('customer_number', '=', customerNumber)
    .executeTakeFirst();
  const named = account?.pricing_plan ?? null;
  // A plan the configuration no longer has falls back to the default (docs/operations.md).
  const plan = named !== null && pricingPlans[named] !== undefined ? named : defaultPricingPlan;
  const found = pricingPlans[plan];
  if (found === undefined)
    throw new MeterError('meter.pricing_plan_unknown', `The default pricing plan ${plan} is not configured.`);
  return { plan, policy: found.refundPolicy, isDefaultPlan: plan === defaultPricingPlan };
}

/** Puts a customer on a plan (null: back to the default). */
export async function setPricingPlan(
  dependencies: Pick<RefundRequestDependencies, 'db' | 'pricingPlans' | 'defaultPricingPlan'>,
  customerNumber: number,
  plan: string | null,
): Promise<RefundPolicyInForce> {
  const { db, pricingPlans } = dependencies;
  if (plan !== null && pricingPlans[plan] === undefined)
    throw new MeterError(
      'meter.pricing_plan_unknown',
      `There is no pricing plan "${plan}"; the configured plans are ${Object.keys(pricingPlans).join(', ')} (pricingPlans, INDICIA_PRICING_PLANS).`,
    );
  const updated = await db
    .updateTable('accounts')
    .set({ pricing_plan: plan })
    .where('customer_number', '=', customerNumber)
    .where('role', '=', 'customer')
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n)
    throw new MeterError('meter.not_found', `There is no customer ${customerNumber}.`);
  return refundPolicyFor(dependencies, customerNumber);
}

/** The checks every request passes, whatever the policy: the piece can still be refunded at all. */
async function refundablePiece(db: Kysely<DatabaseSchema>, indiciumId: string) {
  const indicium = await db.selectFrom('indicia').selectAll().where('id', '=', indiciumId).executeTakeFirst();
  if (indicium === undefined)
    throw new MeterError('meter.indicium_not_found', `There is no indicium ${indiciumId}.`);
  const earlier = await db
    .selectFrom('refund_requests')
    .select(['id', 'status'])
    .where('indicium_id', '=', indiciumId)
    .executeTakeFirst();
  if (earlier !== undefined)
    throw new MeterError(
      'meter.refund_already_requested',
      `A refund of indicium ${indiciumId} was already asked for (${earlier.id}, ${earlier.status}); a piece is refunded at most once.`,
      { details: { refundRequestId: earlier.id, status: earlier.status } },
    );
  if (indicium.status !== 'valid')
    throw new MeterError(
      'meter.indicium_not_valid',
      `Indicium ${indiciumId} was already ${indicium.status}; only a valid piece can be refunded.`,
    );
  await assertUnused(db, indiciumId);
  const meter = await db
    .selectFrom('meters')
    .select(['status', 'mode'])
    .where('meter_id', '=', indicium.meter_id)
    .executeTakeFirstOrThrow();
  if (meter.status === 'withdrawn')
    throw new MeterError(
      'meter.not_active',
      meter.mode === 'pooled'
        ? `The mini-PSD ${indicium.meter_id} that printed indicium ${indiciumId} was withdrawn from the pool, so its refund register is closed; ask support to credit the balance another way.`
        : `Meter ${indicium.meter_id} is withdrawn: its withdrawal already refunded what it held, and pieces it printed are no longer refunded.`,
    );
  return indicium;
}

/** A piece a verifier scanned was mailed: it is used, and no refund policy refunds it. */
async function assertUnused(db: Kysely<DatabaseSchema>, indiciumId: string): Promise<void> {
  const scan = await db
    .selectFrom('scans')
    .select(['scanned_at', 'verifier'])
    .where('indicium_id', '=', indiciumId)
    .orderBy('scanned_at')
    .executeTakeFirst();
  if (scan !== undefined)
    throw new MeterError(
      'meter.piece_used',
      `Indicium ${indiciumId} was scanned by a verifier (${scan.verifier}) at ${scan.scanned_at}: the piece was used, so it cannot be refunded.`,
    );
}

function requestRow(
  id: string,
  indicium: { id: string; meter_id: string; postage_mills: number },
  requester: RefundRequester,
  inForce: RefundPolicyInForce,
  status: RefundRequestStatus,
  now: string,
): RefundRequestsTable {
  return {
    id,
    indicium_id: indicium.id,
    meter_id: indicium.meter_id,
    customer_number: requester.customerNumber,
    account_id: requester.accountId,
    amount_mills: indicium.postage_mills,
    status,
    plan: inForce.plan,
    policy: canonicalJson(inForce.policy),
    requested_at: now,
    decided_at: status === 'pending' ? null : now,
    decided_by: status === 'pending' ? null : `policy:${inForce.policy.kind}`,
    decision_note: null,
    refund_id: null,
  };
}

/**
 * A customer asks to refund one piece, under the policy of their plan. Spoilage cap: refunded at
 * once within the cap (device-signed, `request` carries the signature), recorded as approved.
 * Review window: recorded as pending, nothing credited, staff decide it ({@link decideRefund}).
 *
 * @example await requestRefund(dependencies, 'ind_…', { customerNumber: 100001, accountId }, {});
 */
export async function requestRefund(
  dependencies: RefundRequestDependencies,
  indiciumId: string,
  requester: RefundRequester,
  request: CustomerRequest = {},
): Promise<RefundRequestOutcome> {
  const { db } = dependencies;
  const indicium = await refundablePiece(db, indiciumId);
  const inForce = await refundPolicyFor(dependencies, requester.customerNumber);
  const id = `rfq_${randomUUID()}`;
  const now = new Date().toISOString();
  if (inForce.policy.kind === 'spoilage-cap') {
    const refundId = `refund_${randomUUID()}`;
    const row = { ...requestRow(id, indicium, requester, inForce, 'approved', now), refund_id: refundId };
    const within: RecordsWithinCommit = async (trx, outcome, records) => {
      await trx.insertInto('refund_requests').values(row).execute();
      await request.withinCommit?.(trx, outcome, { ...records, refundRequestId: id });
    };
    const refund = await refundSpoiled(
      dependencies,
      indiciumId,
      { ...request, withinCommit: within },
      { limitBasisPoints: Math.round(inForce.policy.percent * 100), refundId },
    );
    return { request: refundRequestView(row), refund };
  }
  const closesAt = Date.parse(indicium.created_at) + inForce.policy.days * DAY_MS;
  if (Date.now() > closesAt)
    throw new MeterError(
      'meter.refund_window_closed',
      `Indicium ${indiciumId} was printed at ${indicium.created_at}; your plan (${inForce.plan}) refunds unused pieces asked for within ${inForce.policy.days} days of printing, which ended at ${new Date(closesAt).toISOString()}.`,
      { details: { printedAt: indicium.created_at, windowDays: inForce.policy.days } },
    );
  const row = requestRow(id, indicium, requester, inForce, 'pending', now);
  // The unique index on indicium_id settles two requests for one piece sent at once.
  const inserted = await db
    .insertInto('refund_requests')
    .values(row)
    .onConflict((conflict) => conflict.column('indicium_id').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted === undefined)
    throw new MeterError(
      'meter.refund_already_requested',
      `A refund of indicium ${indiciumId} was asked for a moment ago; a piece is refunded at most once.`,
    );
  return { request: refundRequestView(row), refund: null };
}

async function pendingRequest(db: Kysely<DatabaseSchema>, requestId: string): Promise<RefundRequestsTable> {
  const row = await db
    .selectFrom('refund_requests')
    .selectAll()
    .where('id', '=', requestId)
    .executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.refund_request_not_found', `There is no refund request ${requestId}.`);
  if (row.status !== 'pending') throw alreadyDecided(row.id, row.status, row.decided_by);
  return row;
}

function alreadyDecided(id: string, status: string, by: string | null): MeterError {
  return new MeterError(
    'meter.refund_request_decided',
    `Refund request ${id} was already decided (${status}${by === null ? '' : ` by ${by}`}); a decision is final.`,
  );
}

/** Marks a pending request decided, only if nobody decided it meanwhile. */
async function markDecided(
  trx: Kysely<DatabaseSchema>,
  row: RefundRequestsTable,
  decided: { status: 'approved' | 'denied'; by: string; note: string | null; refundId: string | null },
): Promise<RefundRequestsTable> {
  const after = {
    ...row,
    status: decided.status,
    decided_at: new Date().toISOString(),
    decided_by: decided.by,
    decision_note: decided.note,
    refund_id: decided.refundId,
  };
  const updated = await trx
    .updateTable('refund_requests')
    .set({
      status: after.status,
      decided_at: after.decided_at,
      decided_by: after.decided_by,
      decision_note: after.decision_note,
      refund_id: after.refund_id,
    })
    .where('id', '=', row.id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (updated.numUpdatedRows !== 1n) throw alreadyDecided(row.id, 'meanwhile', null);
  return after;
}

/**
 * Staff decide a pending request. Approval credits the piece's postage through the same module
 * command as a spoilage refund (the refund register grows; a pooled customer's balance and client
 * package too), exactly once; denial changes nothing but the request. A piece scanned since it
 * was asked for is used: approving it is refused, deny it instead.
 */
export async function decideRefund(
  dependencies: RefundRequestDependencies,
  requestId: string,
  decision: { approve: boolean; by: string; note: string | null },
  withinDecision?: WithinDecision,
): Promise<{ request: RefundRequestView; refund: RefundResult | null }> {
  const { db } = dependencies;
  const row = await pendingRequest(db, requestId);
  if (!decision.approve) {
    const decided = await db.transaction().execute(async (trx) => {
      const after = refundRequestView(
        await markDecided(trx, row, {
          status: 'denied',
          by: decision.by,
          note: decision.note,
          refundId: null,
        }),
      );
      await withinDecision?.(trx, after, null);
      return after;
    });
    return { request: decided, refund: null };
  }
  await assertUnused(db, row.indicium_id);
  const refundId = `refund_${randomUUID()}`;
  let decided: RefundRequestView | undefined;
  const refund = await refundSpoiled(
    dependencies,
    row.indicium_id,
    {
      receipt: { customerNumber: row.customer_number },
      withinCommit: async (trx, _outcome, records) => {
        decided = refundRequestView(
          await markDecided(trx, row, { status: 'approved', by: decision.by, note: decision.note, refundId }),
        );
        await withinDecision?.(trx, decided, { ...records, refundRequestId: row.id });
      },
    },
    { limitBasisPoints: null, refundId },
  );
  if (decided === undefined) throw alreadyDecided(row.id, 'meanwhile', null);
  if (refund.amount !== row.amount_mills)
    throw new MeterError('meter.request_invalid', `Refund ${refund.id} is not ${formatUsd(refund.amount)}.`);
  return { request: decided, refund };
}

/** Refund requests, newest first: one customer's, or (staff) everyone's, optionally of one status. */
export async function listRefundRequests(
  db: Kysely<DatabaseSchema>,
  filter: {
    customerNumber: number | null;
    status?: RefundRequestStatus | undefined;
    limit: number;
    before?: string | undefined;
  },
): Promise<{ requests: RefundRequestView[]; nextCursor: string | null }> {
  let query = db.selectFrom('refund_requests').selectAll();
  if (filter.customerNumber !== null) query = query.where('customer_number', '=', filter.customerNumber);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.before !== undefined) {
    const [at, id] = filter.before.split('|');
    if (at === undefined || id === undefined)
      throw new MeterError('meter.request_invalid', 'The cursor is not one this list handed out.');
    query = query.where((eb) =>
      eb.or([eb('requested_at', '<', at), eb.and([eb('requested_at', '=', at), eb('id', '<', id)])]),
    );
  }
  const rows = await query
    .orderBy('requested_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit + 1)
    .execute();
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    requests: page.map(refundRequestView),
    nextCursor: rows.length > filter.limit && last !== undefined ? `${last.requested_at}|${last.id}` : null,
  };
}

/** One request; limited to one customer's when `customerNumber` is given. */
export async function refundRequestOf(
  db: Kysely<DatabaseSchema>,
  customerNumber: number | null,
  id: string,
): Promise<RefundRequestView> {
  let query = db.selectFrom('refund_requests').selectAll().where('id', '=', id);
  if (customerNumber !== null) query = query.where('customer_number', '=', customerNumber);
  const row = await query.executeTakeFirst();
  if (row === undefined)
    throw new MeterError('meter.refund_request_not_found', `There is no refund request ${id}.`);
  return refundRequestView(row);
}
