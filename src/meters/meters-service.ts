import type { Kysely } from 'kysely';
import type { AuthorityService } from '../authority/index.ts';
import type { PricingPlans } from '../config/index.ts';
import type { CustodyService } from '../custody/index.ts';
import type { Mills } from '../money/index.ts';
import type { DatabaseSchema, IndiciaTable, MetersTable, RevocationReason } from '../store/index.ts';
import type { ClientAuthorization, EnrollmentRequest, PsdView } from '../vault/index.ts';
import {
  type FundingResult,
  type IssueOptions,
  type IssuedIndicia,
  type IssuedIndicium,
  type PieceRequest,
  type SignedFunding,
  fundMeter,
  meterRecord,
  issueIndicia,
} from './issuance.ts';
import {
  type CustomerRequest,
  type RefundResult,
  correctIndicium,
  refundSpoiled,
  setMeterActive,
  withdrawMeter,
} from './lifecycle.ts';
import { clientPackageId, createClientPackage, hasClientPackage } from './client-packages.ts';
import { type CustomerMeter, dedicatedMeterOf } from './customer-meters.ts';
import {
  type DeviceEnrollment,
  type DeviceRecord,
  deviceOf,
  enrollDevice,
  enrollmentKey,
  listDevices,
  renewDevice,
  revokeDevice,
} from './devices.ts';
import { indiciaOf, indiciumFor } from './indicia-queries.ts';
import {
  type RefundPolicyInForce,
  type RefundRequestOutcome,
  type RefundRequestView,
  type RefundRequester,
  type WithinDecision,
  decideRefund,
  listRefundRequests,
  refundPolicyFor,
  refundRequestOf,
  requestRefund,
  setPricingPlan,
} from './refund-requests.ts';
import type { RefundRequestStatus } from '../store/index.ts';
import { type SignedReceipt, receiptFor } from './receipts.ts';
import { type GeneratedMeter, type NewMeterRequest, generateMeter, replaceMeterKey } from './meter-gen.ts';
import { MeterError } from './meter-error.ts';
import { DEFAULT_METER_SETTINGS, type MeterSettings } from './meter-settings.ts';
import { type IndiciumCheck, type ScanReport, checkIndicium } from './verification.ts';
import {
  type RevenueProtectionReport,
  type ScanFraudPolicy,
  disableMeter,
  listRevenueProtectionReports,
  revokeCertificate,
  verifyScan,
} from './revenue-protection.ts';

export interface MetersDependencies {
  readonly db: Kysely<DatabaseSchema>;
  readonly custody: CustodyService;
  readonly authority: AuthorityService;
  readonly settings?: MeterSettings;
  /** What a duplicate, implausible or unknown scan does; 'disable-meter' unless given. */
  readonly scanFraudPolicy?: ScanFraudPolicy;
}

export interface MeterDetails {
  readonly meter: MetersTable;
  /** Registers and state as the sealed package holds them. */
  readonly psd: PsdView;
}

