import type { AccountErrorCode } from '../accounts/index.ts';
import type { AddressErrorCode } from '../addresses/index.ts';
import type { AuditErrorCode } from '../audit/index.ts';
import type { AuthorityErrorCode } from '../authority/index.ts';
import type { ConfigErrorCode } from '../config/index.ts';
import type { CustodyErrorCode } from '../custody/index.ts';
import type { IndiciumErrorCode } from '../indicium/index.ts';
import type { MailErrorCode } from '../mail/index.ts';
import type { PaymentErrorCode } from '../payments/index.ts';
import type { PrintingErrorCode } from '../printing/index.ts';
import type { RateErrorCode } from '../rates/index.ts';
import type { MeterErrorCode } from '../meters/index.ts';
import type { MoneyErrorCode } from '../money/index.ts';
import type { StoreErrorCode } from '../store/index.ts';
import type { VaultErrorCode } from '../vault/index.ts';
import type { WebhookErrorCode } from '../webhooks/index.ts';
import type { ApiErrorCode } from './api-error.ts';

/**
 * Every stable error code a module below the API can raise; adding a module's codes here is
 * compulsory. (`startup.*` codes stop the process before it serves, so they never reach HTTP.)
 */
export type KnownErrorCode =
  | AccountErrorCode
  | AddressErrorCode
  | ApiErrorCode
  | AuditErrorCode
  | AuthorityErrorCode
  | ConfigErrorCode
  | CustodyErrorCode
  | IndiciumErrorCode
  | MailErrorCode
  | PaymentErrorCode
  | PrintingErrorCode
  | RateErrorCode
  | MeterErrorCode
  | MoneyErrorCode
  | StoreErrorCode
  | VaultErrorCode
  | WebhookErrorCode;

export interface ErrorPresentation {
  readonly status: number;
  /**
   * Whether the error's own message may be shown to the client. Internal failures show a generic
   * message instead, so file paths, SQL or key names never leave the server.
   */
  readonly isMessagePublic: boolean;
}

const invalid = { status: 400, isMessagePublic: true } as const;
const hidden = { status: 500, isMessagePublic: false } as const;

