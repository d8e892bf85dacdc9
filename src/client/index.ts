// `indicia/client`: the typed SDK. It imports nothing from the server, so it runs anywhere fetch does.
export { IndiciaApiError } from './api-error.ts';
export { IndiciaClient, type ClientOptions } from './client.ts';
export { Device, IndiciaClientError, canonicalJson, signedText, type StoredDevice } from './device.ts';
export type * from './types.ts';
export {
  PrintingApi,
  type AdText,
  type LabelFormat,
  type LabelLayout,
  type LabelOptions,
  type LabelSheet,
  type MailingList,
  type MailingListField,
  type MailingListRow,
} from './printing-api.ts';
export {
  VerificationApi,
  type IndiciumCheck,
  type IndiciumFields,
  type RevenueProtectionReport,
  type RevocationReason,
} from './verification-api.ts';
export {
  RefundsApi,
  type RefundDecision,
  type RefundPolicy,
  type RefundPolicyInForce,
  type RefundRequest,
  type RefundRequestPage,
} from './refunds-api.ts';
