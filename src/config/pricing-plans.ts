/**
 * Pricing plans: named sets of terms an operator offers; for now each carries its refund policy.
 * A customer is on the default plan unless an operator puts them on another.
 */

/**
 * How a customer's refund of a printed piece is decided.
 * - `spoilage-cap` (the seed's rule): credited at once, while the refunds stay within `percent` of
 *   the value printed (the meter's AR; a pooled customer's printing).
 * - `review-window` (EasyPost, Shippo, Stamps.com): any unused piece, asked for within `days` of
 *   printing, is recorded as pending and credited only when staff approve it.
 */
export type RefundPolicy =
  | { readonly kind: 'spoilage-cap'; readonly percent: number }
  | { readonly kind: 'review-window'; readonly days: number };

export interface PricingPlan {
  readonly refundPolicy: RefundPolicy;
}

export type PricingPlans = Readonly<Record<string, PricingPlan>>;

/** The plans an installation has unless configured: the peers' review window, and the seed's cap. */
export const DEFAULT_PRICING_PLANS: PricingPlans = {
  standard: { refundPolicy: { kind: 'review-window', days: 60 } },
  'spoilage-cap': { refundPolicy: { kind: 'spoilage-cap', percent: 1 } },
};

export const DEFAULT_PRICING_PLAN = 'standard';

const PLAN_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const EXAMPLE =
  '{"standard":{"refundPolicy":{"kind":"review-window","days":60}},"legacy":{"refundPolicy":{"kind":"spoilage-cap","percent":1}}}';

function policyOf(raw: unknown, name: string): RefundPolicy | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return `plan "${name}" needs a refundPolicy object`;
  const policy = raw as Record<string, unknown>;
  const keys = Object.keys(policy).sort().join(',');
  if (policy['kind'] === 'spoilage-cap') {
    const percent = policy['percent'];
    if (
      keys !== 'kind,percent' ||
      typeof percent !== 'number' ||
      !(percent > 0 && percent <= 100) ||
      Math.round(percent * 100) !== percent * 100
    )
      return `plan "${name}": a spoilage-cap policy is {"kind":"spoilage-cap","percent":P}, P above 0 and at most 100, in hundredths at most`;
    return { kind: 'spoilage-cap', percent };
  }
  if (policy['kind'] === 'review-window') {
    const days = policy['days'];
    if (
      keys !== 'days,kind' ||
      typeof days !== 'number' ||
      !Number.isInteger(days) ||
      days < 1 ||
      days > 3650
    )
      return `plan "${name}": a review-window policy is {"kind":"review-window","days":D}, D a whole number from 1 to 3650`;
    return { kind: 'review-window', days };
  }
  return `plan "${name}": refundPolicy.kind must be spoilage-cap or review-window`;
}

/** Parses the pricingPlans setting (an object, or its JSON text); a phrase says what is wrong. */
export function parsePricingPlans(raw: unknown): PricingPlans | { problem: string } {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { problem: `must be JSON naming each plan and its refund policy, like ${EXAMPLE}` };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0)
    return { problem: `must name at least one plan and its refund policy, like ${EXAMPLE}` };
  const plans: Record<string, PricingPlan> = {};
  for (const [name, plan] of Object.entries(value as Record<string, unknown>)) {
    if (!PLAN_NAME.test(name))
      return {
        problem: `has a plan named "${name}": names are lowercase letters, digits and dashes, up to 40`,
      };
    if (
      typeof plan !== 'object' ||
      plan === null ||
      Array.isArray(plan) ||
      Object.keys(plan).join(',') !== 'refundPolicy'
    )
      return { problem: `plan "${name}" must be {"refundPolicy": {...}} and nothing else` };
    const policy = policyOf((plan as Record<string, unknown>)['refundPolicy'], name);
    if (typeof policy === 'string') return { problem: `is wrong: ${policy}` };
    plans[name] = { refundPolicy: policy };
  }
  return plans;
}

/** The policy's terms in one sentence, for answers and the docs. */
export function describeRefundPolicy(policy: RefundPolicy): string {
  return policy.kind === 'spoilage-cap'
    ? `Refunds are credited at once while your refunds stay within ${policy.percent}% of the postage you printed.`
    : `Any unused piece can be refunded within ${policy.days} days of printing; each request is reviewed by staff before it is credited.`;
}