/** The one table from error code to HTTP status. `Record` makes a missing code a type error. */
export const errorPresentations: Readonly<Record<KnownErrorCode, ErrorPresentation>> = {
  'request.invalid': invalid,
  'request.not_found': { status: 404, isMessagePublic: true },
  'request.unsupported_media_type': { status: 415, isMessagePublic: true },
  'request.too_large': { status: 413, isMessagePublic: true },
  'request.unsigned': { status: 401, isMessagePublic: true },
  'request.conflict': { status: 409, isMessagePublic: true },
  'request.rate_limited': { status: 429, isMessagePublic: true },
  'account.locked': { status: 429, isMessagePublic: true },
  'account.password_check_required': { status: 403, isMessagePublic: true },
  'request.idempotency_key_reused': { status: 422, isMessagePublic: true },
  'service.not_ready': { status: 503, isMessagePublic: true },
  internal: hidden,
  'money.not_integer': invalid,
  'money.overflow': invalid,
  'money.negative': invalid,
  'money.invalid_amount': invalid,
  'config.invalid': hidden,
  'audit.invalid_chain': hidden,
  'audit.unknown_anchor': hidden,
  'config.unknown_key': hidden,
  'config.file_unreadable': hidden,
  'store.unavailable': { status: 503, isMessagePublic: false },
  'store.schema_newer': hidden,
  'store.migration_failed': hidden,
  'store.integer_out_of_range': hidden,
  'store.conflict': { status: 409, isMessagePublic: true },
  'store.target_not_empty': hidden,
  'store.copy_failed': hidden,
  'store.copy_not_verified': hidden,
  'vault.key_file_invalid': hidden,
  'vault.kek_missing': hidden,
  'vault.backend_unavailable': { status: 503, isMessagePublic: false },
  'vault.error_state': { status: 503, isMessagePublic: false },
  'vault.wrong_state': hidden,
  'vault.role_required': hidden,
  'vault.authentication_failed': { status: 401, isMessagePublic: true },
  'vault.package_invalid': hidden,
  'vault.package_meter_mismatch': hidden,
  'vault.package_stale': hidden,
  // The meter is refused until an operator investigates; the customer hears only that.
  'vault.package_replayed': { status: 503, isMessagePublic: false },
  'vault.key_version_retired': hidden,
  'vault.key_version_unknown': hidden,
  'vault.checkpoint_invalid': hidden,
  'vault.module_inhibited': { status: 503, isMessagePublic: false },
  'vault.service_stopped': {
    status: 503,
    isMessagePublic: true,
  },
  'vault.zeroized': { status: 503, isMessagePublic: true },
  'vault.algorithm_unsupported': invalid,
  'vault.enrollment_invalid': invalid,
  'vault.replay_mismatch': { status: 409, isMessagePublic: true },
  'vault.gap_unsettleable': { status: 409, isMessagePublic: true },
  'psd.no_device': { status: 409, isMessagePublic: true },
  'psd.unknown_device': { status: 401, isMessagePublic: true },
  'psd.device_revoked': { status: 401, isMessagePublic: true },
  'psd.device_expired': { status: 401, isMessagePublic: true },
  'psd.device_required': { status: 401, isMessagePublic: true },
  'psd.device_limit': { status: 409, isMessagePublic: true },
  'psd.client_unauthenticated': { status: 401, isMessagePublic: true },
  'psd.stale_challenge': { status: 409, isMessagePublic: true },
  'psd.register_mismatch': { status: 409, isMessagePublic: true },
  'psd.insufficient_funds': { status: 422, isMessagePublic: true },
  'psd.max_dr_exceeded': { status: 422, isMessagePublic: true },
  'psd.not_active': { status: 409, isMessagePublic: true },
  'psd.invalid_amount': invalid,
  'psd.unbalanced_return': { status: 409, isMessagePublic: true },
  'custody.meter_not_found': { status: 404, isMessagePublic: true },
  'custody.meter_exists': { status: 409, isMessagePublic: true },
  'custody.concurrent_update': { status: 409, isMessagePublic: true },
  'custody.meter_busy': { status: 503, isMessagePublic: true },
  'custody.module_not_found': { status: 404, isMessagePublic: true },
  'custody.module_log_broken': { status: 503, isMessagePublic: false },
  'indicium.field_invalid': invalid,
  'indicium.malformed': invalid,
  'indicium.meter_number_invalid': invalid,
  'authority.request_invalid': invalid,
  'authority.certificate_not_found': { status: 404, isMessagePublic: true },
  'authority.certificate_not_revocable': { status: 409, isMessagePublic: true },
  'authority.certificate_revoked': { status: 409, isMessagePublic: true },
  'authority.rollover_invalid': { status: 409, isMessagePublic: true },
  'authority.signing_failed': hidden,
  'meter.not_found': { status: 404, isMessagePublic: true },
  'meter.not_active': { status: 409, isMessagePublic: true },
  'meter.request_invalid': invalid,
  'meter.mailing_date_invalid': { status: 422, isMessagePublic: true },
  'meter.certificate_invalid': hidden,
  'meter.indicium_not_found': { status: 404, isMessagePublic: true },
  'meter.indicium_not_valid': { status: 409, isMessagePublic: true },
  'meter.refund_limit': { status: 422, isMessagePublic: true },
  'meter.refund_already_requested': { status: 409, isMessagePublic: true },
  'meter.refund_window_closed': { status: 422, isMessagePublic: true },
  'meter.piece_used': { status: 422, isMessagePublic: true },
  'meter.refund_request_not_found': { status: 404, isMessagePublic: true },
  'meter.refund_request_decided': { status: 409, isMessagePublic: true },
  'meter.pricing_plan_unknown': { status: 422, isMessagePublic: true },
  'meter.pool_not_set_up': { status: 409, isMessagePublic: true },
  'meter.pool_empty': { status: 409, isMessagePublic: true },
  'meter.insufficient_balance': { status: 402, isMessagePublic: true },
  'meter.receipt_not_found': { status: 404, isMessagePublic: true },
  'meter.device_not_enrolled': { status: 409, isMessagePublic: true },
  'meter.device_not_found': { status: 404, isMessagePublic: true },
  'account.invalid': invalid,
  'account.email_taken': { status: 409, isMessagePublic: true },
  'account.sign_in_failed': { status: 401, isMessagePublic: true },
  'account.not_verified': { status: 403, isMessagePublic: true },
  'account.token_invalid': invalid,
  'account.unauthenticated': { status: 401, isMessagePublic: true },
  'account.forbidden': { status: 403, isMessagePublic: true },
  'account.csrf_failed': { status: 403, isMessagePublic: true },
  'account.api_key_not_found': { status: 404, isMessagePublic: true },
  'mail.unavailable': { status: 503, isMessagePublic: false },
  'address.invalid': { status: 422, isMessagePublic: true },
  'rate.invalid': { status: 422, isMessagePublic: true },
  'rate.not_found': { status: 404, isMessagePublic: true },
  'rate.table_invalid': { status: 422, isMessagePublic: true },
  'label.serial_unknown': { status: 404, isMessagePublic: true },
  'label.serial_used': { status: 409, isMessagePublic: true },
  'label.sheet_unknown': { status: 404, isMessagePublic: true },
  'label.sheet_exhausted': { status: 409, isMessagePublic: true },
  'label.address_missing': { status: 422, isMessagePublic: true },
  'label.ad_unknown': { status: 404, isMessagePublic: true },
  'label.ad_invalid': { status: 422, isMessagePublic: true },
  'mailing_list.invalid': { status: 422, isMessagePublic: true },
  'mailing_list.not_found': { status: 404, isMessagePublic: true },
  'mailing_list.has_errors': { status: 422, isMessagePublic: true },
  'mailing_list.changed': { status: 409, isMessagePublic: true },
  'mailing_list.not_in_review': { status: 409, isMessagePublic: true },
  'mailing_list.not_printed': { status: 409, isMessagePublic: true },
  'webhook.invalid': invalid,
  'webhook.not_found': { status: 404, isMessagePublic: true },
  'payment.card_invalid': invalid,
  'payment.declined': { status: 402, isMessagePublic: true },
  'payment.failed': { status: 502, isMessagePublic: true },
};

export const GENERIC_MESSAGES: Readonly<Record<number, string>> = {
  500: 'Something went wrong on our side. Nothing was changed; quote the request id if you contact support.',
  503: 'The service is temporarily unavailable. Try again in a moment.',
};

export function presentationFor(code: string): ErrorPresentation {
  return (errorPresentations as Readonly<Record<string, ErrorPresentation>>)[code] ?? hidden;
}