export interface MetersService {
  create(request: NewMeterRequest): Promise<GeneratedMeter>;
  /** Funds a meter; a customer's request through the API is device-signed and gets a receipt. */
  fund(meterId: string, amount: number, source: string, options?: SignedFunding): Promise<FundingResult>;
  issue(
    meterId: string,
    pieces: readonly PieceRequest[],
    options?: Pick<IssueOptions, 'authorization' | 'receipt' | 'withinCommit' | 'maxPieces'>,
  ): Promise<IssuedIndicia>;
  /** The device-enrollment key clients pin, and its fingerprint. */
  enrollmentKey(): Promise<{ publicKey: Buffer; fingerprint: string }>;
  /** Enrolls one more device for a customer's meter or client package (the signed client protocol). */
  enrollDevice(
    meterId: string,
    request: EnrollmentRequest,
    owner: { accountId: string; name: string },
  ): Promise<DeviceEnrollment>;
  /** The devices a meter's package holds, with each one's challenge chain and life span. */
  devices(meterId: string): Promise<DeviceRecord[]>;
  device(meterId: string, deviceId: string): Promise<DeviceRecord>;
  /** Drops a device's key from the package: the module refuses its requests from now on. */
  revokeDevice(meterId: string, deviceId: string): Promise<DeviceRecord>;
  /** A new key for a device, authorized by a request it signed with its current key. */
  renewDevice(
    meterId: string,
    deviceId: string,
    request: EnrollmentRequest,
    authorization: ClientAuthorization,
  ): Promise<DeviceEnrollment>;
  /** A page of a customer's indicia, newest first. */
  indiciaOf(
    customerNumber: number,
    page: { limit: number; before?: string | undefined },
  ): Promise<{ indicia: IndiciaTable[]; nextCursor: string | null }>;
  /** One indicium; limited to one customer's when `customerNumber` is given. */
  indicium(customerNumber: number | null, id: string): Promise<IndiciaTable>;
  /** A receipt; limited to one customer's when `customerNumber` is given. */
  receipt(customerNumber: number | null, id: string): Promise<SignedReceipt>;
  show(meterId: string): Promise<MeterDetails>;
  /** A verifier's scan: recorded; a fraud-looking one files a report and the policy acts. */
  verify(indicium: Buffer, verifier: string): Promise<ScanReport>;
  /** The public check: genuine or not, what it says, seen by a verifier before or not. Records nothing. */
  check(indicium: Buffer): Promise<IndiciumCheck>;
  /**
   * The issuer's answer to fraud: the meter stops printing (its PSD is suspended) for good and
   * its certificates are revoked; returns the serials revoked.
   */
  disable(meterId: string, reason: string): Promise<string[]>;
  /** Revokes a meter certificate; a meter whose current certificate it is gets suspended. */
  revokeCertificate(
    serial: string,
    reason: RevocationReason,
    note: string | null,
  ): Promise<{ serial: string; meterId: string | null; isMeterSuspended: boolean }>;
  /** Reports for the authority filed by fraud-looking scans, newest first. */
  revenueProtectionReports(page: {
    limit: number;
    before?: string | undefined;
  }): Promise<{ reports: RevenueProtectionReport[]; nextCursor: string | null }>;
  /** Partial refund of a spoiled indicium, within the meter's spoilage share of AR. */
  refundSpoiled(indiciumId: string, request?: CustomerRequest): Promise<RefundResult>;
  /** The configured pricing plans and the default one. */
  pricingPlans(): { plans: PricingPlans; defaultPlan: string };
  /** The pricing plan a customer is on and its refund policy. */
  refundPolicy(customerNumber: number): Promise<RefundPolicyInForce>;
  /** Puts a customer on a configured plan (null: the default plan). */
  setPricingPlan(customerNumber: number, plan: string | null): Promise<RefundPolicyInForce>;
  /** A customer asks to refund a piece: credited at once (spoilage cap) or recorded pending (review). */
  requestRefund(
    indiciumId: string,
    requester: RefundRequester,
    request?: CustomerRequest,
  ): Promise<RefundRequestOutcome>;
  /** Staff approve (credit, exactly once) or deny (nothing moves) a pending refund request. */
  decideRefund(
    requestId: string,
    decision: { approve: boolean; by: string; note: string | null },
    withinDecision?: WithinDecision,
  ): Promise<{ request: RefundRequestView; refund: RefundResult | null }>;
  /** Refund requests, newest first: one customer's, or everyone's (null). */
  refundRequests(filter: {
    customerNumber: number | null;
    status?: RefundRequestStatus | undefined;
    limit: number;
    before?: string | undefined;
  }): Promise<{ requests: RefundRequestView[]; nextCursor: string | null }>;
  refundRequest(customerNumber: number | null, id: string): Promise<RefundRequestView>;
  /** Full refund: returns the DR and closes the meter. */
  withdraw(meterId: string): Promise<RefundResult>;
  suspend(meterId: string): Promise<PsdView>;
  resume(meterId: string): Promise<PsdView>;
  /** A new key and certificate for the meter; the old certificate keeps verifying what it signed. */
  replaceKey(meterId: string): Promise<GeneratedMeter>;
  /** A correction indicium for underpaid postage or a wrong date. */
  correct(
    indiciumId: string,
    correction: { postage?: Mills; mailingDate?: string },
    request?: CustomerRequest,
  ): Promise<IssuedIndicium & { readonly receipt: SignedReceipt | null }>;
  /**
   * What a customer whose licence was granted gets once their e-mail address is confirmed: a
   * dedicated meter of their own (MeterGen), or nothing yet for pooled printing (the balance opens
   * with the first deposit). Calling it again changes nothing.
   */
  provisionCustomer(customer: {
    customerNumber: number;
    meterMode: 'dedicated' | 'pooled';
    licensingZip: string;
  }): Promise<void>;
  /** Whether a pooled customer has a client package (devices, receipts, the mirrored balance). */
  hasClientPackage(customerNumber: number): Promise<boolean>;
  /** A customer's own dedicated meter record (not withdrawn), without opening its package. */
  dedicatedMeterOf(customerNumber: number): Promise<MetersTable | undefined>;
  /** A customer's meter and registers (dedicated) or prefunded balance (pooled). */
  customerMeter(customerNumber: number, meterMode: 'dedicated' | 'pooled'): Promise<CustomerMeter>;
}

/**
 * Meters: MeterGen, funding, issuance (single and batch), verification of scans, disabling.
 *
 * @example const meters = createMetersService({ db, custody, authority });
 */
