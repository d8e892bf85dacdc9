/**
 * Tables as the application sees them, identical on SQLite and PostgreSQL.
 * Conventions (both dialects): amounts are BIGINT mills read back as safe-integer numbers,
 * timestamps are ISO-8601 UTC text, identifiers are text.
 */
import type { Generated } from 'kysely';

export interface DatabaseSchema {
  accounts: AccountsTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  account_tokens: AccountTokensTable;
  licence_applications: LicenceApplicationsTable;
  devices: DevicesTable;
  receipts: ReceiptsTable;
  card_payments: CardPaymentsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  known_devices: KnownDevicesTable;
  installation: InstallationTable;
  crypto_modules: CryptoModulesTable;
  servers: ServersTable;
  module_claims: ModuleClaimsTable;
  installation_keys: InstallationKeysTable;
  module_log: ModuleLogTable;
  log_shipments: LogShipmentsTable;
  job_leases: JobLeasesTable;
  job_runs: JobRunsTable;
  recovery_gaps: RecoveryGapsTable;
  psd_packages: PsdPackagesTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
  audit_anchors: AuditAnchorsTable;
  certificates: CertificatesTable;
  number_allocators: NumberAllocatorsTable;
  meters: MetersTable;
  meter_fundings: MeterFundingsTable;
  indicia: IndiciaTable;
  scans: ScansTable;
  revenue_protection_reports: RevenueProtectionReportsTable;
  refunds: RefundsTable;
  refund_requests: RefundRequestsTable;
  pool_transfers: PoolTransfersTable;
  customer_balances: CustomerBalancesTable;
  balance_entries: BalanceEntriesTable;
  mpsd_checkouts: MpsdCheckoutsTable;
  piece_addresses: PieceAddressesTable;
  label_sheets: LabelSheetsTable;
  sheet_labels: SheetLabelsTable;
  mailing_lists: MailingListsTable;
  ad_texts: AdTextsTable;
  mailing_list_rows: MailingListRowsTable;
}

/** The addresses printed on a piece's envelope or label (JSON), stored with its indicium. */
export interface PieceAddressesTable {
  indicium_id: string;
  from_address: string | null;
  to_address: string | null;
  list_id: string | null;
  row_number: number | null;
}

/** A sheet of serialized stamp labels, owned by one account. */
export interface LabelSheetsTable {
  serial: number;
  account_id: string;
  created_at: string;
}

export type SheetLabelState = 'valid' | 'reserved' | 'used';

/** One numbered label of a sheet: printable once. */
export interface SheetLabelsTable {
  label_serial: number;
  sheet_serial: number;
  position: number;
  state: SheetLabelState;
  indicium_id: string | null;
  used_at: string | null;
}

export type MailingListState = 'review' | 'printing' | 'rendering' | 'printed';

/** An imported mailing list: reviewed, then printed in one batch issuance and one PDF. */
export interface MailingListsTable {
  id: string;
  account_id: string;
  name: string;
  state: MailingListState;
  row_count: number;
  error_count: number;
  total_postage_mills: number;
  /** SHA-256 over the canonical pieces: what the device signs when it prints the list. */
  digest: string;
  layout: string | null;
  ad_text_id: string | null;
  pages_done: number;
  receipt_id: string | null;
  failure: string | null;
  created_at: string;
  printed_at: string | null;
}

/** Ad text an operator approved for envelopes (JSON array of up to three lines). */
export interface AdTextsTable {
  id: string;
  lines: string;
  approved_by: string;
  created_at: string;
  withdrawn_at: string | null;
}

/** A row of a mailing list: its checked piece (JSON) or its errors (JSON). */
export interface MailingListRowsTable {
  list_id: string;
  row_number: number;
  piece: string | null;
  errors: string | null;
}

/**
 * The master PSD funding a mini-PSD: the master's AR grows, the mini-PSD's DR grows, in one commit.
 * A negative amount is a withdrawn mini-PSD's DR going back to the master (its AR shrinks, DR grows).
 */
export interface PoolTransfersTable {
  id: string;
  master_meter_id: string;
  meter_id: string;
  amount_mills: number;
  master_sequence: number;
  package_sequence: number;
  created_at: string;
}

