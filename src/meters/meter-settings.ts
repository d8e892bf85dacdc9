import { DEFAULT_PRICING_PLAN, DEFAULT_PRICING_PLANS, type PricingPlans } from '../config/index.ts';

/** What the postal authority assigned this vendor, and how long keys and certificates live. */
export interface MeterSettings {
  /** Two characters assigned to the vendor by the postal authority. */
  readonly manufacturerId: string;
  /** Model id of dedicated meters: a digit and a letter. */
  readonly dedicatedModelId: string;
  /** The Indicia software release printed in every indicium. */
  readonly softwareId: number;
  readonly keyValidityDays: number;
  /** How long a device key (HMK) lives from its enrollment or renewal; the module then refuses it. */
  readonly deviceKeyDays: number;
  /** Spoilage refunds of a meter may total at most this share of its AR, in basis points (100 = 1%). */
  readonly spoilageLimitBasisPoints: number;
  /** The max DR of the dedicated meter a new customer gets on confirming their e-mail address. */
  readonly customerMaxDescendingRegister: number;
  /** Days after today a meter may print for (postdated mail); see docs/operations.md. */
  readonly mailingDateDaysAhead: number;
  /** The IANA time zone whose calendar date is a meter's "today". */
  readonly timeZone: string;
  /** The installation's pricing plans, each with its refund policy, and the plan customers get. */
  readonly pricingPlans: PricingPlans;
  readonly defaultPricingPlan: string;
}

export const DEFAULT_METER_SETTINGS: MeterSettings = {
  manufacturerId: '42',
  dedicatedModelId: '1D',
  softwareId: 1,
  keyValidityDays: 3 * 365,
  deviceKeyDays: 365,
  spoilageLimitBasisPoints: 100,
  customerMaxDescendingRegister: 5_000_000, // $5,000.00
  mailingDateDaysAhead: 3,
  timeZone: 'UTC',
  pricingPlans: DEFAULT_PRICING_PLANS,
  defaultPricingPlan: DEFAULT_PRICING_PLAN,
};
