// The API's request and response shapes, as the SDK's users see them. Amounts are integer mills
// (1/1000 dollar) with "Mills" in the field name; times are ISO-8601 UTC strings.

import type { RefundRequest } from './refunds-api.ts';

export type Role = 'customer' | 'support' | 'admin' | 'crypto-officer' | 'auditor' | 'verifier';
export type MeterMode = 'dedicated' | 'pooled';
export type ApiKeyScope =
  | 'meter:read'
  | 'indicia:read'
  | 'indicia:issue'
  | 'indicia:refund'
  | 'funds:add'
  | 'devices:enroll'
  | 'scans:record'
  | 'keys:manage'
  | 'webhooks:manage';

export interface Address {
  line1: string;
  line2?: string;
  city: string;
  state: string;
  zip: string;
}

export interface Registration {
  email: string;
  password: string;
  name: string;
  company?: string;
  phone: string;
  physicalAddress: Address;
  mailingAddress?: Address;
  billingAddress?: Address;
  licensingZip: string;
  postOffice: { name: string; state: string; zip: string };
  meterMode: MeterMode;
  previousMeterNumber?: string;
}

export interface Account {
  id: string;
  email: string;
  name: string;
  role: Role;
  customerNumber: number | null;
  meterMode: MeterMode | null;
  company: string | null;
  emailVerified: boolean;
  createdAt: string;
}

export interface Licence {
  id: string;
  status: 'granted' | 'refused';
  licenceNumber: string | null;
  decision: string;
  filedAt: string;
}

export interface Session {
  id: string;
  expiresAt: string;
  csrfToken: string;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface DedicatedMeter {
  mode: 'dedicated';
  customerNumber: number;
  meterId: string;
  status: string;
  psdState: string;
  licensingZip: string;
  certificateSerial: string;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  maxDescendingRegisterMills: number;
  refundRegisterMills: number;
  deviceEnrolled: boolean;
  challenge: string | null;
}

export interface PooledAccount {
  mode: 'pooled';
  customerNumber: number;
  balanceMills: number;
  /** The client package's registers: postage printed from the balance, and the balance. */
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  deviceEnrolled: boolean;
  challenge: string | null;
}

export type Meter = DedicatedMeter | PooledAccount;

/** One of the meter's enrolled devices (GET /v1/devices): its own challenge chain and key life span. */
export interface DeviceRecord {
  id: string;
  name: string;
  /** The module refuses `expired` and `revoked` devices. */
  status: 'active' | 'expired' | 'revoked';
  enrolledAt: string;
  /** When the current key was sealed: enrollment or the last renewal. */
  keyIssuedAt: string | null;
  expiresAt: string;
  revokedAt: string | null;
  /** The challenge this device signs its next request with. */
  challenge: string | null;
  /** The registers the module reported to this device with that challenge: it signs with these. */
  registers: { ascendingRegisterMills: number; descendingRegisterMills: number };
}

export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
}