/** A pooled-mode customer's prefunded balance: always the sum of its ledger entries. */
export interface CustomerBalancesTable {
  customer_number: number;
  balance_mills: number;
  updated_at: string;
}

export type BalanceEntryKind = 'deposit' | 'postage' | 'refund';

/** One movement of a customer's balance: deposits and refunds positive, postage negative. */
export interface BalanceEntriesTable {
  id: string;
  customer_number: number;
  kind: BalanceEntryKind;
  amount_mills: number;
  /** The payment, indicium or refund behind it. */
  reference: string;
  created_at: string;
}

/** A mini-PSD checked out by one server (holder) for exclusive use. */
export interface MpsdCheckoutsTable {
  meter_id: string;
  holder: string;
  checked_out_at: string;
}

export type RefundKind = 'spoilage' | 'withdrawal';

/** Money returned to a customer: a spoiled indicium's postage, or a withdrawn meter's DR. */
export interface RefundsTable {
  id: string;
  meter_id: string;
  indicium_id: string | null;
  kind: RefundKind;
  amount_mills: number;
  package_sequence: number;
  created_at: string;
}

export type RefundRequestStatus = 'pending' | 'approved' | 'denied';

/** A customer's request to refund one piece: pending until decided (0015). */
export interface RefundRequestsTable {
  id: string;
  indicium_id: string;
  meter_id: string;
  customer_number: number;
  account_id: string | null;
  amount_mills: number;
  status: RefundRequestStatus;
  /** The pricing plan the customer was on, and its refund policy (canonical JSON), when asked. */
  plan: string;
  policy: string;
  requested_at: string;
  decided_at: string | null;
  /** The staff account's e-mail address, or `policy:spoilage-cap` for a refund decided at once. */
  decided_by: string | null;
  decision_note: string | null;
  /** The refund an approval credited. */
  refund_id: string | null;
}

/** One row per counter (`allocateNumber`): the number it hands out next. */
export interface NumberAllocatorsTable {
  name: string;
  next_number: number;
}

export type MeterMode = 'dedicated' | 'pooled' | 'master';
export type MeterStatus = 'active' | 'suspended' | 'withdrawn' | 'disabled';

/** A meter; its registers live only in its sealed package (psd_packages). */
export interface MetersTable {
  meter_id: string;
  mode: MeterMode;
  customer_number: number;
  status: MeterStatus;
  licensing_zip: string;
  certificate_serial: string;
  max_descending_register_mills: number;
  created_at: string;
  updated_at: string;
}

/** One postage value download into a meter. */
export interface MeterFundingsTable {
  id: string;
  meter_id: string;
  amount_mills: number;
  source: string;
  package_sequence: number;
  created_at: string;
}

export type IndiciumStatus = 'valid' | 'refunded' | 'corrected';

/** The indicium log: every indicium issued, with its bytes (base64), committed before release. */
export interface IndiciaTable {
  id: string;
  meter_id: string;
  package_sequence: number;
  certificate_serial: string;
  postage_mills: number;
  ascending_register_mills: number;
  descending_register_mills: number;
  mailing_date: string;
  origin_zip: string;
  rate_category: string;
  label_serial: number;
  status: IndiciumStatus;
  data: string;
  created_at: string;
  /** Set on a correction indicium: the one it corrects. */
  corrects_indicium_id: string | null;
  /** The customer the indicium was issued for (a pooled mini-PSD prints for many). */
  customer_number: number | null;
}

export type ScanOutcome =
  | 'valid'
  | 'duplicate'
  | 'unknown_indicium'
  /** Genuine, printed after the last shipped log record; a restore listed it (recovery_gaps). */
  | 'recovery_gap'
  | 'bad_signature'
  | 'bad_certificate'
  | 'implausible'
  | 'malformed';

/** What verifiers (postal scanners, gate scanners) saw. */
export interface ScansTable {
  id: string;
  indicium_id: string | null;
  meter_id: string | null;
  verifier: string;
  outcome: ScanOutcome;
  reason: string | null;
  scanned_at: string;
}

