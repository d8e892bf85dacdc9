import type { RefundRequestView } from '../meters/index.ts';

/** A refund request as the API answers it (also rebuilt by an idempotent replay). */
export function refundRequestRecord(view: RefundRequestView) {
  return {
    id: view.id,
    indiciumId: view.indiciumId,
    meterId: view.meterId,
    customerNumber: view.customerNumber,
    amountMills: view.amount,
    status: view.status,
    plan: view.plan,
    policy: view.policy,
    requestedAt: view.requestedAt,
    decidedAt: view.decidedAt,
    decidedBy: view.decidedBy,
    decisionNote: view.decisionNote,
    refundId: view.refundId,
  };
}
