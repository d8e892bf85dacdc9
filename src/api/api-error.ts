import { IndiciaError } from '../errors/index.ts';

export type ApiErrorCode =
  | 'request.invalid'
  | 'request.not_found'
  | 'request.unsupported_media_type'
  | 'request.too_large'
  | 'request.unsigned'
  | 'request.conflict'
  | 'request.rate_limited'
  | 'request.idempotency_key_reused'
  | 'service.not_ready'
  | 'internal';

/** Errors about the HTTP request itself rather than the domain. */
export class ApiError extends IndiciaError<ApiErrorCode> {}