/** RFC 5280 CRLReason names (kebab-case) a revocation carries. */
export type RevocationReason =
  | 'unspecified'
  | 'key-compromise'
  | 'affiliation-changed'
  | 'superseded'
  | 'cessation-of-operation'
  | 'certificate-hold'
  | 'privilege-withdrawn';

/**
 * Certificates issued by the authority component: a CA generation's self-signed certificate
 * ('ca'), a newer CA key certified by the one before it ('ca-cross'), or a meter's. Serials are hex.
 */
export interface CertificatesTable {
  serial: string;
  kind: 'ca' | 'ca-cross' | 'meter';
  meter_id: string | null;
  subject: string;
  pem: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  revoked_at: string | null;
  revocation_reason: RevocationReason | null;
  revocation_note: string | null;
  /** CA rows: the sealed package holding that CA key (AUTHORITY-CA-<generation>). */
  key_package_id: string | null;
  /** Meter and cross certificates: the CA certificate whose key signed this one. */
  issuer_serial: string | null;
}

/** What a scan that looked like fraud did, by policy. */
export type RevenueProtectionAction =
  | 'meter_disabled'
  | 'already_inactive'
  | 'reported_only'
  | 'pooled_reported_only'
  | 'no_meter'
  | 'disable_failed';

/** A report for the postal authority, filed by a duplicate, implausible or unknown scan. */
export interface RevenueProtectionReportsTable {
  id: string;
  scan_id: string;
  outcome: ScanOutcome;
  reason: string;
  meter_id: string | null;
  indicium_id: string | null;
  customer_number: number | null;
  verifier: string;
  /** The policy in force: 'disable-meter' or 'report-only'. */
  policy: string;
  action: RevenueProtectionAction;
  action_detail: string | null;
  created_at: string;
}

/**
 * The module table: every module of the installation (each registers when it opens), its latest
 * checkpoint, MACed by the module (base64), and its inhibition, which every process counts.
 */
/** A data directory that ran `indicia serve` on this database (fleet/), with its latest heartbeat. */
export interface ServersTable {
  server_id: string;
  host: string;
  pid: number;
  port: number | null;
  data_dir: string;
  /** Random per start: tells this run from an earlier one of the same server (same pid in tests). */
  instance: string;
  started_at: string;
  heartbeat_at: string;
  /** Set by a clean shutdown; null while it runs or after it died. */
  stopped_at: string | null;
  groups_committed: number;
  commands_committed: number;
  waiting_commands: number;
}

/** A module number and the server that drives it, for good (its ring lives in that data directory). */
export interface ModuleClaimsTable {
  module_number: number;
  server_id: string;
  claimed_at: string;
  /** What the module's last heartbeat said: its serial, state and load. */
  serial: string | null;
  state: string | null;
  total_operations: number;
  /** Operations per second × 1000, and load (busy share) × 1000: integers, exact on both dialects. */
  operations_per_kilosecond: number;
  load_per_mille: number;
  heartbeat_at: string | null;
}

/** The fingerprint of the keys every module of the installation shares (one row, id 1). */
export interface InstallationKeysTable {
  id: number;
  backend: string;
  fingerprint: string;
  recorded_at: string;
  recorded_by: string;
}

export interface CryptoModulesTable {
  serial: string;
  backend: string;
  checkpoint: string | null;
  updated_at: string;
  /** Its number in the backend: server modules 1..N, the operator's 100 (null: not known yet). */
  module_number: number | null;
  inhibited_reason: string | null;
  /** `database` (the database lost what it committed) or `module` (its own memory is damaged). */
  inhibited_cause: string | null;
  inhibited_at: string | null;
  /** When the installation's keys were zeroized while this serial was in use: it is retired. */
  zeroized_at: string | null;
}

/** The protected module log: every committed checkpoint record of every module, in its chain. */
export interface ModuleLogTable {
  module_serial: string;
  counter: number;
  /** SHA-256 (hex) of the record before it in the module's chain; null at the chain's start. */
  previous_digest: string | null;
  digest: string;
  /** The sealed record (base64), MACed by the module under its checkpoint key. */
  sealed: string;
  recorded_at: string;
  /** JSON [{ meterId, sequence, sealed }]: each package version the record made, sealed (0017). */
  packages: string | null;
  /** JSON [{ sql, parameters }]: the rows the same commit wrote, as their statements (0017). */
  statements: string | null;
}