export function createMetersService(dependencies: MetersDependencies): MetersService {
  const settings = dependencies.settings ?? DEFAULT_METER_SETTINGS;
  const { db, custody, authority } = dependencies;
  const policy = dependencies.scanFraudPolicy ?? 'disable-meter';
  const issuance = { db, custody, settings };
  const refunds = {
    ...issuance,
    spoilageLimitBasisPoints: settings.spoilageLimitBasisPoints,
    pricingPlans: settings.pricingPlans,
    defaultPricingPlan: settings.defaultPricingPlan,
  };
  return {
    create: (request) => generateMeter({ db, custody, authority, settings }, request),
    replaceKey: (meterId) => replaceMeterKey({ db, custody, authority, settings }, meterId),
    fund: (meterId, amount, source, options) => fundMeter(issuance, meterId, amount, source, options),
    issue: (meterId, pieces, options) => issueIndicia(issuance, meterId, pieces, options),
    enrollmentKey: () => enrollmentKey(custody),
    enrollDevice: (meterId, request, owner) =>
      enrollDevice({ db, custody, deviceKeyDays: settings.deviceKeyDays }, meterId, request, owner),
    devices: (meterId) => listDevices({ db, custody }, meterId),
    device: (meterId, deviceId) => deviceOf({ db, custody }, meterId, deviceId),
    revokeDevice: (meterId, deviceId) => revokeDevice({ db, custody }, meterId, deviceId),
    renewDevice: (meterId, deviceId, request, authorization) =>
      renewDevice(
        { db, custody, deviceKeyDays: settings.deviceKeyDays },
        meterId,
        deviceId,
        request,
        authorization,
      ),
    receipt: (customerNumber, id) => receiptFor(db, customerNumber, id),
    indiciaOf: (customerNumber, page) => indiciaOf(db, customerNumber, page),
    indicium: (customerNumber, id) => indiciumFor(db, customerNumber, id),
    async show(meterId) {
      const meter = await meterRecord(db, meterId);
      return { meter, psd: await custody.readMeter(meterId) };
    },
    verify: (indicium, verifier) =>
      verifyScan({ db, custody, authority, policy, timeZone: settings.timeZone }, indicium, verifier),
    check: (indicium) => checkIndicium({ db, authority, timeZone: settings.timeZone }, indicium),
    disable: (meterId, reason) => disableMeter({ db, custody }, meterId, reason),
    revokeCertificate: (serial, reason, note) =>
      revokeCertificate({ db, custody, authority }, serial, reason, note),
    revenueProtectionReports: (page) => listRevenueProtectionReports(db, page),
    refundSpoiled: (indiciumId, request) =>
      refundSpoiled(
        { ...issuance, spoilageLimitBasisPoints: settings.spoilageLimitBasisPoints },
        indiciumId,
        request,
      ),
    pricingPlans: () => ({ plans: settings.pricingPlans, defaultPlan: settings.defaultPricingPlan }),
    refundPolicy: (customerNumber) => refundPolicyFor(refunds, customerNumber),
    setPricingPlan: (customerNumber, plan) => setPricingPlan(refunds, customerNumber, plan),
    requestRefund: (indiciumId, requester, request) => requestRefund(refunds, indiciumId, requester, request),
    decideRefund: (requestId, decision, withinDecision) =>
      decideRefund(refunds, requestId, decision, withinDecision),
    refundRequests: (filter) => listRefundRequests(db, filter),
    refundRequest: (customerNumber, id) => refundRequestOf(db, customerNumber, id),
    withdraw: (meterId) => withdrawMeter(issuance, meterId),
    suspend: (meterId) => setMeterActive(issuance, meterId, false),
    resume: (meterId) => setMeterActive(issuance, meterId, true),
    correct: (indiciumId, correction, request) => correctIndicium(issuance, indiciumId, correction, request),
    async provisionCustomer({ customerNumber, meterMode, licensingZip }) {
      if (meterMode === 'pooled') {
        // No meter of its own: a client package, for its devices and receipts.
        if (!(await hasClientPackage(db, customerNumber)))
          await createClientPackage({ custody, authority, settings }, customerNumber, licensingZip);
        return;
      }
      if ((await dedicatedMeterOf(db, customerNumber)) !== undefined) return;
      await generateMeter(
        { db, custody, authority, settings },
        {
          customerNumber,
          licensingZip,
          maxDescendingRegister: settings.customerMaxDescendingRegister as Mills,
        },
      );
    },
    dedicatedMeterOf: (customerNumber) => dedicatedMeterOf(db, customerNumber),
    hasClientPackage: (customerNumber) => hasClientPackage(db, customerNumber),
    async customerMeter(customerNumber, meterMode) {
      if (meterMode === 'pooled') {
        const row = await db
          .selectFrom('customer_balances')
          .select('balance_mills')
          .where('customer_number', '=', customerNumber)
          .executeTakeFirst();
        const client = (await hasClientPackage(db, customerNumber))
          ? await custody.readMeter(clientPackageId(customerNumber))
          : null;
        return { mode: 'pooled', customerNumber, balance: (row?.balance_mills ?? 0) as Mills, client };
      }
      const meter = await dedicatedMeterOf(db, customerNumber);
      if (meter === undefined)
        throw new MeterError(
          'meter.not_found',
          `Customer ${customerNumber} has no meter yet; it is made once the e-mail address is confirmed.`,
        );
      return { mode: 'dedicated', customerNumber, meter, psd: await custody.readMeter(meter.meter_id) };
    },
  };
}