export interface Card {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

export interface Registers {
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
}

export interface Receipt {
  id: string;
  body: {
    receiptId: string;
    kind: string;
    customerNumber: number;
    meterId: string;
    sequence: number;
    at: string;
    amountMills: number;
    pieces: number;
    ascendingRegisterMills: number;
    descendingRegisterMills: number;
    reference: string;
  };
  signature: string;
  certificateSerial: string;
}

export interface FundsResult {
  funding: { id: string; amountMills: number };
  payment: { processor: string; last4: string; outcome: 'approved' };
  receipt: Receipt;
  challenge: string;
  registers: Registers;
}

/** A postal address as a label prints it. */
export interface LabelAddress {
  name: string;
  company?: string;
  line1: string;
  line2?: string;
  city: string;
  state: string;
  zip: string;
}

export interface PieceRequest {
  /** The postage; with rateClass, checked against the rate (more is allowed, never less). */
  postageMills?: number;
  /** Needed without rateClass, e.g. FC. */
  rateCategory?: string;
  /** A class of the rate tables: the server rates the piece (GET /v1/rates/tables). */
  rateClass?: string;
  weightOunces?: number;
  /** For classes priced by zone. */
  destinationZip?: string;
  mailingDate?: string;
  originZip?: string;
  /** The delivery address, for envelope and 4×6 labels. */
  to?: LabelAddress;
  /** The return address; your account's mailing address unless given. */
  from?: LabelAddress;
  /** A label of your serialized stock, printable once. */
  labelSerial?: number;
}

export interface Indicium {
  id: string;
  meterId: string;
  /** The barcode's bytes, base64. */
  data: string;
  postageMills: number;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  mailingDate: string;
}

export interface IndiciaResult {
  indicia: Indicium[];
  receipt: Receipt;
  challenge: string;
  registers: Registers;
}

export interface IndiciumRecord {
  id: string;
  meterId: string;
  status: string;
  postageMills: number;
  ascendingRegisterMills: number;
  descendingRegisterMills: number;
  mailingDate: string;
  originZip: string;
  rateCategory: string;
  certificateSerial: string;
  correctsIndiciumId: string | null;
  data: string;
  createdAt: string;
}

export interface RefundResult {
  refund: { id: string; amountMills: number };
  /** The request, recorded as approved by the spoilage-cap policy. */
  refundRequest: RefundRequest;
  receipt: Receipt;
  challenge: string;
  registers: Registers;
}

export interface CorrectionResult {
  indicium: Indicium;
  receipt: Receipt;
  challenge: string;
  registers: Registers;
}

export interface ScanResult {
  outcome: string;
  reason: string | null;
  meterId: string | null;
  indiciumId: string | null;
  /** The report a fraud-looking scan filed for the authority, and what the policy did. */
  report: { id: string; action: string } | null;
}

export type WebhookEventName = 'funds.posted' | 'indicium.issued' | 'refund.decided' | 'balance.low';

export interface Webhook {
  id: string;
  url: string;
  events: WebhookEventName[];
  secretHint: string;
  createdAt: string;
}

export interface WebhookDelivery {
  id: string;
  event: WebhookEventName;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface AdminMeter {
  meterId: string;
  mode: 'dedicated' | 'pooled' | 'master';
  customerNumber: number;
  status: 'active' | 'suspended' | 'withdrawn' | 'disabled';
  licensingZip: string;
  certificateSerial: string;
  maxDescendingRegisterMills: number;
  createdAt: string;
  updatedAt: string;
}

export interface MeterWithRegisters {
  meter: AdminMeter;
  psd: {
    state: string;
    sequence: number;
    ascendingRegisterMills: number;
    descendingRegisterMills: number;
    maxDescendingRegisterMills: number;
    refundRegisterMills: number;
    signingKeyAlgorithm: string;
    signingKeyExpiresAt: string;
    deviceEnrolled: boolean;
    updatedAt: string;
  };
}

/** A server of the installation as the fleet listing shows it (see ModulesStatus.fleet). */
export type FleetServerState = 'live' | 'unresponsive' | 'gone' | 'stopped';

export interface ModulesStatus {
  stopped: { reason: string; since: string } | null;
  inhibitThreshold: number;
  inhibitedModules: number;
  /** Every server of the installation and every module number each claims, from their heartbeats. */
  fleet: {
    leaseSeconds: number;
    servers: {
      serverId: string;
      host: string;
      pid: number;
      port: number | null;
      dataDir: string;
      startedAt: string;
      heartbeatAt: string;
      stoppedAt: string | null;
      state: FleetServerState;
      groupsCommitted: number;
      commandsCommitted: number;
      waitingCommands: number;
    }[];
    modules: {
      moduleNumber: number;
      serverId: string;
      serial: string | null;
      /** The module's state at its last heartbeat, or `gone` / `stopped` with its server. */
      state: string;
      serverState: FleetServerState;
      host: string;
      port: number | null;
      totalOperations: number;
      operationsPerSecond: number;
      load: number;
      heartbeatAt: string | null;
    }[];
  };
  waitingCommands: number;
  modules: {
    serial: string;
    backend: string;
    state: string;
    errorReason: string | null;
    inhibited: { reason: string; since: string; cause: 'database' | 'module' } | null;
    keys: {
      currentMasterKeyVersion: number | null;
      minimumMasterKeyVersion: number;
      masterKeyVersions: number[];
    };
    startedAt: string;
    uptimeSeconds: number;
    totalOperations: number;
    operationsPerSecond: number;
    load: number;
    checkpointRingLength: number;
  }[];
}

export interface Reconciliation {
  at: string;
  isBalanced: boolean;
  /** The protected module log, checked from its start, against the packages. */
  moduleLog: {
    records: number;
    modulesPrintedMills: number;
    packagesPrintedMills: number;
    modulesRefundedMills: number;
    packagesRefundRegisterMills: number;
    differences: string[];
  };
  meters: {
    meterId: string;
    fundedMills: number;
    printedMills: number;
    ascendingRegisterMills: number;
    descendingRegisterMills: number;
    refundRegisterMills: number;
    withdrawnMills: number;
    spoiledMills: number;
    differences: string[];
  }[];
  pools: {
    masterMeterId: string;
    purchasedMills: number;
    masterAscendingRegisterMills: number;
    miniPsdTotalMills: number;
    differences: string[];
  }[];
  customerBalances: number;
  balanceDifferences: string[];
}

/** An address to verify: its parts, or the whole address as one text. */
export type AddressRequest =
  { line1: string; line2?: string; city?: string; state?: string; zip?: string } | { text: string };

export interface VerifiedAddress {
  line1: string;
  line2?: string;
  city: string;
  state: string;
  zip: string;
  kind: 'street' | 'po_box' | 'rural_route' | 'highway_contract' | 'military' | 'general_delivery';
}

export interface AddressVerification {
  status: 'valid' | 'corrected' | 'ambiguous' | 'invalid' | 'unverified';
  address: VerifiedAddress | null;
  /** Best first, each with how it differs from what was given and a score 0–1. */
  candidates: { address: VerifiedAddress; match: string[]; score: number }[];
  messages: string[];
  provider: string;
  /** What the provider does not check. */
  limits: string;
}