/** One shipment of the protected log to the archive (log-shipping). */
export interface LogShipmentsTable {
  sequence: number;
  file: string;
  records: number;
  digest: string;
  /** JSON: module serial → the newest counter shipped so far. */
  through: string;
  shipped_at: string;
}

/** Which server runs a timed job, until when (it renews the lease while it runs). */
export interface JobLeasesTable {
  job: string;
  holder: string | null;
  acquired_at: string | null;
  expires_at: string | null;
}

export type JobRunOutcome = 'running' | 'succeeded' | 'failed' | 'abandoned';
export type JobRunTrigger = 'timer' | 'manual' | 'shutdown';

/** One run of a timed job: unique per job and period, so a period runs once in the farm. */
export interface JobRunsTable {
  id: string;
  job: string;
  period: string | null;
  holder: string;
  trigger: JobRunTrigger;
  started_at: string;
  finished_at: string | null;
  outcome: JobRunOutcome;
  details: string | null;
}

/** What a restore could not bring back: a module's transactions after the last shipped record. */
export interface RecoveryGapsTable {
  id: string;
  restored_at: string;
  module_serial: string;
  /** Null for records the module no longer remembered (their contents are unknown). */
  meter_id: string | null;
  counter: number;
  type: string | null;
  amount_mills: number | null;
  ascending_register_mills: number | null;
  descending_register_mills: number | null;
  package_sequence: number | null;
  recorded_at: string | null;
  /** `settled`: the modules' memory brought the meter level; `open`: the restore could not. */
  status: 'settled' | 'open';
}

/** One sealed PSD package per meter (base64); `sequence` is compared-and-swapped on every change. */
export interface PsdPackagesTable {
  meter_id: string;
  sequence: number;
  key_version: number;
  sealed: string;
  created_at: string;
  updated_at: string;
}

/** The audit log: each event's hash covers the previous event's hash, so any change shows. */
/** One event of one audit chain (0018: every chain numbers its own events from 1). */
export interface AuditEventsTable {
  chain: string;
  sequence: number;
  at: string;
  kind: string;
  module_serial: string | null;
  meter_id: string | null;
  /** Canonical JSON. */
  details: string;
  previous_hash: string;
  hash: string;
}

/** One row per audit chain: its last sequence and hash. Appending locks only its own chain's row. */
export interface AuditHeadsTable {
  chain: string;
  sequence: number;
  hash: string;
}

/**
 * The root chain: each anchor names every audit chain's head and the digest of the anchor before,
 * MACed inside a crypto module (`mac`, base64) under a key the database never sees.
 */
export interface AuditAnchorsTable {
  sequence: number;
  anchored_at: string;
  /** The anchor record exactly as MACed: canonical JSON. */
  record: string;
  /** SHA-256 (hex) of `record`: what the next anchor names as its previous. */
  digest: string;
  mac: string;
  /** The module that made the MAC (any module of the installation verifies it: they share the key). */
  module_serial: string;
}

/** The accounts.role check allows these (0001; 'verifier', who records scans, since 0014). */
export type AccountRole = 'customer' | 'support' | 'admin' | 'crypto-officer' | 'auditor' | 'verifier';

export interface AccountsTable {
  id: string;
  email: string;
  display_name: string;
  role: AccountRole;
  /** PHC-format argon2id hash; never the password. */
  password_hash: string;
  created_at: string;
  /** Customers only: the number meters and balances carry. */
  customer_number: Generated<number | null>;
  meter_mode: Generated<'dedicated' | 'pooled' | null>;
  company: Generated<string | null>;
  phone: Generated<string | null>;
  /** Canonical JSON: addresses, licensing ZIP, post office of mailing. */
  profile: Generated<string | null>;
  email_verified_at: Generated<string | null>;
  failed_sign_ins: Generated<number>;
  locked_until: Generated<string | null>;
  password_changed_at: Generated<string | null>;
  /** The pricing plan an operator put the customer on; null: the installation's default (0015). */
  pricing_plan: Generated<string | null>;
}

