import type { IndiciaClient } from './client.ts';

/** How refunds are decided on a pricing plan (docs/api.md, "Refunds"). */
export type RefundPolicy =
  { kind: 'spoilage-cap'; percent: number } | { kind: 'review-window'; days: number };

/** A customer's request to refund one piece, and what became of it. */
export interface RefundRequest {
  id: string;
  indiciumId: string;
  meterId: string;
  customerNumber: number;
  amountMills: number;
  status: 'pending' | 'approved' | 'denied';
  plan: string;
  policy: RefundPolicy;
  requestedAt: string;
  decidedAt: string | null;
  /** The staff member, or `policy:spoilage-cap` when credited at once. */
  decidedBy: string | null;
  decisionNote: string | null;
  refundId: string | null;
}

export interface RefundPolicyInForce {
  plan: string;
  isDefaultPlan: boolean;
  policy: RefundPolicy;
  description: string;
}

export interface RefundRequestPage {
  refundRequests: RefundRequest[];
  nextCursor: string | null;
}

export interface RefundDecision {
  refundRequest: RefundRequest;
  refund: { id: string; amountMills: number; receiptId: string | null } | null;
}

type PageQuery = { status?: RefundRequest['status']; limit?: number; cursor?: string };

function query(page: PageQuery): string {
  const search = new URLSearchParams();
  if (page.status !== undefined) search.set('status', page.status);
  if (page.limit !== undefined) search.set('limit', String(page.limit));
  if (page.cursor !== undefined) search.set('cursor', page.cursor);
  return search.size === 0 ? '' : `?${search.toString()}`;
}

/**
 * Refund policies and requests. Asking for a refund is `client.refundIndicium(id)`.
 *
 * @example
 * const { policy } = await client.refunds.policy();
 * const pending = await staff.refunds.list({ status: 'pending' });
 * await staff.refunds.decide(pending.refundRequests[0].id, 'approve');
 */
export class RefundsApi {
  readonly #client: IndiciaClient;

  constructor(client: IndiciaClient) {
    this.#client = client;
  }

  /** The refund policy of your pricing plan. */
  policy(): Promise<RefundPolicyInForce> {
    return this.#client.request('GET', '/v1/refund-policy');
  }

  /** Your refund requests, newest first. */
  mine(page: PageQuery = {}): Promise<RefundRequestPage> {
    return this.#client.request('GET', `/v1/refund-requests${query(page)}`);
  }

  get(id: string): Promise<RefundRequest> {
    return this.#client.request('GET', `/v1/refund-requests/${encodeURIComponent(id)}`);
  }

  /** Staff: every customer's requests; `{ status: 'pending' }` is the review queue. */
  list(page: PageQuery = {}): Promise<RefundRequestPage> {
    return this.#client.request('GET', `/v1/admin/refund-requests${query(page)}`);
  }

  /** Staff (admin, support): approve (credits the postage once) or deny (moves nothing). */
  decide(id: string, decision: 'approve' | 'deny', note?: string): Promise<RefundDecision> {
    return this.#client.request(
      'POST',
      `/v1/admin/refund-requests/${encodeURIComponent(id)}/decision`,
      note === undefined ? { decision } : { decision, note },
    );
  }

  /** Staff: the configured plans and the default one. */
  pricingPlans(): Promise<{ defaultPlan: string; plans: { name: string; refundPolicy: RefundPolicy }[] }> {
    return this.#client.request('GET', '/v1/admin/pricing-plans');
  }

  /** Admin: puts a customer on a plan (null: the default plan). */
  setPlan(customerNumber: number, plan: string | null): Promise<RefundPolicyInForce> {
    return this.#client.request('PUT', `/v1/admin/customers/${customerNumber}/pricing-plan`, { plan });
  }
}