/** A browser session: the cookie's token and the CSRF token, both stored as SHA-256 hashes. */
export interface SessionsTable {
  token_hash: string;
  id: string;
  account_id: string;
  csrf_hash: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  ended_at: string | null;
  /** Pieces printed since the password was last checked: past the limit, printing waits for a check. */
  pieces_since_check: Generated<number>;
}

/** An integration's bearer key: `ik_<id>_<secret>`, the secret stored as a SHA-256 hash. */
export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string;
  /** JSON array of scope names. */
  scopes: string;
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A one-time token sent by e-mail (verification, password reset), stored as a SHA-256 hash. */
export interface AccountTokensTable {
  token_hash: string;
  account_id: string;
  purpose: 'email-verification' | 'password-reset';
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** A customer's licence application and the authority's decision. */
export interface LicenceApplicationsTable {
  id: string;
  account_id: string;
  meter_mode: 'dedicated' | 'pooled';
  status: 'granted' | 'refused';
  licence_number: string | null;
  /** Canonical JSON of what was filed. */
  application: string;
  /** Why the authority decided as it did, for the customer. */
  decision: string;
  filed_at: string;
  decided_at: string | null;
}

/** Facts about this installation (first start time and the like), one row per key. */
export interface InstallationTable {
  key: string;
  value: string;
  updated_at: string;
}

/** A device enrolled in the signed client protocol; the meter's package holds its HMK. */
export interface DevicesTable {
  id: string;
  account_id: string;
  meter_id: string;
  name: string;
  enrolled_at: string;
  /** Set when another device enrolled for the meter (one HMK per meter). */
  replaced_at: string | null;
}

/** A signed receipt for one value-moving request. */
export interface ReceiptsTable {
  id: string;
  customer_number: number;
  meter_id: string;
  kind: string;
  sequence: number;
  /** Canonical JSON of the receipt, exactly as signed. */
  body: string;
  /** base64 of the meter key's signature over "indicia/receipt/v1\n" + body. */
  signature: string;
  certificate_serial: string;
  created_at: string;
}

/** One card payment attempt through a processor, approved or not. */
export interface CardPaymentsTable {
  id: string;
  account_id: string;
  /** `sandbox` until a real processor is configured. */
  processor: string;
  amount_mills: number;
  card_last4: string;
  outcome: 'approved' | 'declined' | 'failed';
  processor_reference: string | null;
  message: string;
  created_at: string;
}

/** The first result of a POST sent with an Idempotency-Key, replayed for the same key. */
export interface IdempotencyKeysTable {
  /** Whose key: an account id, or `public` for routes without sign-in. */
  scope: string;
  key: string;
  /** SHA-256 of method, path and canonical body: the same key with other parameters is refused. */
  request_hash: string;
  /** `committed`: a value-moving request's effect is durable, its answer not yet stored. */
  status: 'in_progress' | 'committed' | 'done';
  response_status: number | null;
  response_body: string | null;
  created_at: string;
  /** The process running the request: `host:pid:boot nonce` (null on rows older than 0016). */
  owner: string | null;
  /** Until when the owner holds the key; it refreshes this while the request runs. */
  lease_expires_at: string | null;
  /** JSON of what a value-moving request committed, written in its own transaction. */
  effect: string | null;
}

export type WebhookEvent = 'funds.posted' | 'indicium.issued' | 'refund.decided' | 'balance.low';

export interface WebhookSubscriptionsTable {
  id: string;
  account_id: string;
  url: string;
  /** JSON array of WebhookEvent. */
  events: string;
  /** The last characters of the signing secret; the secret itself is derived by a module, never stored. */
  secret_hint: string;
  created_at: string;
  deleted_at: string | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  subscription_id: string;
  event: WebhookEvent;
  /** The JSON body delivered. */
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

/** A browser or client that signed in successfully: its cookie token, stored as a SHA-256 hash. */
export interface KnownDevicesTable {
  token_hash: string;
  account_id: string;
  created_at: string;
  last_used_at: string;
}
